"""The files ingest job: small files from any fsspec URL or glob into volumes and the catalog.

Work moves in splits of thousands of files (one Ray task per split, never per file; or, with
``local=True`` / ``--no-ray``, one split after another in this process, with the same rules). Each
split's files are read, packed into volumes as WARC ``resource`` records (keyed by their ``file://``
URI or URL, dated by their modification time when the filesystem reports one) and the volumes sealed;
the driver registers them and then writes the split's completion marker (:mod:`ingest.runner`).

Unchanged files are skipped: before a split is dispatched, the driver looks its keys up, and a file
whose content digest equals the registered one is counted ``unchanged`` and not written again, so
re-ingesting a directory writes only what changed (on Ray and locally alike).

Exactly once: the run id names the plan and the markers (see :mod:`ingest.checkpoint`). After a crash,
a rerun with the same run id skips marked splits and redoes the others; registration is idempotent by
key and content digest, and a volume none of whose records ended up referenced is deleted at once.
Tasks whose worker dies are retried by Ray (``task_retries``). A rerun first removes the volumes a killed
attempt left unreferenced (Ctrl-C between sealing and registering; the runner's sweep,
:mod:`ingest.volume_sweep`).

Unreadable files are rejected (URL and reason in the summary's ``rejected``) and the split goes on.
``max_errors`` is an error budget over the run, decided before registration
(:mod:`ingest.files_budget`): the split whose unreadable files would take the run over it is not
registered at all (its volumes are removed, its rejects still listed in the summary) and the job fails
(:class:`FilesJobError`); splits registered before it stay.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from ingest.errors import FilesJobError
from ingest.executors import Executor, LocalExecutor, TaskExecutor
from ingest.file_sources import Split, check_job_inputs, load_or_plan, own_places
from ingest.files_budget import refuse_split, would_exceed
from ingest.packing import PackResult, PackWork, pack_split
from ingest.registration import Registration, register_split
from ingest.runner import JobSummary, RunContext, SplitJob, new_run_id, run_split_job


@dataclass
class FilesJobConfig:
    """How a files ingest runs. Printed into the run's summary, so an output says how it was made."""

    run_id: str = ""
    split_files: int = 5000
    split_bytes: int = 256 << 20
    volume_bytes: int = DEFAULT_VOLUME_BYTES
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    max_errors: int | None = None  # unreadable files allowed over the run; None: no limit
    follow_links: bool = False  # follow symbolic links inside input directories to regular files
    max_in_flight: int = 0  # 0: twice the cluster's CPUs
    task_retries: int = 3


@dataclass
class FilesJobSummary(JobSummary):
    """``files``: files read by this attempt (packed or found unchanged); ``bytes``: their bytes."""

    files: int = 0
    bytes: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["files_per_s"] = round(self.files / self.seconds, 1) if self.seconds else None
        out["mb_per_s"] = round(self.bytes / self.seconds / 1e6, 2) if self.seconds else None
        return out


class FilesJob(SplitJob):
    kind, unit = "files", "files"

    def __init__(self, store: Store, inputs: list[str], config: FilesJobConfig) -> None:
        self.store, self.inputs, self.config = store, inputs, config
        self.summary = FilesJobSummary(config.run_id or new_run_id("files"), config=asdict(config))
        self.rejected_in_run = 0  # unreadable files of every registered split, earlier attempts' too
        self.refused: list[dict[str, str]] = []  # rejects of the split refused by the error budget

    def plan(self, ctx: RunContext) -> list[Split]:
        check_job_inputs(self.inputs, local=ctx.local, max_errors=self.config.max_errors)
        plan = load_or_plan(ctx.state, self.inputs, max_files=self.config.split_files,
                            max_bytes=self.config.split_bytes, follow_links=self.config.follow_links,
                            own=own_places(self.store.layout))
        self.summary.not_read = plan.not_read
        return plan.splits

    def items(self, split: Split) -> int:
        return len(split.files)

    def executor(self, ctx: RunContext) -> Executor:
        if ctx.local:
            return LocalExecutor(pack_split, ctx.run_id)
        return TaskExecutor(pack_split, ctx.run_id, cap=self.config.max_in_flight, retries=self.config.task_retries)

    def prepare(self, split: Split) -> PackWork:
        keys = [f.key for f in split.files]
        known = {key: loc.digest for key, loc in zip(keys, self.store.catalog.get_many(keys)) if loc is not None}
        owners = None
        # The workers register straight to the owners, unless an error budget is set: the budget is
        # decided on the driver before a split is registered, so a refused split must not be registered
        # by its worker first (its volumes are removed when it is refused).
        if self.store.cluster and self.config.max_errors is None:
            owners = (self.store.root, str(self.store.layout.catalog_dir), self.store.catalog.meta.num_owners)
        return PackWork(self.store.layout.run_volumes_url(self.summary.run_id), self.config.volume_bytes,
                        self.config.compresslevel, f"vol-s{split.index:06d}", known, owners)

    def check_budget(self, split: Split | None, result: PackResult | None) -> None:
        limit = self.config.max_errors
        summary_file = f"{self.store.layout.run_url(self.summary.run_id)}/summary.json"
        if result is not None:
            if would_exceed(self.rejected_in_run, result, limit):
                self.refused = result.rejects
                self.summary.rejected += result.rejects
                raise refuse_split(self.store, result, rejected_so_far=self.rejected_in_run, max_errors=limit,
                                   summary_file=summary_file, run_id=self.summary.run_id)
            return
        if limit is not None and self.rejected_in_run > limit:  # what earlier attempts registered
            raise FilesJobError(f"{self.rejected_in_run} files unreadable in the splits earlier attempts of run "
                                f"{self.summary.run_id} registered, over the error budget --max-errors {limit}: fix "
                                "or drop the bad inputs, or raise the budget and rerun with the same --run-id to go on")

    def keeps_report(self) -> bool:
        """A run refused by its error budget keeps its summary (the error points to it)."""
        return bool(self.refused)

    def register(self, ctx: RunContext, split: Split, payload: PackWork, result: PackResult
                 ) -> tuple[Registration, dict[str, Any]]:
        # every key of the split, also those skipped as unchanged: the marker lists where each one lives
        registration = register_split(ctx.store, result.sealed, also_keys=[f.key for f in split.files],
                                      registered=result.registered)
        return registration, {"files": result.files, "unchanged": result.unchanged, "bytes": result.bytes,
                              "rejects": result.rejects}

    def account(self, marker: dict[str, Any], result: PackResult | None) -> None:
        self.rejected_in_run += len(marker.get("rejects", []))
        if result is None:
            return  # counts cover this attempt
        self.summary.files += result.files + result.unchanged
        self.summary.bytes += result.bytes
        self.summary.unchanged += result.unchanged
        self.summary.rejected += result.rejects

    def progress(self, split: Split, payload: PackWork, result: PackResult) -> tuple[int, int, int]:
        return result.files + result.unchanged + len(result.rejects), result.bytes, len(result.rejects)


def run_files_job(store: Store, inputs: list[str], config: FilesJobConfig, *, show_progress: bool = True,
                  address: str | None = None, num_cpus: int | None = None, local: bool = False) -> FilesJobSummary:
    """Ingest ``inputs`` into ``store``: in this process (``local``), else on Ray — the one already
    initialized, else ``address`` / ``$RAY_ADDRESS``, else a local Ray with ``num_cpus`` started for
    the job. Inputs are planned (and bad inputs refused) before Ray starts."""
    job = FilesJob(store, inputs, config)
    run_split_job(store, job, local=local, address=address, num_cpus=num_cpus, show_progress=show_progress)
    return job.summary
