"""``haybale dedup …``: ``run`` (the dedup batch job) and ``clean-html``.

The job's modules (Ray, numba, the HTML cleaner) are imported when a command runs, not when the
command line is built, so ``haybale --help`` stays fast and a missing dependency is reported by the
command that needs it, naming it.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from dedup.defaults import (
    DEFAULT_LSH_THRESHOLD,
    DEFAULT_NGRAM,
    DEFAULT_NUM_PERM,
    DEFAULT_SMALL_DIFFERENCE,
    DEFAULT_SMALL_DIFFERENCE_THRESHOLD,
    DEFAULT_THRESHOLD,
)
from haybale.cli import output
from haybale.cli.options import add_job_options, command, int_at_least, positive_int, unit_interval


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``dedup run`` and ``dedup clean-html`` to the ``haybale`` command."""
    group = subparsers.add_parser("dedup", help="clean and deduplicate documents (exact + MinHash-LSH)")
    commands = group.add_subparsers(dest="dedup_command", required=True, metavar="COMMAND")

    run = command(commands, "run", "run (or resume) the dedup batch job (on Ray, or a local process pool)", cmd_run)
    run.add_argument("--input", action="append", required=True,
                     help="file, directory or glob on any fsspec URL, or 'catalog:PREFIX' for the records "
                          "of the root's catalog under a key/URL prefix ('catalog:' for all); repeatable")
    run.add_argument("--output", required=True, help="output directory (any fsspec URL)")
    run.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text (default: text)")
    run.add_argument("--id-field", default=None,
                     help="the id: a JSONL field or Parquet column (default: id), a WARC header for WARC/WET/ARC "
                          "(default: WARC-Record-ID), 'key' or a WARC header for catalog inputs (default: key)")
    run.add_argument("--url-field", default=None,
                     help="the url: a JSONL field or Parquet column (default: url), a WARC header for WARC/WET/ARC "
                          "(default: WARC-Target-URI), 'key' or a WARC header for catalog inputs (default: key)")
    run.add_argument("--ngram", type=positive_int, default=DEFAULT_NGRAM,
                     help=f"words per shingle (default: {DEFAULT_NGRAM})")
    run.add_argument("--num-perm", type=positive_int, default=DEFAULT_NUM_PERM,
                     help=f"MinHash permutations (default: {DEFAULT_NUM_PERM})")
    run.add_argument("--threshold", type=unit_interval, default=DEFAULT_THRESHOLD,
                     help=f"Jaccard threshold (default: {DEFAULT_THRESHOLD})")
    run.add_argument("--lsh-threshold", type=unit_interval, default=DEFAULT_LSH_THRESHOLD,
                     help=f"similarity the LSH bands x rows are tuned for (default: {DEFAULT_LSH_THRESHOLD})")
    run.add_argument("--small-difference", type=int_at_least(0), default=DEFAULT_SMALL_DIFFERENCE,
                     help="pairs whose shingle sets differ by at most this many shingles are near duplicates from "
                          f"--small-difference-threshold on (0: off; default: {DEFAULT_SMALL_DIFFERENCE})")
    run.add_argument("--small-difference-threshold", type=unit_interval, default=DEFAULT_SMALL_DIFFERENCE_THRESHOLD,
                     help="Jaccard threshold for pairs with a small difference "
                          f"(default: {DEFAULT_SMALL_DIFFERENCE_THRESHOLD})")
    run.add_argument("--bands", type=positive_int, help="LSH bands (with --rows; default: chosen from --lsh-threshold)")
    run.add_argument("--rows", type=positive_int, help="LSH rows per band (with --bands)")
    run.add_argument("--verify", choices=("exact", "estimate"), default="exact",
                     help="candidate check: exact Jaccard of shingle sets, or the signature estimate "
                          "(default: exact)")
    run.add_argument("--hash", choices=("words64", "sha1"), default="words64", help="shingle hash (default: words64)")
    run.add_argument("--keep", choices=("first", "longest", "priority"), default="first",
                     help="kept document per cluster (default: first)")
    run.add_argument("--priority-field", help="metadata field with a number, for --keep priority (highest kept)")
    run.add_argument("--partitions", type=positive_int, default=None,
                     help="shuffle partitions, 1-4096 (default: chosen from the number of documents and CPUs)")
    run.add_argument("--split-bytes", type=positive_int, default=None,
                     help="group consecutive input files into splits of about this many bytes "
                          "(default: one split per file up to 64 files; past that, consecutive files grouped to 16 MiB, "
                          "at most 4096 splits)")
    run.add_argument("--clean-text", action="store_true", help="apply the line filters to text inputs too")
    run.add_argument("--adblock-list", help="EasyList-format rules for HTML cleaning")
    run.add_argument("--max-decoded-bytes", type=positive_int, default=DEFAULT_MAX_DECODED_BYTES, metavar="N",
                     help="decoded-size cap of one record: a WARC/catalog record's body after its content "
                          "encodings, a JSONL line after decompression; a record over it is quarantined with its "
                          f"reason, never truncated (default {DEFAULT_MAX_DECODED_BYTES:,})")
    run.add_argument("--max-bad-records", type=int_at_least(-1), default=-1,
                     help="fail when more records are quarantined (default -1: no limit)")
    run.add_argument("--overwrite", action="store_true",
                     help="delete what --output holds before the run (refused when --output holds an input)")
    add_job_options(run, local=False, cpus=False,
                    address_help="Ray cluster address (default: $RAY_ADDRESS, else the Ray running in this "
                                 "process, if any, else a local pool of one process per core)")

    clean = command(commands, "clean-html", "write X.txt with the cleaned main text of each X.html, .htm or .xhtml (optionally .gz) under SRC_DIR",
                    cmd_clean_html)
    clean.add_argument("src_dir")
    clean.add_argument("dst_dir")
    clean.add_argument("--adblock-list", help="EasyList-format rules")
    clean.add_argument("--overwrite", action="store_true",
                       help="replace files in DST_DIR that no clean-html run wrote (by default that is an error)")


