"""The one ingest job runner: the files, WARC and crawl jobs are each a :class:`SplitJob` run by
:func:`run_split_job`.

What the runner does, the same for every job::

    run id ─► plan (saved once, before any work) ─► skip splits marked done by earlier attempts
      ─► for each remaining split, on an executor (Ray tasks, Ray actor calls, or this process):
           prepare (driver) ─► work (worker: read, pack, seal volumes) ─► budget check (driver)
           ─► register the sealed volumes and sweep the unreferenced ones (driver) ─► marker
      ─► progress on stderr, summary in ROOT/runs/RUN_ID/summary.json

Data first, index second, marker last: the driver, which alone holds the catalog, registers a split's
sealed volumes and only then writes its completion marker, so a rerun with the same run id after a
crash at any moment ends with every input exactly once (registration is idempotent by key and digest;
a volume written again by a redo is deleted by the sweep).

What each job supplies (see :class:`SplitJob`): its plan, the payload a split is dispatched with, the
work a worker does, how a split is registered (:func:`ingest.registration.register_split` with the job's
ordering of entries), an error-budget check run *before* registration, how a marker adds to the
summary, and which executor runs it. ``local=True`` (``--no-ray``) runs the same job with the same
rules in this process (:class:`~ingest.executors.LocalExecutor`).

A run that fails before any split is done leaves nothing behind: its folder, volumes and indexes are
removed (except the report of a job refused by its error budget: its folder keeps ``quarantine.jsonl``
and the summary, which the error points to; see :meth:`SplitJob.keeps_report`). A run that fails later
keeps what it registered; rerun it with the same run id.

Volumes nothing references (a killed attempt sealed them and never registered them, or a worker killed
mid-task was retried) are swept (:func:`ingest.volume_sweep.sweep_run`) while no worker of the run is
writing: before a rerun redoes its unfinished splits, and after a run that finished.
"""
from __future__ import annotations

import time
import uuid
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import fsspec

from catalog.failpoints import failpoint
from catalog.layout import refuse_local_root_on_cluster
from catalog.progress import Progress
from catalog.storage import url_of
from catalog.store import Store
from catalog.volume import VOLUME_SUFFIX
from ingest.checkpoint import RunState
from ingest.driver_split import DriverWorker, WithDriverWorker, starts_local_head
from ingest.errors import IngestJobError
from ingest.executors import Executor, split_failure
from ingest.ray_runtime import ray_connection
from ingest.registration import Registration
from ingest.run_lease import run_lease
from ingest.volume_sweep import sweep_run


@dataclass
class JobSummary:
    """What every ingest run reports; each job's summary adds its own counts. ``added``/``updated``/
    ``unchanged`` and the volume counts cover this attempt; a job's record counts may cover the run."""

    run_id: str
    splits: int = 0
    splits_skipped_done: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    volumes: int = 0
    volume_bytes: int = 0
    unreferenced_volumes_removed: int = 0
    not_read: list[dict[str, str]] = field(default_factory=list)  # input entries passed over, with reasons
    ray_start_seconds: float = 0.0
    splits_on_driver: int = 0  # splits the driver worked itself while the local head started (ingest.driver_split)
    work_seconds: float = 0.0  # from the executor being ready to the last split registered
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    failed: str = ""  # why the run stopped (the error the command ended with), "" when it finished
    run_state: str = ""  # the run's folder on the root: plan.json, done/ (every split's marker), summary.json

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Finished:
    """Returned by :meth:`SplitJob.prepare` for a split with nothing left to do on a worker."""

    result: Any


@dataclass
class RunContext:
    """What a job gets from the runner: the store, the run's state and where its files go."""

    store: Store
    state: RunState
    local: bool

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def volumes_url(self) -> str:
        return self.store.layout.run_volumes_url(self.run_id)

    @property
    def indexes_url(self) -> str:
        return self.store.layout.run_indexes_url(self.run_id)


