"""The dedup batch job on Ray: the only module that imports ray.

Stages (each unit of work is a Ray task; a unit whose completion marker exists is skipped, so a
rerun with the same ``run_id`` resumes where a killed run stopped and ends with the same output):

1. ``read-S``   per split: read, clean, digest, signature; spill docs/signatures/band keys.
2. ``cand-P``   per shuffle partition: LSH buckets and exact digests → verified edges.
3. ``forest-*`` per partition a union-find forest, then forests merged 4 at a time in rounds;
   ``assign`` picks the kept document of every cluster.
4. ``write-S``  per split: clean Parquet shard and removal report (a task draws the three plots,
   dedup/plots.py, meanwhile).
5. the driver writes summary.json and quarantine.parquet, and sends the marks to a MarkSink.

Progress lines (documents/s, MB/s, ETA) go to stderr every 2 s.
"""
from __future__ import annotations

import datetime
import sys
import time
import uuid
from typing import Any, Callable, Protocol, Sequence

import fsspec
import ray

from catalog.progress import human_bytes
from dedup.candidates import process_partition
from dedup.components import assign_clusters, merge_forests, partition_forest
from dedup.config import DedupConfig
from dedup.errors import ConfigError, JobError
from dedup.outputs import collect_quarantine, iter_marks, removal_counts, write_split_outputs
from dedup.plots import PLOT_DESCRIPTIONS, add_histograms, plot_cluster_sizes, plot_removals, plot_s_curve
from dedup.sources import DocumentSource, Split
from dedup.split_stage import process_split
from dedup.workdir import WorkDir

_MERGE_FAN_IN = 4


class MarkSink(Protocol):
    """Receives the final status of every document (e.g. the catalog's marks)."""

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        """``status[i]`` is ``"kept"`` or ``"removed"``; ``reason[i]`` is None for kept documents."""
        ...


@ray.remote(num_cpus=1)
def _read_task(index: int, split: Split, source: DocumentSource, config: DedupConfig, work: WorkDir) -> dict[str, Any]:
    name = f"read-{index:06d}"
    if work.done(name):
        return work.marker_info(name)
    info = process_split(index, split, source, config, work).as_dict()
    work.mark_done(name, info)
    return info


@ray.remote(num_cpus=1)
def _candidates_task(partition: int, n_splits: int, config: DedupConfig, work: WorkDir) -> dict[str, Any]:
    name = f"cand-{partition:05d}"
    if work.done(name):
        return work.marker_info(name)
    info = process_partition(partition, n_splits, config.threshold, work, config.verify, config.near_duplicate_rule)
    work.mark_done(name, info)
    return info


@ray.remote(num_cpus=1)
def _forest_task(partition: int, work: WorkDir) -> int:
    name = f"forest-0-{partition:05d}"
    if not work.done(name):
        work.mark_done(name, {"nodes": partition_forest(partition, work)})
    return int(work.marker_info(name)["nodes"])


@ray.remote(num_cpus=1)
def _merge_task(round_index: int, index: int, inputs: list[str], work: WorkDir) -> int:
    name = f"forest-{round_index}-{index:05d}"
    if not work.done(name):
        work.mark_done(name, {"nodes": merge_forests(round_index, index, inputs, work)})
    return int(work.marker_info(name)["nodes"])


@ray.remote(num_cpus=1)
def _assign_task(forest_path: str, config: DedupConfig, work: WorkDir) -> dict[str, Any]:
    if not work.done("assign"):
        work.mark_done("assign", assign_clusters(forest_path, config.keep, work, config.verify, config.threshold))
    return work.marker_info("assign")


@ray.remote(num_cpus=1)
def _plots_task(cluster_stats: dict[str, Any], histogram: dict[str, list[int]], documents_in: int, n_splits: int,
                config: DedupConfig, work: WorkDir) -> None:
    # Runs beside the write tasks: importing matplotlib and drawing costs about a second.
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


@ray.remote(num_cpus=1)
def _write_task(split: int, work: WorkDir) -> dict[str, int]:
    name = f"write-{split:06d}"
    if not work.done(name):
        work.mark_done(name, write_split_outputs(split, work))
    return work.marker_info(name)


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


