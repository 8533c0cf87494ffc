"""The WARC ingest job: WARC, WARC.gz, WET and ARC files indexed in place or repacked.

Work moves in splits of whole files (one Ray task per split, or one after another in this process
with ``local=True``; a big file is a split of its own), driven by :mod:`ingest.runner`. Each split runs
:func:`ingest.warc_indexing.index_split`: it writes the CDXJ index of every file indexed in place
(``ROOT/indexes/RUN_ID/``) and seals the volumes of repacked records. Then the split is registered
(:mod:`ingest.warc_registration`) — each external file in the volume table (``kind: external``) with its
records' locations, and the sealed volumes — by the split's own Ray worker straight to the catalog's
owners on a cluster store without an error budget (:mod:`ingest.warc_worker`: one split at a time, in
plan order), else by the driver; and only then does the driver write the split's completion marker.
Data first, index second, catalog third, marker last. When the command starts the root's local head
itself, splits at the tail of the plan are indexed on the driver while the head starts, and the driver
registers them, last (:mod:`ingest.driver_split`; the summary's ``splits_on_driver``).

Duplicate target URIs (within a file, between files, or already in the catalog): registration is
idempotent by key + digest, and when the digest differs **the latest capture by WARC-Date wins**
(equal dates: the later one in input order), whatever order files were given or Ray finished them in
(:mod:`catalog.captures`); the summary counts the captures replaced (``captures_replaced``). Note that a
WARC and the WET made from it share target URIs: in one root one replaces the other.

Exactly once: the run id names the plan and the markers (:mod:`ingest.checkpoint`); a rerun skips
marked splits and redoes the rest, and a redone split changes nothing already registered (in-place
locations are the same; repacked volumes whose records are all registered already are deleted). A run
under a new run id over files repacked before writes their records again; a volume of it that nothing
points into is deleted unless it holds records without keys that no earlier split's volumes hold
(:func:`ingest.warc_registration.unkeyed_held_elsewhere`; counted as ``unkeyed_held``). Files indexed in
place get a CDXJ index file per run (small; ``catalog rebuild`` counts the second as duplicates).

Quarantined records (file, offset, reason) are counted in the summary and written, in split order, to
``ROOT/runs/RUN_ID/quarantine.jsonl``. ``max_errors`` is an error budget, decided before registration
(:mod:`ingest.warc_budget`): the split that would take the run over it is not registered at all (its
volumes and index files are removed, its quarantined records still go to ``quarantine.jsonl``) and the
job fails (:class:`WarcJobError`); splits registered before it stay. The runner sweeps the volumes a
killed attempt left unreferenced before a rerun redoes its splits (:mod:`ingest.volume_sweep`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from catalog.storage import write_atomic
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from ingest.errors import WarcJobError
from ingest.executors import Executor, LocalExecutor, TaskExecutor
from ingest.file_sources import Split, check_job_inputs, load_or_plan, own_places
from ingest.registration import Registration
from ingest.runner import JobSummary, RunContext, SplitJob, new_run_id, run_split_job
from ingest.warc_budget import refuse_split, would_exceed
from ingest.warc_indexing import IndexOptions, WarcSplitResult, index_split
from ingest.warc_registration import register_warc_split
from ingest.warc_worker import Registered, WorkerRegistration, register_from_worker

__all__ = ["WarcJobConfig", "WarcJobError", "WarcJobSummary", "register_split", "run_warc_job"]
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
    follow_links: bool = False  # follow symbolic links inside input directories to regular files
    max_in_flight: int = 0  # 0: twice the cluster's CPUs
    task_retries: int = 3


@dataclass
class WarcJobSummary(JobSummary):
    """Record counts cover the whole run (splits done by earlier attempts too)."""

    files: int = 0
    files_in_place: int = 0
    files_repacked: int = 0
    bytes: int = 0
    records: int = 0
    indexed: int = 0
    repacked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    external_files: int = 0
    captures_replaced: int = 0  # captures of a key not kept because a later one (by WARC-Date) was
    unkeyed_copied: int = 0  # repack: request/metadata/warcinfo/revisit records copied into volumes
    # of those, copied again by a rerun and not kept: the volumes of an earlier split hold them already
    unkeyed_held: int = 0
    per_file: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # the first SUMMARY_QUARANTINE_LIMIT
    quarantine_file: str = ""
    warned: int = 0  # records kept with a warning (a WARC-Date that is not a date)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # the first SUMMARY_QUARANTINE_LIMIT

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["records_per_s"] = round(self.records / self.seconds, 1) if self.seconds else None
        out["mb_per_s"] = round(self.bytes / self.seconds / 1e6, 2) if self.seconds else None
        return out


@dataclass(frozen=True)
class WarcWork:
    """What a split is dispatched with: where repacked volumes and in-place indexes go, and how;
    ``registration`` set: the worker registers the split itself (:mod:`ingest.warc_worker`)."""

    volumes_url: str
    indexes_url: str
    options: IndexOptions
    registration: WorkerRegistration | None = None


def index_work(split: Split, work: WarcWork) -> WarcSplitResult:
    """The work of one split, on a worker: :func:`index_split` with the payload's settings, then the
    split's registration through the owners if the payload asks for it."""
    result = index_split(split, work.volumes_url, work.indexes_url, work.options)
    if work.registration is not None:
        return register_from_worker(result, work.registration)
    return result


