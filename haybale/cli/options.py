"""Options shared by the ``haybale`` subcommands."""
from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=None,
                        help="deployment root (dir or URL) holding catalog and volumes "
                             "(default: $HAYBALE_ROOT or ./haybale-data)")
    parser.add_argument("--catalog-dir", default=None,
                        help="local directory of the catalog (default: ROOT/catalog; required for remote roots)")


def add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-id", default="", help="name of this run; rerun with the same id to resume "
                                               "after a crash (default: a new id)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a "
                                                   "local Ray started for this command)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