def cmd_run(args: argparse.Namespace) -> int:
    from dedup.defaults import CATALOG_INPUT_PREFIX

    if args.address is None and not os.environ.get("RAY_ADDRESS") and not any(
            i.startswith(CATALOG_INPUT_PREFIX) for i in args.input):
        # The job will run on the local pool: its fork server warms up while this process imports
        # the job's modules and lists the input (dedup/pool_start.py).
        from dedup.pool_start import start_fork_server

        start_fork_server()
    from dedup.config import DedupConfig
    from dedup.errors import ConfigError
    from dedup.inputs import source_for_inputs
    from dedup.job import run_dedup
    from dedup.minhash_config import MinHashConfig

    if os.path.isfile(args.output):
        raise ConfigError(f"--output {args.output!r} is a file: give a directory (it is created if missing)")
    config = DedupConfig(
        minhash=MinHashConfig(num_perm=args.num_perm, ngram=args.ngram, hash=args.hash),
        threshold=args.threshold, lsh_threshold=args.lsh_threshold, bands=args.bands, rows=args.rows,
        verify=args.verify, small_difference=args.small_difference,
        small_difference_threshold=args.small_difference_threshold, keep=args.keep, priority_field=args.priority_field, partitions=args.partitions,
        split_bytes=args.split_bytes,
        clean_text=args.clean_text, adblock_list=args.adblock_list, max_bad_records=args.max_bad_records)
    catalog_inputs = [i[len(CATALOG_INPUT_PREFIX):] for i in args.input if i.startswith(CATALOG_INPUT_PREFIX)]
    file_inputs = [i for i in args.input if not i.startswith(CATALOG_INPUT_PREFIX)]
    with output.stdout_to_stderr() if args.json else contextlib.nullcontext():
        if catalog_inputs:
            summary = _run_on_catalog(args, config, catalog_inputs, file_inputs)
        else:
            source = source_for_inputs(file_inputs, text_field=args.text_field, id_field=args.id_field,
                                       url_field=args.url_field, max_decoded=args.max_decoded_bytes)
            summary = run_dedup(source, args.output, config, run_id=args.run_id or None, address=args.address,
                                progress=not args.quiet, inputs=args.input, overwrite=args.overwrite)
    if args.json:
        output.print_json(summary)
    else:
        print(describe_dedup_summary(summary, args.output))
    return 0