def _wait_all(refs: list[Any], stage: str, reporter: _Reporter, poll: Callable[[], str] | None = None) -> list[Any]:
    """Wait for tasks, reporting progress every 2 s; failures become JobError naming the stage."""
    pending = list(refs)
    started = time.monotonic()
    last = 0.0
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=2.0)
        now = time.monotonic()
        if now - last >= 2.0 or not pending:
            detail = poll() if poll is not None else ""
            reporter.line(f"{stage}: {len(refs) - len(pending)}/{len(refs)} done, {now - started:.0f} s {detail}".rstrip())
            last = now
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        raise JobError(f"stage {stage} failed: {exc.cause if hasattr(exc, 'cause') else exc}") from exc


def run_dedup(
    source: DocumentSource,
    output: str,
    config: DedupConfig = DedupConfig(),
    run_id: str | None = None,
    address: str | None = None,
    mark_sink: MarkSink | None = None,
    progress: bool = True,
    inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) the dedup job and return its summary (also written to output/summary.json).

    Uses the running Ray if one is initialized, else connects to ``address`` (or starts a local
    Ray, shut down at the end). Errors: ConfigError when resuming a run id with other settings or
    other inputs; JobError when a stage fails or quarantined records exceed ``max_bad_records``.
    """
    run_id = run_id or new_run_id()
    work = WorkDir(output, run_id)
    reporter = _Reporter(progress)
    # Listing first: a missing input fails in milliseconds, before a local Ray is started.
    splits = source.splits()
    started_ray = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_ray = True
    try:
        return _run(source, splits, work, config, reporter, mark_sink, list(inputs))
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
) -> dict[str, Any]:
    timings: dict[str, float] = {}
    _check_resume(splits, work, config)
    n_splits, partitions = len(splits), config.partitions
    reporter.line(f"run {work.run_id}: {n_splits} splits, {partitions} partitions, LSH {config.lsh.bands}x{config.lsh.rows}")

    clock = time.monotonic()
    sizes = _input_sizes(splits)
    refs = [_read_task.remote(i, s, source, config, work) for i, s in enumerate(splits)]
    read_stats = _wait_all(refs, "read+signatures", reporter, _read_progress(refs, sizes, clock))
    timings["read_clean_signature"] = time.monotonic() - clock
    quarantined = sum(int(s["quarantined"]) for s in read_stats)
    if 0 <= config.max_bad_records < quarantined:
        raise JobError(f"{quarantined} bad records exceed the error budget of {config.max_bad_records}; see {work.path('quarantine')}")

    clock = time.monotonic()
    cand_stats = _wait_all(
        [_candidates_task.remote(p, n_splits, config, work) for p in range(partitions)], "candidates", reporter
    )
    timings["candidates_verify"] = time.monotonic() - clock

    clock = time.monotonic()
    forest_path = _components(work, partitions, reporter)
    cluster_stats = _wait_all([_assign_task.remote(forest_path, config, work)], "assign", reporter)[0]
    timings["components"] = time.monotonic() - clock

    clock = time.monotonic()
    histogram = add_histograms([c.get("similarity_histogram", {}) for c in cand_stats])
    documents_in = sum(int(s["documents_in"]) for s in read_stats)
    plots = _plots_task.remote(cluster_stats, histogram, documents_in, n_splits, config, work)
    write_stats = _wait_all([_write_task.remote(s, work) for s in range(n_splits)], "write", reporter)
    _wait_all([plots], "plots", reporter)
    timings["write"] = time.monotonic() - clock

    clock = time.monotonic()
    summary = _summary(work, config, inputs, splits, read_stats, cand_stats, cluster_stats, write_stats, timings)
    work.write_table(f"{work.output}/quarantine.parquet", collect_quarantine(work, n_splits))
    if mark_sink is not None:
        for ids, status, reasons in iter_marks(work, n_splits):
            mark_sink.mark(ids, status, reasons)
    timings["summary_marks"] = time.monotonic() - clock
    summary["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    work.write_json(f"{work.output}/summary.json", summary)
    reporter.line(f"done: kept {summary['documents']['kept']} of {summary['documents']['input']} documents")
    return summary


def _check_resume(splits: list[Split], work: WorkDir, config: DedupConfig) -> None:
    """Record the run's splits and settings at its first start; refuse a resume with others."""
    config_file = work.path("config.json")
    listed = [[s.kind, s.url, [list(o) for o in s.options]] for s in splits]
    if work.exists(config_file):
        recorded = work.read_json(config_file)
        if recorded["config"] != config.fingerprint():
            raise ConfigError(f"run {work.run_id} was started with other settings; use a new --run-id")
        if recorded["splits"] != listed:
            raise ConfigError(f"run {work.run_id} was started with other inputs; use a new --run-id")
    else:
        work.write_json(config_file, {"config": config.fingerprint(), "splits": listed})


