"""``haybale ingest …``: bring data into volumes and the catalog."""
from __future__ import annotations

import argparse
import json

from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from haybale.cli.options import add_common, add_ray
from ingest.errors import IngestError


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    ing = sub.add_parser("ingest", help="pack files, WARCs and crawls into volumes and the catalog")
    cmds = ing.add_subparsers(dest="ingest_cmd", required=True, metavar="COMMAND")
    p = cmds.add_parser("files", help="pack small files from any fsspec URL, directory or glob into "
                                      "volumes and register them (a Ray job)")
    add_common(p)
    p.add_argument("inputs", nargs="+", metavar="URL_OR_GLOB",
                   help="directories, files or quoted globs, local or any fsspec URL (s3://..., memory://...)")
    p.add_argument("--volume-bytes", type=int, default=DEFAULT_VOLUME_BYTES,
                   help="seal a volume once it reaches this size (default 1 GiB)")
    p.add_argument("--compress-level", type=int, default=DEFAULT_COMPRESS_LEVEL, choices=range(0, 4),
                   metavar="0-3", help="ISA-L gzip level of each record (default 2)")
    p.add_argument("--split-files", type=int, default=5000, help="files per unit of work (default 5000)")
    p.add_argument("--split-bytes", type=int, default=256 << 20, help="bytes per unit of work (default 256 MiB)")
    add_ray(p)
    p.add_argument("--no-ray", action="store_true",
                   help="pack in this process instead of on Ray (one local directory only)")
    p.add_argument("--json", action="store_true", help="print the job summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_files)

    from haybale.cli.crawl_command import register as register_crawl
    from haybale.cli.warc_command import register as register_warc

    register_warc(cmds)
    register_crawl(cmds)


def cmd_files(args: argparse.Namespace) -> int:
    with Store(args.root, catalog_dir=args.catalog_dir) as store:
        if args.no_ray:
            from ingest.files import ingest_files

            if len(args.inputs) != 1:
                raise IngestError("--no-ray packs exactly one local directory: give one, or drop --no-ray")
            out = ingest_files(store, args.inputs[0], volume_bytes=args.volume_bytes,
                               compresslevel=args.compress_level, show_progress=not args.quiet).as_dict()
        else:
            from ingest.files_job import FilesJobConfig, run_files_job

            config = FilesJobConfig(run_id=args.run_id, split_files=args.split_files,
                                    split_bytes=args.split_bytes, volume_bytes=args.volume_bytes,
                                    compresslevel=args.compress_level)
            out = run_files_job(store, args.inputs, config, show_progress=not args.quiet,
                                address=args.address, num_cpus=args.num_cpus).as_dict()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        run = f" [run {out['run_id']}]" if "run_id" in out else ""
        print(f"ingested {out['files']:,} files ({out['bytes']:,} bytes) into {out['volumes']} volumes "
              f"in {out['seconds']} s{run}: {out['added']} added, {out['updated']} updated, "
              f"{out['unchanged']} unchanged, {len(out['rejected'])} rejected")
        for reject in out["rejected"][:20]:
            print(f"  rejected: {reject}")
    return 0