def describe_dedup_summary(summary: dict[str, Any], where: str) -> str:
    documents = summary["documents"]
    took = sum(summary.get("seconds", {}).values())
    text = (f"run {summary['run_id']}: kept {output.count(documents['kept'])} of "
            f"{output.count(documents['input'])} documents in {output.seconds(took)}; removed "
            f"{output.count(documents['removed'])} ({output.counts(documents['removed_by_reason'])}); "
            f"quarantined {output.count(documents['quarantined'])}; output in {where}")
    if "catalog_marks_skipped" in summary:
        text += f"; {summary['catalog_marks_skipped']}"
    elif "catalog_marks" in summary:
        text += f"; {output.count(summary['catalog_marks'])} catalog keys marked"
    missing = summary.get("catalog_marks_missing") or []
    lines = [text, *output.not_read_lines(summary)]
    not_documents = summary.get("not_documents") or {}
    if not_documents:
        lines.append(f"{output.count(sum(not_documents.values()))} WARC records are not documents "
                     f"({output.counts(not_documents)}): counted, not deduplicated")
    flattened = summary.get("flattened_count", 0)
    if flattened:
        listed = summary.get("flattened") or []
        lines.append(f"{output.count(flattened)} HTML pages nest deeper than 512 levels: the tags past that depth were "
                     f"cut out before cleaning, their text kept (summary.json names the first {len(listed):,}):")
        lines.append(output.listed(listed, 20, lambda e: f"{e['id']} ({e['url']}): {e['tags']:,} tags", "flattened",
                                   total=flattened))
    shared = summary.get("ids", {}).get("shared", 0)
    if shared:
        lines.append(f"warning: {output.count(shared)} ids are each held by more than one document "
                     f"({output.count(summary['ids']['documents_sharing'])} documents): kept_id in removed/ and the "
                     "ids in data/ name several documents for them; give each document its own id (--id-field)")
    without = summary.get("priority", {}).get("documents_without", 0)
    if without:
        lines.append(f"warning: {output.count(without)} of {output.count(documents['input'])} documents have no number "
                     f"in the priority field {summary['priority']['field']!r} (missing, null or not a number): "
                     "they ranked as 0, so their duplicates kept the earliest in input order; check "
                     "--priority-field against the input's metadata")
    if missing:
        count = summary.get("catalog_marks_missing_count", len(missing))
        lines.append(f"{output.count(count)} keys deleted from the catalog during the run, so not marked (the run "
                     "read them before the delete: they are in this output)")
        lines.append(output.listed(missing, 20, str, "not marked", total=count))
    return "\n".join(lines)


def _run_on_catalog(args: argparse.Namespace, config: Any, prefixes: list[str], file_inputs: list[str]) -> dict:
    """Dedup the catalog's records under ``prefixes`` (plus any file inputs) and mark every key."""
    from haybale.api import dedup_catalog
    from haybale.cli.stores import job_store

    # marks go through the catalog's owners (no lock held for the run; ingest jobs keep writing)
    with job_store(args, create=False) as store:
        return dedup_catalog(store, prefixes, args.output, config, run_id=args.run_id or None,
                             address=args.address, progress=not args.quiet, file_inputs=file_inputs,
                             text_field=args.text_field, id_field=args.id_field, url_field=args.url_field,
                             inputs=args.input, overwrite=args.overwrite, max_decoded=args.max_decoded_bytes)


def cmd_clean_html(args: argparse.Namespace) -> int:
    import sys

    from dedup.clean import CleanConfig, CleanDirError, clean_html_dir

    if os.path.exists(args.dst_dir) and not os.path.isdir(args.dst_dir):
        raise CleanDirError(f"clean-html destination {args.dst_dir!r} is a file: give a directory "
                            "(it is created if missing)")
    config = CleanConfig(adblock_list=args.adblock_list) if args.adblock_list else CleanConfig()
    result = clean_html_dir(args.src_dir, args.dst_dir, config, progress=None if args.quiet else sys.stderr,
                            overwrite=args.overwrite)
    if args.json:
        output.print_json(result)
    else:
        print(describe_clean_result(result, args.dst_dir))
    return 0


def describe_clean_result(result: dict[str, Any], where: str) -> str:
    lines = [f"cleaned {output.count(result['written'])} of {output.count(result['files'])} HTML files into "
             f"{where} in {output.seconds(result['seconds'])} "
             f"({output.rate(result['written'], result['seconds'], 'files')}): "
             f"{output.size(result['bytes_in'])} of HTML in, {output.count(result['chars_out'])} characters "
             f"of text out, {output.count(len(result['errors']))} errors",
             f"characters removed by filter: {output.counts(result['removals'])}"]
    if result["errors"]:
        lines.append(output.listed(result["errors"], 20, lambda e: f"{e['path']}: {e['reason']}", "error"))
    if result.get("empty"):
        lines.append(f"{output.count(len(result['empty']))} pages cleaned to no text (their .txt files are empty):")
        lines.append(output.listed(result["empty"], 20, lambda e: f"{e['path']}: {e['reason']}", "empty"))
    if result.get("flattened"):
        lines.append(f"{output.count(len(result['flattened']))} pages nest deeper than 512 levels: the tags past "
                     "that depth were cut out before parsing, their text kept:")
        lines.append(output.listed(result["flattened"], 20, lambda e: f"{e['path']}: {e['tags']:,} tags",
                                   "flattened"))
    lines += output.not_read_lines(result)
    return "\n".join(lines)