def _input_sizes(splits: list[Split]) -> list[int]:
    """Size of each input file (0 when unknown), for the throughput and ETA lines."""
    sizes = []
    for split in splits:
        try:
            fs, path = fsspec.core.url_to_fs(split.url)
            sizes.append(int(fs.size(path) or 0))
        except (OSError, ValueError, TypeError):
            sizes.append(0)
    return sizes


def _read_progress(refs: list[Any], sizes: list[int], started: float) -> Callable[[], str]:
    """A progress line from the splits finished so far: documents/s, MB/s of document text read and
    ETA.

    The rate counts the text the finished splits read (their ``bytes_in``), not the sizes of the
    input files: a catalog input's splits are small manifests naming key ranges, whose size says
    nothing of the records behind them. The ETA weighs splits by file size when every size is known,
    else counts them. Counted per finished split (no per-batch messages to the driver, which would
    cost a Ray call each); with many splits per worker, as at scale, that is fine-grained enough.
    """
    weights = sizes if sizes and all(sizes) else [1] * len(refs)
    total = sum(weights)
    finished: dict[Any, tuple[int, int]] = {}  # ref -> (documents, text bytes)

    def line() -> str:
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            if ref not in finished:
                try:
                    stats = ray.get(ref)
                    finished[ref] = (int(stats["documents_in"]), int(stats["bytes_in"]))
                except ray.exceptions.RayError:
                    finished[ref] = (0, 0)  # the failure is reported by _wait_all
        documents = sum(d for d, _ in finished.values())
        text_bytes = sum(b for _, b in finished.values())
        done_weight = sum(w for ref, w in zip(refs, weights) if ref in finished)
        elapsed = max(time.monotonic() - started, 1e-9)
        text = f"{documents:,} docs, {documents / elapsed:,.0f} docs/s, {human_bytes(text_bytes / elapsed)}/s of text"
        if total and done_weight and done_weight < total:
            text += f", ETA {elapsed * (total - done_weight) / done_weight:.0f} s"
        return text

    return line


def _components(work: WorkDir, partitions: int, reporter: _Reporter) -> str:
    """Forests per partition, merged in rounds of ``_MERGE_FAN_IN``; returns the final forest's path."""
    _wait_all([_forest_task.remote(p, work) for p in range(partitions)], "components round 0", reporter)
    paths = [work.path("forest", f"0-{p:05d}.parquet") for p in range(partitions)]
    round_index = 0
    while len(paths) > 1 or round_index == 0:
        round_index += 1
        groups = [paths[i : i + _MERGE_FAN_IN] for i in range(0, len(paths), _MERGE_FAN_IN)]
        _wait_all(
            [_merge_task.remote(round_index, i, group, work) for i, group in enumerate(groups)],
            f"components round {round_index}",
            reporter,
        )
        paths = [work.path("forest", f"{round_index}-{i:05d}.parquet") for i in range(len(groups))]
    return paths[0]


def _summary(
    work: WorkDir,
    config: DedupConfig,
    inputs: list[str],
    splits: list[Split],
    read_stats: list[dict[str, Any]],
    cand_stats: list[dict[str, Any]],
    cluster_stats: dict[str, Any],
    write_stats: list[dict[str, int]],
    timings: dict[str, float],
) -> dict[str, Any]:
    removed: dict[str, int] = {}
    kept = 0
    for stats in write_stats:
        for key, value in stats.items():
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
        "bytes_input_text": sum(int(s["bytes_in"]) for s in read_stats),
        "pairs": {
            key: sum(int(s[key]) for s in cand_stats)
            for key in ("candidate_pairs", "verified_pairs", "rejected_pairs", "exact_pairs")
        },
        "candidate_similarity_histogram": add_histograms([s.get("similarity_histogram", {}) for s in cand_stats]),
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
