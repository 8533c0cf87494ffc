"""``haybale ingest warc PATHS…``: index WARC/WET files in place, or repack them into volumes."""
from __future__ import annotations

import argparse
from typing import Any

from haybale.cli import output
from haybale.cli.options import FOLLOW_LINKS_HELP, add_job_options, command, non_negative_int, positive_int
from haybale.cli.stores import job_store, volume_defaults


def register(cmds: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``warc`` subcommand to the ``haybale ingest`` subparsers."""
    p = command(cmds, "warc", "index WARC, WARC.gz and WET files in place (the catalog points into them) "
                              "or repack them into volumes (a Ray job)", cmd_warc)
    p.add_argument("paths", nargs="+", metavar="PATH_OR_GLOB",
                   help="WARC/WET/ARC files, directories or quoted globs, local or any fsspec URL")
    p.add_argument("--repack", action="store_true",
                   help="copy records into volumes instead of indexing the files in place (always done for "
                        "whole-file gzip and ARC files, which cannot be read in place)")
    p.add_argument("--split-files", type=positive_int, default=256, help="files per unit of work (default 256)")
    p.add_argument("--split-bytes", type=positive_int, default=128 << 20,
                   help="bytes per unit of work; a bigger file is a unit alone (default 128 MiB)")
    p.add_argument("--volume-bytes", type=positive_int, default=None,
                   help="seal a volume of repacked records once it reaches this size (default 1 GiB)")
    p.add_argument("--follow-links", action="store_true",
                   help=FOLLOW_LINKS_HELP)
    p.add_argument("--max-errors", type=non_negative_int, default=None,
                   help="error budget: the split that would take the run past this many quarantined records is "
                        "not registered and the job fails (default: no limit)")
    add_job_options(p)


def cmd_warc(args: argparse.Namespace) -> int:
    from ingest.warc_inputs import check_named_inputs
    from ingest.warc_job import WarcJobConfig, run_warc_job

    volume_defaults(args)
    check_named_inputs(args.paths)
    config = WarcJobConfig(run_id=args.run_id, repack=args.repack, split_files=args.split_files,
                           split_bytes=args.split_bytes, volume_bytes=args.volume_bytes, max_errors=args.max_errors,
                           follow_links=args.follow_links)
    with job_store(args) as store:
        out = run_warc_job(store, args.paths, config, show_progress=not args.quiet, address=args.address,
                           num_cpus=args.num_cpus, local=args.no_ray).as_dict()
    if args.json:
        output.print_json(out)
    else:
        print(describe_warc_summary(out))
    return 0


def describe_warc_summary(out: dict[str, Any]) -> str:
    skipped = sum(out["skipped"].values())
    lines = [f"read {output.count(out['records'])} records from {output.count(out['files'])} files "
             f"({output.size(out['bytes'])}) in {output.seconds(out['seconds'])} [run {out['run_id']}]: "
             f"{output.count(out['indexed'])} indexed in place, {output.count(out['repacked'])} repacked into "
             f"{out['volumes']} volumes, {output.count(skipped)} skipped, {output.count(out['quarantined'])} "
             f"quarantined; catalog: {output.count(out['added'])} added, {output.count(out['updated'])} "
             f"updated, {output.count(out['unchanged'])} unchanged, {output.count(out['captures_replaced'])} "
             "captures replaced by later ones (the latest by WARC-Date is kept)"]
    if out["unkeyed_copied"]:
        lines.append(f"  {output.count(out['unkeyed_copied'])} records without a key (request, metadata, warcinfo, "
                     "revisit) copied into the volumes as they are")
    if out.get("unkeyed_held"):
        lines.append(f"  {output.count(out['unkeyed_held'])} of them not kept: the volumes of an earlier run hold "
                     "them already")
    if out["quarantine"]:
        lines.append(output.listed(out["quarantine"], 20, lambda q: f"{q['file']} at {q['offset']}: {q['reason']}",
                                   "quarantined", total=out["quarantined"], all_in=out["quarantine_file"]))
    if out["quarantined"] and out["quarantined"] <= 20:
        lines.append(f"  all quarantined records: {out['quarantine_file']}")
    if out.get("warned"):
        lines.append(f"  {output.count(out['warned'])} records kept with a warning:")
        lines.append(output.listed(out["warnings"], 20, lambda w: f"{w['file']} at {w['offset']}: {w['reason']}",
                                   "warning", total=out["warned"],
                                   all_in=f'"warnings" in {out.get("run_state", "the run")}/done/*.json'))
    lines += output.not_read_lines(out)
    return "\n".join(lines)
