"""The WARC ingest job on Ray: WARC, WARC.gz, WET and ARC files indexed in place or repacked.

Work moves in splits of whole files (one Ray task per split; a big file is a split of its own). Each
task runs :func:`ingest.warc_indexing.index_split`: it writes the CDXJ index of every file indexed in
place (``ROOT/indexes/RUN_ID/``) and seals the volumes of repacked records. The driver, which alone
holds the catalog, then registers the split — each external file in the volume table (``kind:
external``) with its records' locations, and the sealed volumes — and only then writes the split's
completion marker. Data first, index second, catalog third, marker last.

Duplicate target URIs (within a file, between files, or already in the catalog): registration is
idempotent by key + digest, and when the digest differs **the later record wins**. "Later" is
deterministic: splits are registered in plan order (files sorted by URL, records in file order),
whatever order Ray finishes them in. Note that a WARC and the WET made from it share target URIs: in
one root the later file's record replaces the other.

Exactly once: the run id names the plan and the markers (:mod:`ingest.checkpoint`); a rerun skips
marked splits and redoes the rest, and a redone split changes nothing already registered (in-place
locations are the same; repacked volumes whose records are all registered already are deleted).

Quarantined records (file, offset, reason) are counted in the summary and written, in split order, to
``ROOT/runs/RUN_ID/quarantine.jsonl``. ``max_errors`` is an error budget: more quarantined records
than that over the run fail the job (:class:`WarcJobError`) after registering the split that
crossed it.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from catalog.location import Location
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from catalog.failpoints import failpoint
from catalog.progress import Progress
from ingest.checkpoint import RunState
from ingest.errors import IngestError, WarcJobError
from ingest.file_sources import Split, load_or_plan
from ingest.ray_runtime import ray_connection
from ingest.warc_indexing import IndexOptions, WarcSplitResult, index_split

SUMMARY_QUARANTINE_LIMIT = 1000


@dataclass
class WarcJobConfig:
    """How a WARC ingest runs. Printed into the run's summary, so an output says how it was made."""

    run_id: str = ""
    repack: bool = False
    split_files: int = 256
    split_bytes: int = 128 << 20
    volume_bytes: int = DEFAULT_VOLUME_BYTES
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    max_errors: int | None = None  # quarantined records allowed over the run; None: no limit
    max_in_flight: int = 0  # 0: twice the cluster's CPUs
    task_retries: int = 3


@dataclass
class WarcJobSummary:
    run_id: str
    splits: int = 0
    splits_skipped_done: int = 0
    files: int = 0
    files_in_place: int = 0
    files_repacked: int = 0
    bytes: int = 0
    records: int = 0
    indexed: int = 0
    repacked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    external_files: int = 0
    volumes: int = 0
    volume_bytes: int = 0
    unreferenced_volumes_removed: int = 0
    per_file: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # the first SUMMARY_QUARANTINE_LIMIT
    quarantine_file: str = ""
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["records_per_s"] = round(self.records / self.seconds, 1) if self.seconds else None
        out["mb_per_s"] = round(self.bytes / self.seconds / 1e6, 2) if self.seconds else None
        return out


def register_split(store: Store, result: WarcSplitResult, run_id: str, summary: WarcJobSummary) -> dict[str, Any]:
    """Register one split (driver side, no Ray) in one atomic catalog call; returns the split's
    completion-marker content.

    The external files and sealed volumes enter the volume table first; then every record, ordered by
    its place in the inputs (file, then offset), so that of two records with one key and different
    digests the later one wins. A sealed volume none of whose records the catalog points to afterwards
    (all registered before, by an attempt that crashed; or all replaced by later records) is deleted.
    Idempotent: registering a split again changes nothing.
    """
    volumes = store.catalog.volumes
    ordered: list[tuple[int, int, str, Location]] = []
    for ext in result.external:
        number = volumes.add(ext.url, {"kind": "external", "bytes": ext.size, "records": len(ext.records),
                                       "sidecar": ext.index_url, "run_id": run_id})
        ordered += [(ext.file_index, off, key, Location(number, off, n, dig)) for key, off, n, dig in ext.records]
    sources = iter(result.repack_sources)
    sealed_numbers = []
    for sealed in result.sealed:
        number = volumes.add(sealed.url, {"kind": "volume", "bytes": sealed.bytes, "records": len(sealed.records),
                                          "sidecar": sealed.sidecar, **sealed.info})
        sealed_numbers.append(number)
        for key, off, n, dig in sealed.records:
            file_index, source_offset = next(sources)
            ordered.append((file_index, source_offset, key, Location(number, off, n, dig)))
    ordered.sort(key=lambda e: (e[0], e[1]))
    reg = store.catalog.register_many((key, loc) for _, _, key, loc in ordered)
    summary.added += reg.added
    summary.updated += reg.updated
    summary.unchanged += reg.unchanged
    summary.external_files += len(result.external)
    keys = list(dict.fromkeys(key for _, _, key, _ in ordered))
    referenced = {loc.volume for loc in store.catalog.get_many(keys) if loc is not None}
    for sealed, number in zip(result.sealed, sealed_numbers):
        if number not in referenced:
            store.drop_volume(sealed)
            summary.unreferenced_volumes_removed += 1
            continue
        summary.volumes += 1
        summary.volume_bytes += sealed.bytes
    return {"volumes": sorted(store.volume_url(n) for n in referenced),
            "files": [asdict(f) for f in result.files], "bytes": result.bytes,
            "quarantined": result.quarantined}


