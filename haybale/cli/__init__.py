"""The ``haybale`` command: one subcommand group per package.

Errors from any package are printed as one line naming the bad input and what to do, with exit
status 2; ``HAYBALE_DEBUG=1`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys

from haybale import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="haybale",
        description="Data ingestion and dedup for model training: packed WARC volumes, a sharded "
                    "RocksDB catalog, Ray ingest jobs and MinHash-LSH dedup.")
    parser.add_argument("--version", action="version", version=f"haybale {__version__}")
    sub = parser.add_subparsers(dest="group", required=True, metavar="{catalog,ingest,dedup}")
    from haybale.cli.catalog_commands import register as register_catalog
    from haybale.cli.dedup_commands import register as register_dedup
    from haybale.cli.ingest_commands import register as register_ingest

    register_catalog(sub)
    register_ingest(sub)
    register_dedup(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("haybale: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # one readable line per failure; tracebacks on request
        if os.environ.get("HAYBALE_DEBUG"):
            raise
        known = _known_errors()
        if not isinstance(exc, known):
            raise
        print(f"haybale: error: {exc}", file=sys.stderr)
        return 2


def _known_errors() -> tuple[type[BaseException], ...]:
    from catalog.errors import CatalogError
    from ingest.errors import IngestError

    errors: list[type[BaseException]] = [CatalogError, IngestError, FileNotFoundError, PermissionError]
    try:
        from dedup.errors import DedupError
        errors.append(DedupError)
    except ImportError:
        pass
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
