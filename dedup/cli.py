"""The ``dedup`` command group: ``dedup run`` (the batch job) and ``dedup clean-html``.

``register(subparsers)`` adds the group to a parent argparse parser (the ``haybale`` command);
``main(argv)`` runs it standalone (``python -m dedup ...``). Exit codes: 0 ok, 2 bad arguments or
settings, 1 job failure.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Iterator, Sequence

from dedup.config import (
    DEFAULT_LSH_THRESHOLD,
    DEFAULT_NGRAM,
    DEFAULT_SMALL_DIFFERENCE,
    DEFAULT_SMALL_DIFFERENCE_THRESHOLD,
    DEFAULT_THRESHOLD,
    DedupConfig,
)
from dedup.errors import DedupError
from dedup.minhash import MinHashConfig


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``dedup run`` and ``dedup clean-html`` to a parent parser's subcommands."""
    group = subparsers.add_parser("dedup", help="clean and deduplicate documents (exact + MinHash-LSH)")
    commands = group.add_subparsers(dest="dedup_command", required=True)

    run = commands.add_parser("run", help="run (or resume) the dedup batch job (on Ray, or a local process pool)")
    run.add_argument("--root", default=None,
                     help="deployment root whose catalog a 'catalog:PREFIX' input reads and marks "
                          "(default: $HAYBALE_ROOT or ./haybale-data)")
    run.add_argument("--catalog-dir", default=None, help="local catalog directory (for remote roots)")
    run.add_argument("--input", action="append", required=True,
                     help="file, directory or glob on any fsspec URL, or 'catalog:PREFIX' for the records "
                          "of the catalog under a key/URL prefix ('catalog:' for all); repeatable")
    run.add_argument("--output", required=True, help="output directory (any fsspec URL)")
    run.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text (default: text)")
    run.add_argument("--id-field", default=None,
                     help="the id: a JSONL field or Parquet column (default: id), a WARC header for WARC/WET/ARC "
                          "(default: WARC-Record-ID), 'key' or a WARC header for catalog inputs (default: key)")
    run.add_argument("--url-field", default=None,
                     help="the url: a JSONL field or Parquet column (default: url), a WARC header for WARC/WET/ARC "
                          "(default: WARC-Target-URI), 'key' or a WARC header for catalog inputs (default: key)")
    run.add_argument("--ngram", type=int, default=DEFAULT_NGRAM, help=f"words per shingle (default: {DEFAULT_NGRAM})")
    run.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default: 128)")
    run.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help=f"Jaccard threshold (default: {DEFAULT_THRESHOLD})")
    run.add_argument(
        "--lsh-threshold", type=float, default=DEFAULT_LSH_THRESHOLD,
        help=f"similarity the LSH bands x rows are tuned for (default: {DEFAULT_LSH_THRESHOLD})",
    )
    run.add_argument(
        "--small-difference", type=int, default=DEFAULT_SMALL_DIFFERENCE,
        help="pairs whose shingle sets differ by at most this many shingles are near duplicates from "
             f"--small-difference-threshold on (0: off; default: {DEFAULT_SMALL_DIFFERENCE})",
    )
    run.add_argument(
        "--small-difference-threshold", type=float, default=DEFAULT_SMALL_DIFFERENCE_THRESHOLD,
        help=f"Jaccard threshold for pairs with a small difference (default: {DEFAULT_SMALL_DIFFERENCE_THRESHOLD})",
    )
    run.add_argument("--bands", type=int, help="LSH bands (with --rows; default: chosen from --lsh-threshold)")
    run.add_argument("--rows", type=int, help="LSH rows per band (with --bands)")
    run.add_argument(
        "--verify", choices=("exact", "estimate"), default="exact",
        help="candidate check: exact Jaccard of shingle sets, or the signature estimate (default: exact)",
    )
    run.add_argument("--hash", choices=("words64", "sha1"), default="words64", help="shingle hash (default: words64)")
    run.add_argument("--keep", choices=("first", "longest", "priority"), default="first", help="kept document per cluster")
    run.add_argument("--priority-field", help="metadata field with a number, for --keep priority (highest kept)")
    run.add_argument("--partitions", type=int, default=None,
                     help="shuffle partitions (default: chosen from the number of documents and CPUs)")
    run.add_argument("--split-bytes", type=int, default=None,
                     help="group consecutive input files into splits of about this many bytes "
                          "(default: one split per file, grouped only beyond 4096 files)")
    run.add_argument("--clean-text", action="store_true", help="apply the line filters to text inputs too")
    run.add_argument("--adblock-list", help="EasyList-format rules for HTML cleaning")
    run.add_argument("--max-bad-records", type=int, default=-1, help="fail when more records are quarantined (-1: no limit)")
    run.add_argument("--run-id", help="resume this run (default: a new run id)")
    run.add_argument("--overwrite", action="store_true", help="delete what --output holds before the run")
    run.add_argument("--address", help="Ray cluster address (default: the Ray running in this process, if any, "
                                          "else a local pool of one process per core)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.set_defaults(dedup_handler=_run, func=_run)

    clean = commands.add_parser("clean-html", help="write X.txt with the cleaned main text of each X.html[.gz]")
    clean.add_argument("--root", default=None, help="accepted for the common CLI; clean-html reads and writes directories")
    clean.add_argument("src_dir")
    clean.add_argument("dst_dir")
    clean.add_argument("--adblock-list", help="EasyList-format rules")
    clean.add_argument("--json", action="store_true", help="print the result as JSON")
    clean.set_defaults(dedup_handler=_clean_html, func=_clean_html)


def _run(args: argparse.Namespace) -> int:
    from dedup.inputs import source_for_inputs
    from dedup.job import run_dedup

    config = DedupConfig(
        minhash=MinHashConfig(num_perm=args.num_perm, ngram=args.ngram, hash=args.hash),
        threshold=args.threshold,
        lsh_threshold=args.lsh_threshold,
        bands=args.bands,
        rows=args.rows,
        verify=args.verify,
        small_difference=args.small_difference,
        small_difference_threshold=args.small_difference_threshold,
        keep=args.keep,
        priority_field=args.priority_field,
        partitions=args.partitions,
        split_bytes=args.split_bytes,
        clean_text=args.clean_text,
        adblock_list=args.adblock_list,
        max_bad_records=args.max_bad_records,
    )
    from dedup.catalog_source import CATALOG_INPUT_PREFIX

    catalog_inputs = [i[len(CATALOG_INPUT_PREFIX):] for i in args.input if i.startswith(CATALOG_INPUT_PREFIX)]
    file_inputs = [i for i in args.input if not i.startswith(CATALOG_INPUT_PREFIX)]
    with _stdout_to_stderr() if args.json else contextlib.nullcontext():
        if catalog_inputs:
            summary = _run_on_catalog(args, config, catalog_inputs, file_inputs)
        else:
            source = source_for_inputs(file_inputs, text_field=args.text_field, id_field=args.id_field,
                                       url_field=args.url_field)
            summary = run_dedup(
                source, args.output, config, run_id=args.run_id, address=args.address, progress=not args.quiet,
                inputs=args.input, overwrite=args.overwrite
            )
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        documents = summary["documents"]
        print(
            f"run {summary['run_id']}: kept {documents['kept']} of {documents['input']} documents; "
            f"removed {documents['removed_by_reason']}; quarantined {documents['quarantined']}; output in {args.output}"
        )
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """While the job runs, stdout (``sys.stdout`` and file descriptor 1) goes to stderr.

    With ``--json`` stdout must hold the summary alone, one JSON document; whatever a library, a
    pool worker or a Ray process started by the driver writes to stdout meanwhile (they inherit
    descriptor 1) lands on stderr instead.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _run_on_catalog(args: argparse.Namespace, config: DedupConfig, prefixes: list[str],
                    file_inputs: list[str]) -> dict:
    """Dedup the catalog's records under ``prefixes`` (plus any file inputs); mark every catalog key
    kept or removed when the job ends."""
    import uuid

    from catalog.store import Store
    from dedup.catalog_source import CatalogMarkSink, plan_catalog_source
    from dedup.inputs import MultiSource, source_for_inputs
    from dedup.job import run_dedup

    run_id = args.run_id or f"dedup-{uuid.uuid4().hex[:10]}"
    with Store(getattr(args, "root", None), catalog_dir=getattr(args, "catalog_dir", None), create=False) as store:
        manifest_root = f"{store.root.rstrip('/')}/runs/{run_id}/catalog-splits"
        catalog_sources = [plan_catalog_source(store.catalog, prefix, f"{manifest_root}/{n:03d}",
                                               id_field=args.id_field, url_field=args.url_field)
                           for n, prefix in enumerate(prefixes)]
        sources: list = list(catalog_sources)
        if file_inputs:
            sources.append(source_for_inputs(file_inputs, text_field=args.text_field, id_field=args.id_field,
                                             url_field=args.url_field))
        source = sources[0] if len(sources) == 1 else MultiSource(sources)
        # marks are written by catalog key: only when the ids are the keys
        sink = CatalogMarkSink(store.catalog) if all(s.ids_are_keys for s in catalog_sources) else None
        summary = run_dedup(source, args.output, config, run_id=run_id, address=args.address,
                            mark_sink=sink, progress=not args.quiet, inputs=args.input, overwrite=args.overwrite)
        summary["catalog_marks"] = sink.marked if sink is not None else 0
        if sink is None:
            summary["catalog_marks_skipped"] = (f"--id-field {args.id_field}: the ids are not catalog keys, so no "
                                                "verdict was marked in the catalog (each document's metadata "
                                                "holds its key)")
    return summary


def _clean_html(args: argparse.Namespace) -> int:
    try:
        from dedup.clean import CleanConfig, clean_html_dir
    except ImportError as exc:
        raise DedupError(f"dedup.clean is not available: {exc}") from exc
    config = CleanConfig(adblock_list=args.adblock_list) if args.adblock_list else CleanConfig()
    result = clean_html_dir(args.src_dir, args.dst_dir, config)
    print(json.dumps(result, indent=1, default=str) if args.json else f"cleaned into {args.dst_dir}: {result}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m dedup run ...`` or ``python -m dedup clean-html ...``."""
    parser = argparse.ArgumentParser(prog="python -m")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] != "dedup":
        arguments = ["dedup", *arguments]
    args = parser.parse_args(arguments)
    try:
        return int(args.dedup_handler(args))
    except DedupError as exc:
        print(f"dedup: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ValueError,)) else 1