def _count(summary: WarcJobSummary, marker: dict[str, Any]) -> None:
    """Add a split's marker (fresh or from an earlier attempt) to the summary's record counts."""
    for f in marker["files"]:
        summary.files += 1
        summary.files_in_place += f["mode"] == "in-place"
        summary.files_repacked += f["mode"] == "repack"
        summary.records += f["records"]
        summary.indexed += f["indexed"]
        summary.repacked += f["repacked"]
        for kind, n in f["skipped"].items():
            summary.skipped[kind] = summary.skipped.get(kind, 0) + n
        summary.per_file[f["url"]] = {k: f[k] for k in ("mode", "records", "indexed", "repacked", "quarantined")}
        summary.per_file[f["url"]]["skipped"] = sum(f["skipped"].values())
    summary.bytes += marker["bytes"]
    summary.quarantined += len(marker["quarantined"])
    room = SUMMARY_QUARANTINE_LIMIT - len(summary.quarantine)
    summary.quarantine += marker["quarantined"][:max(room, 0)]


def run_warc_job(store: Store, inputs: list[str], config: WarcJobConfig, *, show_progress: bool = True,
                 address: str | None = None, num_cpus: int | None = None) -> WarcJobSummary:
    """Ingest the WARC/WET/ARC files named by ``inputs`` (paths, directories, globs, fsspec URLs) into
    ``store`` on Ray: the one already initialized, else ``address`` / ``$RAY_ADDRESS``, else a local
    Ray with ``num_cpus``. Record counts cover the whole run, including splits done by earlier
    attempts with the same run id; catalog counts (added/updated/...) cover this attempt.

    Raises :class:`IngestError` for inputs that match nothing or live in process memory, and
    :class:`WarcJobError` when the error budget is exceeded.
    """
    for raw in inputs:
        if raw.startswith("memory://"):
            raise IngestError(f"input {raw!r} is in-process memory, which Ray workers cannot see: copy it "
                              "to a shared filesystem or object store")
    if config.max_errors is not None and config.max_errors < 0:
        raise IngestError(f"--max-errors {config.max_errors}: give a number >= 0, or leave it out for no limit")
    run_id = config.run_id or f"warc-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    state = RunState(store.root.rstrip("/") + "/runs", run_id)
    summary = WarcJobSummary(run_id, config=asdict(config))
    summary.quarantine_file = f"{store.root.rstrip('/')}/runs/{run_id}/quarantine.jsonl"
    splits = load_or_plan(state, inputs, max_files=config.split_files, max_bytes=config.split_bytes, repack=config.repack)
    done = state.done_splits()
    todo = [s for s in splits if s.index not in done]
    summary.splits = len(splits)
    summary.splits_skipped_done = len(splits) - len(todo)
    markers = dict(done)
    for index in sorted(done):
        _count(summary, done[index])
    progress = Progress(f"ingest warc [{run_id}]", total=sum(len(s.files) for s in todo), enabled=show_progress)
    try:
        if todo:
            with ray_connection(address, num_cpus):
                _run_splits(store, state, todo, config, summary, progress, markers)
        _check_budget(summary, config)
    finally:
        summary.seconds = progress.done()
        _write_quarantine(state, [markers[i] for i in sorted(markers)])
        state.save_summary(summary.as_dict())
    return summary


def _check_budget(summary: WarcJobSummary, config: WarcJobConfig) -> None:
    if config.max_errors is not None and summary.quarantined > config.max_errors:
        raise WarcJobError(f"{summary.quarantined} records quarantined, over the error budget --max-errors "
                           f"{config.max_errors}: see {summary.quarantine_file}; fix or drop the bad inputs, or "
                           "raise the budget and rerun with the same --run-id to go on")


def _write_quarantine(state: RunState, markers: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(q) + "\n" for m in markers for q in m["quarantined"])
    path = f"{state.dir}/quarantine.jsonl"
    with state.fs.open(path + ".tmp", "w") as fh:
        fh.write(lines)
    state.fs.mv(path + ".tmp", path)


def _run_splits(store: Store, state: RunState, todo: list[Split], config: WarcJobConfig, summary: WarcJobSummary,
                progress: Progress, markers: dict[int, dict[str, Any]]) -> None:
    import ray

    run_id = state.run_id
    task = ray.remote(max_retries=config.task_retries, retry_exceptions=False)(index_split)
    cap = config.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
    volumes_url = store.volumes_url.rstrip("/") + f"/{run_id}"
    indexes_url = f"{store.root.rstrip('/')}/indexes/{run_id}"
    queue = list(todo)
    pending: dict[Any, Split] = {}
    finished: dict[int, WarcSplitResult] = {}  # done by Ray, waiting for earlier splits (plan order)
    order = [s.index for s in todo]
    try:
        while order:
            # finished-but-unregistered results count against the cap: they hold driver memory
            while queue and len(pending) + len(finished) < cap:
                split = queue.pop(0)
                options = IndexOptions(repack=config.repack, volume_bytes=config.volume_bytes,
                                       compresslevel=config.compresslevel, name_prefix=f"warc-s{split.index:06d}")
                pending[task.remote(split, volumes_url, indexes_url, options)] = split
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                split = pending.pop(ref)
                finished[split.index] = ray.get(ref)
            while order and order[0] in finished:
                result = finished.pop(order.pop(0))
                marker = register_split(store, result, run_id, summary)
                failpoint("warc_job.after_register")
                state.mark_done(result.split, marker)
                markers[result.split] = marker
                _count(summary, marker)
                progress.update(len(result.files), result.bytes, len(result.quarantined))
                _check_budget(summary, config)
    finally:
        for ref in pending:
            ray.cancel(ref)
