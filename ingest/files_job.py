"""The files ingest job on Ray: small files from any fsspec URL or glob into volumes and the catalog.

Work moves in splits of thousands of files (one Ray task per split, never per file). Each task reads
its files, packs them into volumes and seals them; the driver, which holds the catalog, registers a
split's volumes and then writes the split's completion marker.

Exactly once: the run id names the plan and the markers (see :mod:`ingest.checkpoint`). After a crash,
a rerun with the same run id skips marked splits and redoes the others; registration is idempotent by
key and content digest, so a split redone after its volumes were registered changes nothing, and a
volume none of whose records ended up referenced (written twice by a redo) is deleted at once. Tasks
whose worker dies are retried by Ray (``max_retries``).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any


from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.failpoints import failpoint
from catalog.progress import Progress
from ingest.checkpoint import RunState
from ingest.errors import IngestError
from ingest.file_sources import Split, load_or_plan
from ingest.packing import PackResult, pack_split
from ingest.ray_runtime import ray_connection


@dataclass
class FilesJobConfig:
    """How a files ingest runs. Printed into the run's summary, so an output says how it was made."""

    run_id: str = ""
    split_files: int = 5000
    split_bytes: int = 256 << 20
    volume_bytes: int = DEFAULT_VOLUME_BYTES
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    max_in_flight: int = 0  # 0: twice the cluster's CPUs
    task_retries: int = 3


@dataclass
class FilesJobSummary:
    run_id: str
    splits: int = 0
    splits_skipped_done: int = 0
    files: int = 0
    bytes: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    volumes: int = 0
    volume_bytes: int = 0
    unreferenced_volumes_removed: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files_per_s"] = round(self.files / self.seconds, 1) if self.seconds else None
        out["mb_per_s"] = round(self.bytes / self.seconds / 1e6, 2) if self.seconds else None
        return out


def _register(store: Store, split: Split, result: PackResult, summary: FilesJobSummary) -> list[str]:
    """Register a split's sealed volumes; returns the URLs of the volumes its records now live in
    (after a redo these can be volumes an earlier, killed attempt wrote and registered)."""
    for sealed in result.sealed:
        reg = store.register_sealed(sealed)
        summary.added += reg.added
        summary.updated += reg.updated
        summary.unchanged += reg.unchanged
        if reg.added + reg.updated == 0:
            # every record already registered elsewhere (a redo after a crash): nothing points here
            store.drop_volume(sealed)
            summary.unreferenced_volumes_removed += 1
            continue
        summary.volumes += 1
        summary.volume_bytes += sealed.bytes
    numbers = {loc.volume for loc in store.catalog.get_many([f.key for f in split.files]) if loc is not None}
    return sorted(store.volume_url(n) for n in numbers)


def run_files_job(store: Store, inputs: list[str], config: FilesJobConfig, *,
                  show_progress: bool = True, address: str | None = None,
                  num_cpus: int | None = None) -> FilesJobSummary:
    """Ingest ``inputs`` into ``store`` on Ray: the one already initialized, else ``address`` /
    ``$RAY_ADDRESS``, else a local Ray with ``num_cpus`` started for the job. Inputs are planned
    (and bad inputs refused) before Ray starts."""
    for raw in inputs:
        if raw.startswith("memory://"):
            raise IngestError(f"input {raw!r} is in-process memory, which Ray workers cannot see: copy it "
                              "to a shared filesystem or object store, or use --no-ray")
    run_id = config.run_id or f"files-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    state = RunState(store.root.rstrip("/") + "/runs", run_id)
    summary = FilesJobSummary(run_id, config=asdict(config))
    splits = load_or_plan(state, inputs, max_files=config.split_files, max_bytes=config.split_bytes)
    done = state.done_splits()
    todo = [s for s in splits if s.index not in done]
    summary.splits = len(splits)
    summary.splits_skipped_done = len(splits) - len(todo)
    total_files = sum(len(s.files) for s in todo)
    progress = Progress(f"ingest files [{run_id}]", total=total_files, enabled=show_progress)
    with ray_connection(address, num_cpus):
        _run_splits(store, state, todo, config, summary, progress)
    summary.seconds = progress.done()
    state.save_summary(summary.as_dict())
    return summary


def _run_splits(store: Store, state: RunState, todo: list[Split], config: FilesJobConfig,
                summary: FilesJobSummary, progress: Progress) -> None:
    import ray

    run_id = state.run_id
    pack = ray.remote(max_retries=config.task_retries, retry_exceptions=False)(pack_split)
    in_flight_cap = config.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
    volumes_url = store.volumes_url.rstrip("/") + f"/{run_id}"
    pending: dict[Any, Split] = {}
    queue = list(todo)
    while queue or pending:
        while queue and len(pending) < in_flight_cap:
            split = queue.pop(0)
            ref = pack.remote(split, volumes_url, volume_bytes=config.volume_bytes,
                              compresslevel=config.compresslevel, name_prefix=f"vol-s{split.index:06d}")
            pending[ref] = split
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            split = pending.pop(ref)
            result: PackResult = ray.get(ref)
            urls = _register(store, split, result, summary)
            failpoint("files_job.after_register")
            state.mark_done(split.index, {"volumes": urls, "files": result.files, "bytes": result.bytes,
                                          "rejects": result.rejects})
            summary.files += result.files
            summary.bytes += result.bytes
            summary.rejected += result.rejects
            progress.update(result.files + len(result.rejects), result.bytes, len(result.rejects))
