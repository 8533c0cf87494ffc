"""``python -m ingest …`` = ``haybale ingest …`` (used by ``ray job submit``)."""
import sys

from ingest.cli import main

sys.exit(main(sys.argv[1:]))