class SplitJob:
    """One ingest job, as the runner drives it. Splits have an ``index`` (their place in the plan).

    A job subclasses this and fills in :meth:`plan`, :meth:`executor`, :meth:`register`,
    :meth:`account` and :meth:`progress`; the other methods have defaults that fit most jobs.
    """

    kind = "ingest"  # "files", "warc", "crawl": names run ids, progress and fail points ("KIND_job.after_register")
    unit = "items"  # what progress counts: "files", "pages"
    ordered = False  # register in plan order (a key in two splits: the later split wins, deterministically)
    summary: JobSummary

    def plan(self, ctx: RunContext) -> list[Any]:
        """The run's splits: the saved plan of an earlier attempt, else a new one, saved before any work.
        Bad inputs raise here, before anything is created."""
        raise NotImplementedError

    def items(self, split: Any) -> int | None:
        """How many units of progress ``split`` holds; None when the work grows as it runs (a crawl
        following links), so the progress line shows no total or ETA."""
        return 1

    def executor(self, ctx: RunContext) -> Executor:
        """What runs the splits' work (Ray is connected already unless ``ctx.local``)."""
        raise NotImplementedError

    def pick(self, queue: list[Any], running: list[Any]) -> int | None:
        """Position in ``queue`` of the split to submit next, or None to wait for a running one."""
        return 0

    def prepare(self, split: Any) -> Any:
        """Driver side, just before dispatch: the split's payload, or :class:`Finished`."""
        return None

    def driver_work(self) -> Callable[[Any, Any], Any] | None:
        """The work function of a split (what its Ray task runs), if the driver may work splits from the
        tail of the plan while the root's local head starts (:mod:`ingest.driver_split`): it is called
        with :meth:`driver_payload`'s payload, and :meth:`register` registers its result. None (the
        default): never."""
        return None

    def driver_payload(self, split: Any) -> Any:
        """The payload of a split the driver works itself (:meth:`driver_work`); called on the driver's
        worker thread."""
        raise NotImplementedError

    def poll(self) -> None:
        """Called on every turn of the runner's loop (e.g. to surface a driver thread's failure)."""

    def check_budget(self, split: Any | None, result: Any | None) -> None:
        """Raise if registering ``result`` would break the job's error budget: called before every
        registration, and once with None before any work (for what earlier attempts registered)."""

    def register(self, ctx: RunContext, split: Any, payload: Any, result: Any) -> tuple[Registration, dict[str, Any]]:
        """Register the split (driver side); returns the registration and the completion marker's
        fields (the runner adds ``volumes``)."""
        raise NotImplementedError

    def account(self, marker: dict[str, Any], result: Any | None) -> None:
        """Add a done split to the summary (``result`` None: the split was done by an earlier attempt)."""
        raise NotImplementedError

    def progress(self, split: Any, payload: Any, result: Any) -> tuple[int, int, int]:
        """(items, bytes, errors) a finished split adds to the progress line."""
        raise NotImplementedError

    def finish(self, ctx: RunContext) -> None:
        """After the run, finished or failed, before the summary is saved."""

    def keeps_report(self) -> bool:
        """True if a run that failed before any split was done keeps its folder (a report to read)."""
        return False


def new_run_id(kind: str) -> str:
    """``KIND-YYYYmmdd-HHMMSS-mmmXXXXX``: the local time to the millisecond, then 5 random hex digits.
    Ids made here sort by the time they were made, and so do their volumes (``ROOT/volumes/RUN_ID/``):
    a rebuild orders captures of one WARC-Date (whole seconds) by volume, so two ingests of a changed
    file within one second still end with the later one."""
    now = time.time()
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1000) % 1000:03d}{uuid.uuid4().hex[:5]}"


def run_split_job(store: Store, job: SplitJob, *, local: bool = False, address: str | None = None,
                  num_cpus: int | None = None, show_progress: bool = True) -> JobSummary:
    """Run (or resume) ``job`` into ``store``: on this process (``local``), else on the Ray already
    initialized, ``address`` / ``$RAY_ADDRESS``, or a local Ray with ``num_cpus`` started for the run.
    Returns the job's summary, also saved with the run. Holds the run id's lease for the whole run
    (:mod:`ingest.run_lease`): another command running the same run id is refused with
    :class:`IngestError`."""
    with run_lease(store.layout.catalog_dir, job.summary.run_id):
        return _run_split_job(store, job, local=local, address=address, num_cpus=num_cpus,
                              show_progress=show_progress)


