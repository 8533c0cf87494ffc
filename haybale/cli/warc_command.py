"""``haybale ingest warc PATHS…``: index WARC/WET files in place, or repack them into volumes.

Wired into ``haybale ingest`` by :func:`register`.
"""
from __future__ import annotations

import argparse
import json

from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from haybale.cli.options import add_common, add_ray


def register(cmds: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``warc`` subcommand to the ``haybale ingest`` subparsers."""
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
    from ingest.warc_job import WarcJobConfig, run_warc_job

    config = WarcJobConfig(run_id=args.run_id, repack=args.repack, split_files=args.split_files,
                           split_bytes=args.split_bytes, volume_bytes=args.volume_bytes, max_errors=args.max_errors)
    with Store(args.root, catalog_dir=args.catalog_dir) as store:
        out = run_warc_job(store, args.paths, config, show_progress=not args.quiet, address=args.address,
                           num_cpus=args.num_cpus).as_dict()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        skipped = sum(out["skipped"].values())
        print(f"read {out['records']:,} records from {out['files']:,} files ({out['bytes']:,} bytes) in "
              f"{out['seconds']:.1f} s [run {out['run_id']}]: {out['indexed']:,} indexed in place, "
              f"{out['repacked']:,} repacked into {out['volumes']} volumes, {skipped:,} skipped, "
              f"{out['quarantined']:,} quarantined; catalog: {out['added']} added, {out['updated']} updated, "
              f"{out['unchanged']} unchanged")
        for q in out["quarantine"][:20]:
            print(f"  quarantined: {q['file']} at {q['offset']}: {q['reason']}")
        if out["quarantined"]:
            print(f"  all quarantined records: {out['quarantine_file']}")
    return 0
