"""``python -m dedup run ...`` / ``python -m dedup clean-html ...``."""
import sys

from dedup.cli import main

sys.exit(main())