def _run_split_job(store: Store, job: SplitJob, *, local: bool, address: str | None, num_cpus: int | None,
                   show_progress: bool) -> JobSummary:
    summary = job.summary
    summary.run_state = store.layout.run_url(summary.run_id)
    ctx = RunContext(store, RunState(store.layout.runs_url, summary.run_id), local)
    leftovers = _Leftovers(ctx)
    started = time.perf_counter()
    finished_ok = False
    try:
        splits = job.plan(ctx)
        done = ctx.state.done_splits()
        todo = [s for s in splits if s.index not in done]
        summary.splits, summary.splits_skipped_done = len(splits), len(splits) - len(todo)
        for index in sorted(done):
            job.account(done[index], None)
        job.check_budget(None, None)
        if todo:
            # what a killed attempt of this run left unreferenced goes before its splits are redone
            summary.unreferenced_volumes_removed += sweep_run(store, ctx.volumes_url, set(done))
            t_ray = time.perf_counter()
            early = _start_driver_worker(store, job, todo, local, address)
            try:
                if store.cluster and not local:
                    store.catalog.ensure()  # connects to the root's Ray (the cluster, or its local head)
                with nullcontext() if local else ray_connection(address, num_cpus):
                    summary.ray_start_seconds = round(time.perf_counter() - t_ray, 3)
                    refuse_local_root_on_cluster(store.root)  # other nodes could not see a local root
                    _run(ctx, job, todo, show_progress, early)
            finally:
                if early is not None:
                    early.stop()
                    early.join()  # nothing of this attempt is written after the run's clean-up
            # a worker killed mid-task (retried by Ray) may have sealed a volume nothing registered
            summary.unreferenced_volumes_removed += sweep_run(store, ctx.volumes_url, set(ctx.state.done_splits()))
        finished_ok = True
    except IngestJobError as exc:  # the saved summary says why the run stopped, and how to resume
        summary.failed = str(exc)
        raise
    finally:
        summary.seconds = round(time.perf_counter() - started, 3)
        try:
            job.finish(ctx)
        finally:
            if finished_ok or ctx.state.done_splits() or _registered_any(leftovers, store):
                ctx.state.save_summary(summary.as_dict())  # a rerun with the run id sweeps what is not referenced
            else:
                keep = job.keeps_report() and ctx.state.exists()
                leftovers.remove(keep_run_folder=keep)
                if keep:
                    ctx.state.save_summary(summary.as_dict())
    return summary


def _registered_any(leftovers: _Leftovers, store: Store) -> bool:
    """:meth:`_Leftovers.registered`, and True when the catalog cannot say (keep rather than lose)."""
    try:
        return leftovers.registered(store)
    except Exception:  # noqa: BLE001 - a failing catalog is being reported already; keep everything
        return True


def _start_driver_worker(store: Store, job: SplitJob, todo: list[Any], local: bool,
                         address: str | None) -> DriverWorker | None:
    """A driver thread working splits from the tail of the plan, if the job allows it and this command is
    about to start the root's local head (:mod:`ingest.driver_split`); else None. Its queue is the
    runner's queue (``todo`` in plan order)."""
    work = job.driver_work()
    if work is None or local or not store.cluster or not starts_local_head(store.layout, address):
        return None
    return DriverWorker(list(todo), job.driver_payload, work)


def _run(ctx: RunContext, job: SplitJob, todo: list[Any], show_progress: bool,
         early: DriverWorker | None = None) -> None:
    summary = job.summary
    executor: Executor = job.executor(ctx)
    payloads: dict[int, Any] = {}
    queue, lock = (list(todo), nullcontext()) if early is None else (early.queue, early.lock)
    if early is not None:  # already working: the runner waits for its splits like for tasks
        executor = WithDriverWorker(executor, early, _cluster_cpus())
    t_work = time.perf_counter()
    # created once the executor is ready, so its rates and ETA are the work's, not Ray's start-up
    counts = [job.items(s) for s in todo]
    progress = Progress(f"ingest {job.kind} [{ctx.run_id}]", unit=job.unit, enabled=show_progress,
                        total=None if None in counts else sum(c for c in counts if c is not None))
    order = [s.index for s in todo]
    waiting: dict[int, tuple[Any, Any, Any]] = {}  # finished, not registered yet: index -> (split, payload, result)
    try:
        while queue or executor.running() or waiting:
            while executor.room(len(waiting)):
                with lock:  # the driver's worker takes splits from the other end
                    at = job.pick(queue, executor.running()) if queue else None
                    if at is None:
                        break
                    split = queue.pop(at)
                payload = job.prepare(split)
                if isinstance(payload, Finished):
                    waiting[split.index] = (split, None, payload.result)
                    continue
                payloads[split.index] = payload
                executor.submit(split, payload)
            for split, result in executor.wait(timeout=1.0):
                payload = payloads.pop(split.index) if split.index in payloads else early.payloads[split.index]
                waiting[split.index] = (split, payload, result)
            job.poll()
            ready = []
            if job.ordered:
                while order and order[0] in waiting:
                    ready.append(waiting.pop(order.pop(0)))
            else:
                ready = [waiting.pop(i) for i in list(waiting)]
            for split, payload, result in ready:
                _complete(ctx, job, split, payload, result, progress)
    finally:
        summary.work_seconds = round(time.perf_counter() - t_work, 3)
        executor.close()
        progress.done()
        summary.splits_on_driver = early.succeeded if early is not None else 0


