import sys

from haybale.cli import main

sys.exit(main())
