"""``haybale ingest …``: bring data into volumes and the catalog."""
from __future__ import annotations

import argparse
import json

from catalog.cli import add_common
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    ing = sub.add_parser("ingest", help="pack files, WARCs and crawls into volumes and the catalog")
    cmds = ing.add_subparsers(dest="ingest_cmd", required=True, metavar="COMMAND")
    p = cmds.add_parser("files", help="pack a local directory's files into volumes and register them")
    add_common(p)
    p.add_argument("directory")
    p.add_argument("--volume-bytes", type=int, default=DEFAULT_VOLUME_BYTES,
                   help="seal a volume once it reaches this size (default 1 GiB)")
    p.add_argument("--compress-level", type=int, default=6, choices=range(0, 10), metavar="0-9")
    p.add_argument("--json", action="store_true", help="print the job summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_files)


def cmd_files(args: argparse.Namespace) -> int:
    from ingest.files import ingest_files

    with Store(args.root, catalog_dir=args.catalog_dir) as store:
        summary = ingest_files(store, args.directory, volume_bytes=args.volume_bytes,
                               compresslevel=args.compress_level, show_progress=not args.quiet)
    out = summary.as_dict()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"ingested {out['files']:,} files ({out['bytes']:,} bytes) into {out['volumes']} volumes "
              f"in {out['seconds']} s: {out['added']} added, {out['updated']} updated, "
              f"{out['unchanged']} unchanged, {len(out['rejected'])} rejected")
    return 0


def main(argv: list[str] | None = None) -> int:
    from haybale.cli import main as haybale_main

    return haybale_main(["ingest", *(argv or [])])