def _complete(ctx: RunContext, job: SplitJob, split: Any, payload: Any, result: Any, progress: Progress) -> None:
    """Budget check, registration and sweep, completion marker, summary and progress of one split."""
    job.check_budget(split, result)
    try:
        registration, fields = job.register(ctx, split, payload, result)
        failpoint(f"{job.kind}_job.after_register")
        marker = {"volumes": registration.volume_urls, **fields}
        ctx.state.mark_done(split.index, marker)
    except IngestJobError:
        raise  # names the split and the run id already
    except Exception as exc:  # the catalog or the run's files failed (a full disk): the run id resumes
        raise split_failure(split, ctx.run_id, exc, "failed to register") from exc
    summary = job.summary
    summary.added += registration.added
    summary.updated += registration.updated
    summary.unchanged += registration.unchanged
    summary.volumes += len(registration.kept)
    summary.volume_bytes += sum(v.bytes for v in registration.kept)
    summary.unreferenced_volumes_removed += len(registration.dropped)
    job.account(marker, result)
    progress.update(*job.progress(split, payload, result))


class _Leftovers:
    """The run's folder, volumes and indexes, if this attempt is the one creating them: removed when
    the run fails with nothing of them registered (see :meth:`registered`)."""

    def __init__(self, ctx: RunContext) -> None:
        layout, run_id = ctx.store.layout, ctx.run_id
        # (parent, the run's own directory): the first of the two that does not exist yet is removed
        pairs = [(layout.runs_url, layout.run_url(run_id)), (layout.volumes_url, layout.run_volumes_url(run_id)),
                 (layout.indexes_url, layout.run_indexes_url(run_id))]
        # (filesystem, path, its URL, which of the three: 0 the run's folder, 1 volumes, 2 indexes)
        self._new: list[tuple[Any, str, str, int]] = []
        for n, urls in enumerate(pairs):
            for url in urls:
                fs, path = fsspec.core.url_to_fs(url)
                if not fs.exists(path):
                    self._new.append((fs, path, url, n))
                    break

    def registered(self, store: Store) -> bool:
        """True if the catalog may point into these leftovers: a volume of theirs is in the volume table
        (a registration began: entries follow their volume's row), or an index sidecar was written
        (in-place records are registered beside it). A run can fail after registering with no split
        marked done (the catalog's disk filled mid-batch, the marker's write failed, a worker
        registered through the owners and then died for good); removing its volumes then left
        entries pointing at nothing, and a rerun counted them "unchanged"."""
        for fs, path, url, kind in self._new:
            if kind == 0 or not fs.exists(path):
                continue
            for found in fs.find(path):
                if kind == 2:
                    return True
                if found.endswith(VOLUME_SUFFIX) and store.catalog.volumes.number_of(url_of(fs, found, url)) is not None:
                    return True
        return False

    def remove(self, keep_run_folder: bool = False) -> None:
        for fs, path, _, kind in self._new:
            if keep_run_folder and kind == 0:
                continue
            try:
                if fs.exists(path):
                    fs.rm(path, recursive=True)
            except OSError:
                pass  # best effort: a failure is being reported already


def _cluster_cpus() -> int:
    """CPUs of the Ray cluster this driver is connected to."""
    import ray

    return int(ray.cluster_resources().get("CPU", 1))
