"""``haybale ingest …``: bring data into volumes and the catalog (``files`` here; ``warc`` and
``crawl`` in their own modules)."""
from __future__ import annotations

import argparse

from haybale.cli import output
from haybale.cli.options import FOLLOW_LINKS_HELP, add_job_options, command, int_in, non_negative_int, positive_int
from haybale.cli.stores import job_store, volume_defaults


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from haybale.cli.crawl_command import register as register_crawl
    from haybale.cli.warc_command import register as register_warc

    ing = sub.add_parser("ingest", help="pack files, WARCs and crawls into volumes and the catalog")
    # a running local head's warm drivers may run these (haybale.cli.forked_command)
    ing.set_defaults(warm_driver=True)
    cmds = ing.add_subparsers(dest="ingest_cmd", required=True, metavar="COMMAND")
    p = command(cmds, "files", "pack small files from any fsspec URL, directory or glob into volumes and "
                               "register them (a Ray job)", cmd_files)
    p.add_argument("inputs", nargs="+", metavar="URL_OR_GLOB",
                   help="directories, files or quoted globs, local or any fsspec URL (s3://...)")
    p.add_argument("--volume-bytes", type=positive_int, default=None,
                   help="seal a volume once it reaches this size (default 1 GiB)")
    p.add_argument("--compress-level", type=int_in(0, 3), default=None, metavar="0-3",
                   help="ISA-L gzip level of each record (default 2)")
    p.add_argument("--split-files", type=positive_int, default=5000, help="files per unit of work (default 5000)")
    p.add_argument("--split-bytes", type=positive_int, default=256 << 20,
                   help="bytes per unit of work (default 256 MiB)")
    p.add_argument("--follow-links", action="store_true",
                   help=FOLLOW_LINKS_HELP)
    p.add_argument("--max-errors", type=non_negative_int, default=None,
                   help="error budget: the split that would take the run past this many unreadable files is not "
                        "registered and the job fails (default: no limit)")
    add_job_options(p)
    register_warc(cmds)
    register_crawl(cmds)


def cmd_files(args: argparse.Namespace) -> int:
    from ingest.files_job import FilesJobConfig, run_files_job

    volume_defaults(args)
    config = FilesJobConfig(run_id=args.run_id, split_files=args.split_files, split_bytes=args.split_bytes,
                            volume_bytes=args.volume_bytes, compresslevel=args.compress_level,
                            max_errors=args.max_errors, follow_links=args.follow_links)
    with job_store(args) as store:
        out = run_files_job(store, args.inputs, config, show_progress=not args.quiet, address=args.address,
                            num_cpus=args.num_cpus, local=args.no_ray).as_dict()
    if args.json:
        output.print_json(out)
    else:
        print(describe_files_summary(out))
    return 0


def describe_files_summary(out: dict) -> str:
    run = f" [run {out['run_id']}]" if out.get("run_id") else ""
    lines = [f"ingested {output.count(out['files'])} files ({output.size(out['bytes'])}) into "
             f"{out['volumes']} volumes in {output.seconds(out['seconds'])}{run}: "
             f"{output.count(out['added'])} added, {output.count(out['updated'])} updated, "
             f"{output.count(out['unchanged'])} unchanged, {output.count(len(out['rejected']))} rejected"]
    if out["rejected"]:
        lines.append(output.listed(out["rejected"], 20, lambda r: f"{r.get('url') or r.get('path')}: {r['reason']}",
                                   "rejected", all_in=f'"rejects" in {out.get("run_state", "the run")}/done/*.json'))
    lines += output.not_read_lines(out)
    return "\n".join(lines)
