"""``haybale ingest warc PATHS…``: index WARC/WET files in place, or repack them into volumes.

Wire it in with ``register(cmds)`` on the ``ingest`` subparsers. Also runnable alone (tests, before
it is wired in): ``python -m ingest.warc_cli PATHS… --root ROOT``.
"""
from __future__ import annotations

import argparse
import json
import sys

from catalog.cli import add_common
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from ingest.errors import IngestError


def register(cmds: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``warc`` subcommand to the ``haybale ingest`` subparsers."""
    from ingest.cli import add_ray  # here, not at the top: ingest.cli imports this module to call us

    p = cmds.add_parser("warc", help="index WARC, WARC.gz and WET files in place (the catalog points into "
                                     "them) or repack them into volumes (a Ray job)")
    add_common(p)
    p.add_argument("paths", nargs="+", metavar="PATH_OR_GLOB",
                   help="WARC/WET/ARC files, directories or quoted globs, local or any fsspec URL")
    p.add_argument("--repack", action="store_true",
                   help="copy records into volumes instead of indexing the files in place (always done for "
                        "whole-file gzip and ARC files, which cannot be read in place)")
    p.add_argument("--split-files", type=int, default=256, help="files per unit of work (default 256)")
    p.add_argument("--split-bytes", type=int, default=128 << 20,
                   help="bytes per unit of work; a bigger file is a unit alone (default 128 MiB)")
    p.add_argument("--volume-bytes", type=int, default=DEFAULT_VOLUME_BYTES,
                   help="seal a volume of repacked records once it reaches this size (default 1 GiB)")
    p.add_argument("--max-errors", type=int, default=None,
                   help="fail the job when more records than this are quarantined (default: no limit)")
    add_ray(p)
    p.add_argument("--json", action="store_true", help="print the job summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_warc)


def cmd_warc(args: argparse.Namespace) -> int:
    from ingest.warc_job import WarcJobConfig, WarcJobError, run_warc_job

    config = WarcJobConfig(run_id=args.run_id, repack=args.repack, split_files=args.split_files,
                           split_bytes=args.split_bytes, volume_bytes=args.volume_bytes, max_errors=args.max_errors)
    with Store(args.root, catalog_dir=args.catalog_dir) as store:
        try:
            out = run_warc_job(store, args.paths, config, show_progress=not args.quiet, address=args.address,
                               num_cpus=args.num_cpus).as_dict()
        except WarcJobError as exc:  # the job ran and failed (exit 1), unlike a bad argument (exit 2)
            print(f"haybale: error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        skipped = sum(out["skipped"].values())
        print(f"read {out['records']:,} records from {out['files']:,} files ({out['bytes']:,} bytes) in "
              f"{out['seconds']:.1f} s [run {out['run_id']}]: {out['indexed']:,} indexed in place, "
              f"{out['repacked']:,} repacked into {out['volumes']} volumes, {skipped:,} skipped, "
              f"{out['quarantined']:,} quarantined; catalog: {out['added']} added, {out['updated']} updated, "
              f"{out['unchanged']} unchanged, {out['captures_replaced']} captures replaced by later ones "
              f"(the latest by WARC-Date is kept)")
        for q in out["quarantine"][:20]:
            print(f"  quarantined: {q['file']} at {q['offset']}: {q['reason']}")
        if out["quarantined"]:
            print(f"  all quarantined records: {out['quarantine_file']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``haybale ingest warc`` with ``argv`` (for use before it is wired into the haybale CLI)."""
    parser = argparse.ArgumentParser(prog="haybale ingest")
    register(parser.add_subparsers(dest="ingest_cmd", required=True, metavar="COMMAND"))
    args = parser.parse_args(["warc", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