def register_split(store: Store, result: WarcSplitResult, run_id: str,
                   summary: WarcJobSummary | None = None) -> tuple[Registration, dict[str, Any]]:
    """Register one split (driver side, no Ray): :func:`ingest.warc_registration.register_warc_split`;
    returns the registration and the split's completion-marker fields. ``summary``, if given, receives
    the catalog counts (the job's runner does this itself)."""
    registration, fields = register_warc_split(store, result, run_id)
    if summary is not None:
        summary.added += registration.added
        summary.updated += registration.updated
        summary.unchanged += registration.unchanged
        summary.captures_replaced += fields["captures_replaced"]
    return registration, fields


class WarcJob(SplitJob):
    kind, unit, ordered = "warc", "files", True  # plan order: on equal WARC-Dates, the later record wins

    def __init__(self, store: Store, inputs: list[str], config: WarcJobConfig) -> None:
        self.store, self.inputs, self.config = store, inputs, config
        self.summary = WarcJobSummary(config.run_id or new_run_id("warc"), config=asdict(config))
        self.summary.quarantine_file = store.layout.quarantine_url(self.summary.run_id)
        self.refused: list[dict[str, Any]] = []  # quarantined records of the split refused by the budget
        self.splits: list[Split] = []
        self.worker_registration: WorkerRegistration | None = None  # set: workers register (in plan order)
        self._tasks: TaskExecutor | None = None
        self._previous: dict[int, int] = {}  # split index -> the split before it in this attempt's plan order

    def plan(self, ctx: RunContext) -> list[Split]:
        check_job_inputs(self.inputs, local=ctx.local, max_errors=self.config.max_errors)
        plan = load_or_plan(ctx.state, self.inputs, max_files=self.config.split_files,
                            max_bytes=self.config.split_bytes, repack=self.config.repack,
                            follow_links=self.config.follow_links, own=own_places(self.store.layout))
        self.splits, self.summary.not_read = plan.splits, plan.not_read
        return self.splits

    def items(self, split: Split) -> int:
        return len(split.files)

    def executor(self, ctx: RunContext) -> Executor:
        if ctx.local:
            return LocalExecutor(index_work, ctx.run_id)
        # The workers register straight to the owners, unless an error budget is set: the budget is
        # decided on the driver before a split is registered, so a refused split must not be registered
        # by its worker first (its volumes and index files are removed when it is refused).
        workers_register = self.store.cluster and self.config.max_errors is None
        if workers_register:
            done = ctx.state.done_splits()
            order = [s.index for s in self.splits if s.index not in done]
            self._previous = dict(zip(order[1:], order))
            self.worker_registration = WorkerRegistration(self.store.root, str(self.store.layout.catalog_dir),
                                                          ctx.run_id)
        self._tasks = TaskExecutor(index_work, ctx.run_id, cap=self.config.max_in_flight,
                                   retries=self.config.task_retries, keep_refs=workers_register)
        return self._tasks

    def prepare(self, split: Split) -> WarcWork:
        return replace(self.driver_payload(split), registration=self._registration(split))

    def _registration(self, split: Split) -> WorkerRegistration | None:
        """How ``split``'s worker registers it: after the task of the split before it (in this attempt's
        plan order; splits are submitted in that order), or not at all (None: the driver does)."""
        if self.worker_registration is None or self._tasks is None:
            return None  # no worker registration
        previous = self._previous.get(split.index)
        if previous is None:
            return self.worker_registration
        after = self._tasks.refs.pop(previous, None)
        if after is None:
            raise RuntimeError(f"split {split.index} prepared before split {previous}, the one before it "
                               "in plan order: splits must be submitted in plan order")
        return replace(self.worker_registration, after=after)

    def driver_work(self) -> Any:
        """Splits at the tail of the plan may be indexed on the driver while the local head starts
        (:mod:`ingest.driver_split`); the driver registers them, last."""
        return index_work

    def driver_payload(self, split: Split) -> WarcWork:
        """The split's payload without a worker registration: what the driver indexes (it registers the
        split itself), and what :meth:`prepare` adds a worker registration to."""
        options = IndexOptions(repack=self.config.repack, volume_bytes=self.config.volume_bytes,
                               compresslevel=self.config.compresslevel, name_prefix=f"warc-s{split.index:06d}")
        run_id = self.summary.run_id
        return WarcWork(self.store.layout.run_volumes_url(run_id), self.store.layout.run_indexes_url(run_id), options)

    def check_budget(self, split: Split | None, result: WarcSplitResult | None) -> None:
        limit = self.config.max_errors
        if result is not None:
            if would_exceed(self.summary.quarantined, result, limit):
                self.refused = result.quarantined
                raise refuse_split(self.store, result, quarantined_so_far=self.summary.quarantined, max_errors=limit,
                                   quarantine_file=self.summary.quarantine_file, run_id=self.summary.run_id)
            return
        if limit is not None and self.summary.quarantined > limit:  # what earlier attempts registered
            raise WarcJobError(f"{self.summary.quarantined} records quarantined, over the error budget --max-errors "
                               f"{limit}: see {self.summary.quarantine_file}; fix or drop the bad inputs, or raise "
                               "the budget and rerun with the same --run-id to go on")

    def keeps_report(self) -> bool:
        """A run refused by its error budget keeps its quarantine report (the error points to it)."""
        return bool(self.refused)

    def register(self, ctx: RunContext, split: Split, payload: WarcWork, result: WarcSplitResult
                 ) -> tuple[Registration, dict[str, Any]]:
        done: Registered | None = result.registered
        if done is None:
            return register_split(ctx.store, result, ctx.run_id)
        return Registration(done.added, done.updated, done.unchanged, done.kept, done.dropped,
                            done.volume_urls), done.fields

    def account(self, marker: dict[str, Any], result: WarcSplitResult | None) -> None:
        """Add a split's marker (fresh or from an earlier attempt) to the summary's record counts."""
        summary = self.summary
        for f in marker["files"]:
            summary.files += 1
            summary.files_in_place += f["mode"] == "in-place"
            summary.files_repacked += f["mode"] == "repack"
            summary.records += f["records"]
            summary.indexed += f["indexed"]
            summary.repacked += f["repacked"]
            summary.unkeyed_copied += f.get("unkeyed_copied", 0)
            for kind, n in f["skipped"].items():
                summary.skipped[kind] = summary.skipped.get(kind, 0) + n
            summary.per_file[f["url"]] = {k: f[k] for k in ("mode", "records", "indexed", "repacked", "quarantined")}
            if "quarantined_records" in f:  # markers written before it have none
                summary.per_file[f["url"]]["quarantined_records"] = f["quarantined_records"]
            summary.per_file[f["url"]]["skipped"] = sum(f["skipped"].values())
        summary.bytes += marker["bytes"]
        summary.unkeyed_held += marker.get("unkeyed_held", 0)  # markers written before it have none
        summary.quarantined += len(marker["quarantined"])
        if result is not None:  # catalog counts cover this attempt
            summary.external_files += len(result.external)
            summary.captures_replaced += marker.get("captures_replaced", 0)
        room = SUMMARY_QUARANTINE_LIMIT - len(summary.quarantine)
        summary.quarantine += marker["quarantined"][:max(room, 0)]
        warnings = marker.get("warnings", [])  # markers written before warnings have none
        summary.warned += len(warnings)
        summary.warnings += warnings[:max(SUMMARY_QUARANTINE_LIMIT - len(summary.warnings), 0)]

    def progress(self, split: Split, payload: WarcWork, result: WarcSplitResult) -> tuple[int, int, int]:
        return len(result.files), result.bytes, len(result.quarantined)

    def finish(self, ctx: RunContext) -> None:
        """Every quarantined record of the run, in split order (those of a split refused by the error
        budget last), to ``runs/RUN_ID/quarantine.jsonl``."""
        if not ctx.state.exists():
            return
        markers = ctx.state.done_splits()
        quarantined = [q for i in sorted(markers) for q in markers[i]["quarantined"]] + self.refused
        write_atomic(self.summary.quarantine_file, "".join(json.dumps(q) + "\n" for q in quarantined))


def run_warc_job(store: Store, inputs: list[str], config: WarcJobConfig, *, show_progress: bool = True,
                 address: str | None = None, num_cpus: int | None = None, local: bool = False) -> WarcJobSummary:
    """Ingest the WARC/WET/ARC files named by ``inputs`` (paths, directories, globs, fsspec URLs) into
    ``store``: in this process (``local``), else on Ray — the one already initialized, else ``address``
    / ``$RAY_ADDRESS``, else a local Ray with ``num_cpus``. Record counts cover the whole run, including
    splits done by earlier attempts with the same run id; catalog counts (added/updated/...) cover this
    attempt.

    Raises :class:`IngestError` for inputs that match nothing or live in process memory, and
    :class:`WarcJobError` when the error budget is exceeded.
    """
    job = WarcJob(store, inputs, config)
    run_split_job(store, job, local=local, address=address, num_cpus=num_cpus, show_progress=show_progress)
    return job.summary
