"""The dedup batch job: the driver (dedup/waves.py holds the waves after stage 1, dedup/executors.py
runs them as Ray tasks on a cluster, or on a local process pool without one).

Stages (each unit of work is a Ray task; a unit whose completion marker exists is skipped, so a
rerun with the same ``run_id`` resumes where a killed run stopped and ends with the same output):

1. ``read-S``   per split: read, clean, digest, signature; spill docs/signatures/band keys.
2. candidates per partition (a range of key slots), then the pairs checked by a join by split.
3. components by distributed large-star/small-star rounds; the kept document per root split.
4. ``write-S``  per split: clean Parquet shard and removal report (a task draws the three plots,
   dedup/plots.py, meanwhile, and another writes quarantine.parquet, streamed split by split).
5. the driver writes summary.json and sends the marks to a MarkSink.

The number of partitions is chosen after stage 1 from the number of documents read and the
cluster's CPUs (``DedupConfig.partitions`` overrides it) and recorded, so a resumed run keeps it.
An output directory belongs to one run: ``--output`` holding another run's files is refused
(``overwrite=True`` deletes them first). Progress lines (documents/s, MB/s, ETA) go to stderr
every 2 s.
"""
from __future__ import annotations

import datetime
import os
import sys
import time
import uuid
from typing import Any, Callable, Iterable, Protocol, Sequence

from catalog.progress import human_bytes
from dedup.config import DedupConfig
from dedup.defaults import LISTED_FLATTENED
from dedup.errors import ConfigError, JobError, StageError, with_resume_hint
from dedup.executors import LocalExecutor, RayExecutor
from dedup.output_lease import output_lease
from dedup.output_place import refuse_output_over_inputs
from dedup.plots import PLOT_DESCRIPTIONS, plot_cluster_sizes, plot_removals, plot_s_curve
from dedup.sources import DocumentSource, Split
from dedup.split_plan import GROUP_KIND, members_of, plan_splits, split_size
from dedup.units import Executor
from dedup.workdir import WorkDir

# The steps of the units (dedup.split_stage, dedup.waves, dedup.outputs) are imported
# where they are used, not here: with them come numba and the kernels (~0.4 CPU s), which the
# driver never runs. Imported at the top they delayed the start of the local pool's fork server
# (whose warm-up the first units wait for); imported in _run they overlap with it.

# Band-key bytes per partition that the automatic choice aims at (16 B per document and band).
PARTITION_TARGET_BYTES = 128 << 20


class MarkSink(Protocol):
    """Receives the final status of every document (e.g. the catalog's marks) of the splits whose
    kind is in its ``kinds`` (a frozenset of :class:`~dedup.sources.Split` kinds; a sink without
    the attribute receives every split's). An optional ``summary()`` returns fields for the run's
    summary (what it marked)."""

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        """``status[i]`` is ``"kept"`` or ``"removed"``; ``reason[i]`` is None for kept documents."""
        ...


def _read_split(work: WorkDir, index: int, split: Split, source: DocumentSource, config: DedupConfig) -> dict[str, Any]:
    from dedup.split_stage import process_split

    return process_split(index, split, source, config, work).as_dict()


def _draw_plots(work: WorkDir, cluster_stats: dict[str, Any], histogram: dict[str, list[int]], documents_in: int,
                n_splits: int, config: DedupConfig) -> dict[str, Any]:
    # Runs beside the write tasks: importing matplotlib and drawing costs about a second.
    from dedup.outputs import removal_counts

    removals = removal_counts(work, n_splits, documents_in, cluster_stats)
    cluster_sizes = cluster_stats["cluster_sizes"]
    rule = config.near_duplicate_rule
    pictures = {
        "s_curve.png": plot_s_curve(config.lsh, config.threshold, histogram, rule.small_difference,
                                    rule.small_difference_threshold if config.verify == "exact" else 1.0),
        "cluster_sizes.png": plot_cluster_sizes({int(k): v for k, v in cluster_sizes.items()}),
        "removals.png": plot_removals(removals),
    }
    for name, png in pictures.items():
        with work.fs.open(f"{work.output}/{name}", "wb") as handle:
            handle.write(png)
    return {}


def _write_quarantine(work: WorkDir, n_splits: int) -> dict[str, Any]:
    # A unit of the write wave rather than the driver's last step: it read 20 small Parquet files
    # (and imported pyarrow.dataset, ~0.2-0.5 s) at the end of the run while every worker waited.
    from dedup.outputs import write_quarantine

    return {"quarantined": write_quarantine(work, n_splits, f"{work.output}/quarantine.parquet")}


def new_run_id() -> str:
    """A fresh run id: UTC time plus a random suffix."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


class _Reporter:
    """Progress lines on stderr: documents/s, bytes/s and ETA of the running stage."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def line(self, text: str) -> None:
        if self.enabled:
            print(f"[dedup] {text}", file=sys.stderr, flush=True)


def run_dedup(
    source: DocumentSource,
    output: str,
    config: DedupConfig = DedupConfig(),
    run_id: str | None = None,
    address: str | None = None,
    mark_sink: MarkSink | None = None,
    progress: bool = True,
    inputs: Sequence[str] = (),
    overwrite: bool = False,
    protected: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) the dedup job and return its summary (also written to output/summary.json).

    Uses the running Ray if one is initialized in this process, else connects to ``address`` (or
    ``$RAY_ADDRESS``, which ``ray job submit`` sets); on a
    cluster the output (and its work dir) must be a path or URL every node reaches. Without either,
    the units run on a local pool of one process per core (dedup/executors.py): same waves, same
    output, without a local Ray's start-up. ``overwrite`` deletes whatever ``output`` holds first. Errors: ConfigError
    when ``output`` holds another run's files (without ``overwrite``) or when resuming a run id
    with other settings or other inputs; JobError when a stage fails or quarantined records exceed
    ``max_bad_records``. ConfigError too when another dedup run on this machine is writing ``output``
    (:mod:`dedup.output_lease`), and when ``output`` holds an input file or one of the ``protected``
    places (a catalog input's root), which ``overwrite`` would delete (:mod:`dedup.output_place`).
    """
    run_id = run_id or new_run_id()
    with output_lease(output):
        try:
            return _run_dedup_leased(source, output, config, run_id, address, mark_sink, progress, inputs, overwrite,
                                     protected)
        except StageError as exc:
            raise with_resume_hint(exc, run_id, output) from exc


def _run_dedup_leased(source: DocumentSource, output: str, config: DedupConfig, run_id: str | None,
                      address: str | None, mark_sink: MarkSink | None, progress: bool, inputs: Sequence[str],
                      overwrite: bool, protected: Sequence[str]) -> dict[str, Any]:
    run_id = run_id or new_run_id()
    work = WorkDir(output, run_id)
    reporter = _Reporter(progress)
    if config.adblock_list:
        # AdblockListError (exit 2) here, before any work: in the workers a list that cannot be read
        # failed every HTML page's cleaning, and each was removed as a clean_error (a typo in the
        # path removed the whole HTML input)
        from dedup.clean.adblock_filter import load_rules

        load_rules(config.adblock_list)
    # Listing first: a missing input fails in milliseconds, before a local Ray is started.
    source, splits = plan_splits(source, config.split_bytes)
    refuse_output_over_inputs(output, splits, protected, overwrite)  # before --overwrite deletes anything
    work.claim_output(overwrite)
    # `ray job submit` tells its driver where the cluster is through RAY_ADDRESS
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray_module = sys.modules.get("ray")
    if address is None and not (ray_module is not None and ray_module.is_initialized()):
        local = LocalExecutor(reporter.line)
        try:
            return _run(source, splits, work, config, reporter, mark_sink, list(inputs), local, cpus=local.processes)
        finally:
            local.close()
    import ray

    started_ray = False
    if not ray.is_initialized():
        from catalog.ray_address import check_reachable

        check_reachable(address, "--address / RAY_ADDRESS")
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_ray = True
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return _run(source, splits, work, config, reporter, mark_sink, list(inputs), RayExecutor(reporter.line), cpus)
    finally:
        if started_ray:
            ray.shutdown()


def _run(
    source: DocumentSource,
    splits: list[Split],
    work: WorkDir,
    config: DedupConfig,
    reporter: _Reporter,
    mark_sink: MarkSink | None,
    inputs: list[str],
    execute: Executor,
    cpus: int,
) -> dict[str, Any]:
    timings: dict[str, float] = {}
    stamps = _check_resume(splits, work, config)
    n_splits = len(splits)
    reporter.line(f"run {work.run_id}: {n_splits} splits, LSH {config.lsh.bands}x{config.lsh.rows}")

    from dedup.waves import Waves  # the steps of every wave: see the imports at the top

    clock = time.monotonic()
    sizes = _input_sizes(splits, stamps)
    units = [(f"read-{i:06d}", _read_split, (work, i, s, source, config)) for i, s in enumerate(splits)]
    read_stats = execute(units, "read+signatures", _read_progress(sizes, clock))
    timings["read_clean_signature"] = time.monotonic() - clock
    quarantined = sum(int(s["quarantined"]) for s in read_stats)
    if 0 <= config.max_bad_records < quarantined:
        raise JobError(f"{quarantined} bad records exceed the error budget of {config.max_bad_records}; see {work.path('quarantine')}")

    partitions = _partitions(work, config, sum(int(s["documents_out"]) for s in read_stats), cpus)
    reporter.line(f"{partitions} partitions")
    waves = Waves(work, config, n_splits, partitions, execute)
    clock = time.monotonic()
    pairs, histogram = waves.candidates()
    timings["candidates_verify"] = time.monotonic() - clock

    clock = time.monotonic()
    cluster_stats, exact_files, near_files = waves.clusters(waves.components())
    timings["components"] = time.monotonic() - clock

    clock = time.monotonic()
    documents_in = sum(int(s["documents_in"]) for s in read_stats)
    plots = ("plots", _draw_plots, (work, cluster_stats, histogram, documents_in, n_splits, config))
    quarantine = ("quarantine", _write_quarantine, (work, n_splits))
    write_stats = waves.write(exact_files, near_files, [plots, quarantine])
    timings["write"] = time.monotonic() - clock

    clock = time.monotonic()
    from dedup.outputs import iter_marks

    summary = _summary(work, config, inputs, splits, read_stats, pairs, histogram, cluster_stats, write_stats, timings)
    summary["partitions"] = partitions
    # ids that name more than one document: kept_id and the marks are ambiguous for them (dedup/id_hashes.py)
    summary["ids"] = waves.shared_ids
    # files and entries the inputs named that no source reads (no known format, links, FIFOs), by name
    summary["not_read"] = list(getattr(source, "not_read", []))
    if mark_sink is not None:
        kinds = getattr(mark_sink, "kinds", None)
        for split, (ids, status, reasons) in zip(splits, iter_marks(work, n_splits)):
            if kinds is None or split.kind in kinds:
                mark_sink.mark(ids, status, reasons)
        summary.update(getattr(mark_sink, "summary", dict)())  # what it marked, into summary.json too
    timings["summary_marks"] = time.monotonic() - clock
    summary["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    summary["seconds_by_wave"] = waves.seconds
    summary["cpu_seconds_by_wave"] = {"read": round(sum(float(s.get("unit_cpu_seconds", 0)) for s in read_stats), 3),
                                      **waves.cpu_seconds}
    work.write_json(f"{work.output}/summary.json", summary)
    reporter.line(f"done: kept {summary['documents']['kept']} of {summary['documents']['input']} documents")
    return summary


def _partitions(work: WorkDir, config: DedupConfig, documents: int, cpus: int) -> int:
    """The run's number of partitions: given, or chosen once from the documents read and the
    cluster's CPUs (recorded in the work dir, so a resumed run uses the same)."""
    if config.partitions is not None:
        return int(config.partitions)
    plan = work.path("partitions.json")
    if work.exists(plan):
        return int(work.read_json(plan)["partitions"])
    band_bytes = documents * config.lsh.bands * 16
    chosen = max(1, min(4096, max(-(-band_bytes // PARTITION_TARGET_BYTES), 2 * cpus)))
    work.write_json(plan, {"partitions": chosen, "documents": documents, "cpus": cpus})
    return chosen


# Version of what stage 1 spills: a resume must not mix work files of two versions. 2: exact
# digests by dedup/digests.py (1, unrecorded: xxh3-128), which two versions would not compare.
# 3: ids/S.rows, the hashes of the documents' ids (dedup/id_hashes.py).
WORK_FORMAT = 3


def _check_resume(splits: list[Split], work: WorkDir, config: DedupConfig) -> list[list[list[Any]]]:
    """Record the run's splits, settings and input files (:func:`_file_stamps`) at its first start;
    refuse a resume with other ones, or after an input file changed: the units the first start
    finished read the old content, so a resume would mix two versions of the input (before, a line
    appended to a file after a crash was silently left out). Returns the stamps."""
    config_file = work.path("config.json")
    listed = [[s.kind, s.url, [list(o) for o in s.options]] for s in splits]
    stamps = _file_stamps(splits)
    if work.exists(config_file):
        recorded = work.read_json(config_file)
        if recorded.get("work_format", 1) != WORK_FORMAT:
            raise ConfigError(f"run {work.run_id} was started by another version of haybale (work files of format "
                              f"{recorded.get('work_format', 1)}, this version writes {WORK_FORMAT}); use a new --run-id")
        if recorded["config"] != config.fingerprint():
            raise ConfigError(f"run {work.run_id} was started with other settings; use a new --run-id")
        if recorded["splits"] != listed:
            raise ConfigError(f"run {work.run_id} was started with other inputs; use a new --run-id")
        before = {url: (size, modified) for files in recorded.get("input_files", stamps) for url, size, modified in files}
        for url, size, modified in (f for files in stamps for f in files):
            if before.get(url, (size, modified)) != (size, modified):
                was_size, was_modified = before[url]
                raise ConfigError(f"input {url} changed since run {work.run_id} started (size {was_size} -> {size} "
                                  f"bytes, modified {was_modified} -> {modified}); what the run read of it is stale: "
                                  "start a new run (a new --run-id, with --overwrite to replace this output)")
    else:
        work.write_json(config_file, {"config": config.fingerprint(), "splits": listed, "input_files": stamps,
                                      "work_format": WORK_FORMAT})
    return stamps


# Splits whose url is an input file (a group's members are such splits); a catalog split names
# pieces its run planned, which do not change.
_FILE_KINDS = ("jsonl", "parquet", "warc")
# The first of these that a file system's info holds stamps a version of a file (local mtime, S3
# LastModified, GCS updated, an ETag).
_MODIFIED_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "ETag", "etag", "md5Hash")


def _file_stamps(splits: list[Split]) -> list[list[list[Any]]]:
    """Per split, ``[url, size, modified]`` of each input file it reads (none for other kinds)."""
    return [[_stamp(member.url) for member in _members(split) if member.kind in _FILE_KINDS] for split in splits]


def _members(split: Split) -> list[Split]:
    return members_of(split) if split.kind == GROUP_KIND else [split]


def _stamp(url: str) -> list[Any]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        info = fs.info(path)
    except (OSError, ValueError):  # gone since it was listed: its split's read names it
        return [url, None, None]
    modified = next((info[key] for key in _MODIFIED_KEYS if info.get(key) is not None), None)
    return [url, int(info.get("size") or 0), None if modified is None else str(modified)]


def _input_sizes(splits: list[Split], stamps: list[list[list[Any]]] | None = None) -> list[int]:
    """Size of each split's input (0 when unknown), for the throughput and ETA lines: from the
    files' stamps when it has any, else asked of the file system."""
    stamps = stamps or [[] for _ in splits]
    # a size is None when the file could not be looked at (gone since it was listed): its read names it
    return [sum(size or 0 for _, size, _ in files) if files else split_size(split) for split, files in zip(splits, stamps)]


def _read_progress(sizes: list[int], started: float) -> Callable[[list[dict[str, Any]]], str]:
    """A progress line from the splits finished so far: documents/s, MB/s of document text read and
    ETA.

    The rate counts the text the finished splits read (their ``bytes_in``), not the sizes of the
    input files: a catalog input's splits are small manifests naming key ranges, whose size says
    nothing of the records behind them. The ETA weighs splits by input size when every size is known,
    else counts them. Counted per finished split (no per-batch messages to the driver, which would
    cost a call each); with many splits per worker, as at scale, that is fine-grained enough.
    """
    weights = sizes if sizes and all(sizes) else [1] * len(sizes)
    total = sum(weights)

    def line(finished: list[dict[str, Any]]) -> str:
        documents = sum(int(r.get("documents_in", 0)) for r in finished)
        text_bytes = sum(int(r.get("bytes_in", 0)) for r in finished)
        done_weight = sum(weights[int(r["split"])] for r in finished if "split" in r)
        elapsed = max(time.monotonic() - started, 1e-9)
        text = f"{documents:,} docs, {documents / elapsed:,.0f} docs/s, {human_bytes(text_bytes / elapsed)}/s of text"
        if total and done_weight and done_weight < total:
            text += f", ETA {elapsed * (total - done_weight) / done_weight:.0f} s"
        return text

    return line


def _summary(
    work: WorkDir,
    config: DedupConfig,
    inputs: list[str],
    splits: list[Split],
    read_stats: list[dict[str, Any]],
    pairs: dict[str, int],
    histogram: dict[str, list[int]],
    cluster_stats: dict[str, Any],
    write_stats: list[dict[str, int]],
    timings: dict[str, float],
) -> dict[str, Any]:
    removed: dict[str, int] = {}
    kept = 0
    for stats in write_stats:
        for key, value in stats.items():
            if key in ("node", "unit_seconds", "unit_cpu_seconds"):
                continue
            if key == "kept":
                kept += value
            else:
                removed[key] = removed.get(key, 0) + value
    documents_in = sum(int(s["documents_in"]) for s in read_stats)
    total_seconds = sum(timings.values())
    return {
        "run_id": work.run_id,
        "inputs": inputs,
        "splits": len(splits),
        "config": config.to_json(),
        "documents": {
            "input": documents_in,
            "kept": kept,
            "removed": sum(removed.values()),
            "removed_by_reason": removed,
            "quarantined": sum(int(s["quarantined"]) for s in read_stats),
            # every input record: documents read (= kept + removed) plus the quarantined ones
            "records": documents_in + sum(int(s["quarantined"]) for s in read_stats),
            "warnings": sum(int(s.get("warnings", 0)) for s in read_stats),
        },
        # HTML pages nested deeper than the bound (dedup/clean/nesting.py): the tags past it cut before
        # cleaning, the text kept; all counted, the first LISTED_FLATTENED in input order named (as
        # clean-html names them): {"id", "url", "tags"}
        "flattened_count": sum(int(s.get("flattened", 0)) for s in read_stats),
        # WARC records that are not documents, by type (request, warcinfo, metadata, revisit...): read
        # and counted, neither output nor quarantined; with documents.records, every record of the input
        "not_documents": _summed(s.get("not_documents", {}) for s in read_stats),
        "flattened": [page for s in read_stats for page in s.get("flattened_pages", [])][:LISTED_FLATTENED],
        **({"priority": {"field": config.priority_field,
                         "documents_without": sum(int(s.get("no_priority", 0)) for s in read_stats)}}
           if config.keep == "priority" and config.priority_field else {}),
        "bytes_input_text": sum(int(s["bytes_in"]) for s in read_stats),
        "pairs": pairs,
        "candidate_similarity_histogram": histogram,
        "clusters": {k: v for k, v in cluster_stats.items()},
        "documents_per_second": round(documents_in / total_seconds, 1) if total_seconds else None,
        "outputs": {
            "data": f"{work.output}/data/",
            "removed": f"{work.output}/removed/",
            "quarantine": f"{work.output}/quarantine.parquet",
            "plots": {f"{work.output}/{name}": what for name, what in PLOT_DESCRIPTIONS.items()},
            "work_dir": work.root,
        },
    }


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """The per-split counts by name added up, names sorted."""
    total: dict[str, int] = {}
    for one in counts:
        for name, n in one.items():
            total[name] = total.get(name, 0) + int(n)
    return dict(sorted(total.items()))
