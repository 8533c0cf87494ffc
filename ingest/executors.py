"""How the job runner gets a split's work done: Ray tasks, calls on a pool of Ray actors, or this process.

An executor takes splits (with the payload the job prepared for each) while it has room, and hands
back finished ones. It never registers anything: the runner does, on the driver. A split whose work
fails for good (after Ray's retries) raises :class:`~ingest.errors.IngestJobError` naming the split and
the run id to resume with; a read that failed on the input's storage
(:class:`~catalog.errors.SourceReadError`, not bad data) is told as such (:func:`read_failed`).

- :class:`TaskExecutor` — one Ray task per split, at most ``cap`` in flight (default twice the
  cluster's CPUs), retried ``retries`` times if its worker dies or its read of an input fails on the
  storage (:class:`~catalog.errors.SourceReadError`, after a pause of :data:`READ_RETRY_PAUSE`): a
  brief storage hiccup needs no manual rerun. A retry is safe: a failed attempt registered nothing
  (reads end before a worker registers; a worker's registration is idempotent by key and digest
  anyway), and the volumes it sealed are unreferenced, swept when the run finishes.
- :class:`ActorPoolExecutor` — calls on long-lived actors (the crawl's fetchers, each holding a
  connection pool and robots cache), at most ``calls_per_actor`` queued on each; a dead actor is
  restarted by Ray and its call retried.
- :class:`LocalExecutor` — the same work in this process, one split at a time (``--no-ray``).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Protocol, Sequence

from catalog.disk_full import disk_full
from catalog.errors import HaybaleError, SourceReadError, io_detail
from ingest.errors import IngestJobError

Work = Callable[[Any, Any], Any]  # work(split, payload) -> result

# Seconds a Ray task whose read failed on the storage waits before it fails (and Ray runs it again):
# a storage hiccup (a 503, a dropped connection, a restarting server) gets a moment to pass.
READ_RETRY_PAUSE = 1.0


class Executor(Protocol):
    """What the runner needs of an executor."""

    def room(self, waiting: int = 0) -> bool:
        """True if one more split may be submitted (``waiting``: finished results the runner still holds)."""

    def submit(self, split: Any, payload: Any) -> None: ...

    def running(self) -> list[Any]:
        """The splits submitted and not finished yet."""

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        """Finished (split, result) pairs; waits up to ``timeout`` seconds for the first."""

    def close(self) -> None: ...


def split_failure(split: Any, run_id: str, exc: BaseException, what: str = "failed", tries: int = 1
                  ) -> IngestJobError:
    """The job's error for split ``split`` whose work (or, ``what``, its registration) raised ``exc``:
    the cause, a full disk named as such, and the run id that resumes; :func:`read_failed` when the
    work stopped on a read that failed on the input's storage (``tries``: how often it was run)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, SourceReadError) and what == "failed":
        return read_failed(split, run_id, cause, tries)
    hint = ("a disk the job writes to (the root's volumes, its catalog or the run's files) is full or over "
            "quota: free space there, then " if disk_full(exc) else "")
    return IngestJobError(f"split {split.index} {what} ({io_detail(cause)}); what is registered stays: "
                          f"{hint}rerun with --run-id {run_id} to resume")


def read_failed(split: Any, run_id: str, error: SourceReadError, tries: int = 1) -> IngestJobError:
    """The error of a split stopped by a read that failed on the storage (not bad data): nothing of the
    split is registered, marked, quarantined or counted, so a rerun with the run id reads it again.
    ``tries`` > 1: the split was run that often (the last run failed so)."""
    where = f"a read from byte {error.offset:,}" if error.offset is not None else "a read"
    again = f" (the split was tried {tries} times)" if tries > 1 else ""
    return IngestJobError(f"split {split.index} stopped: {where} of {error.url} failed on its storage "
                          f"({error.detail}){again}. "
                          "This is not bad data: nothing of the split was registered, quarantined or counted "
                          f"against --max-errors, and what earlier splits registered stays. Check the storage, "
                          f"then rerun with --run-id {run_id} to resume (the split is read again); if the file "
                          "stays unreadable, move it out of the inputs and start a new run")


class LocalExecutor:
    """Runs each split's work in this process when it is submitted."""

    def __init__(self, work: Work, run_id: str) -> None:
        self.work, self.run_id = work, run_id
        self._done: list[tuple[Any, Any]] = []

    def room(self, waiting: int = 0) -> bool:
        return not self._done and not waiting

    def submit(self, split: Any, payload: Any) -> None:
        try:
            result = self.work(split, payload)
        except SourceReadError as exc:  # the storage failed: the rerun that reads it again needs the run id
            raise read_failed(split, self.run_id, exc) from exc
        except HaybaleError:
            raise  # already names the input and the fix
        except Exception as exc:  # as a Ray task's failure would be reported
            raise split_failure(split, self.run_id, exc) from exc
        self._done.append((split, result))

    def running(self) -> list[Any]:
        return []

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


class TaskExecutor:
    """One Ray task per split; ``cap`` tasks (plus results waiting for registration) at most."""

    def __init__(self, work: Work, run_id: str, *, cap: int = 0, retries: int = 3, keep_refs: bool = False) -> None:
        """``keep_refs``: remember each submitted split's task (:attr:`refs`, by split index) until the
        job takes it, e.g. to make a later split's task wait for it."""
        import ray

        self._ray = ray
        self.run_id = run_id
        self.tries = retries + 1

        def task(split: Any, payload: Any) -> Any:
            try:
                return work(split, payload)
            except SourceReadError:
                time.sleep(READ_RETRY_PAUSE)  # then Ray runs the task again, while retries last
                raise

        task.__name__ = task.__qualname__ = getattr(work, "__name__", "split_work")  # as Ray names the task
        self._task = ray.remote(max_retries=retries, retry_exceptions=[SourceReadError])(task)
        self.cap = cap or max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
        self._pending: dict[Any, Any] = {}
        self.keep_refs = keep_refs
        self.refs: dict[int, Any] = {}

    def room(self, waiting: int = 0) -> bool:
        # results waiting for registration count: they hold driver memory like running tasks do
        return len(self._pending) + waiting < self.cap

    def submit(self, split: Any, payload: Any) -> None:
        ref = self._task.remote(split, payload)
        self._pending[ref] = split
        if self.keep_refs:
            self.refs[split.index] = ref

    def running(self) -> list[Any]:
        return list(self._pending.values())

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        done = []
        for ref in ready:
            split = self._pending.pop(ref)
            try:
                done.append((split, self._ray.get(ref)))
            except self._ray.exceptions.RayError as exc:
                raise split_failure(split, self.run_id, exc, tries=self.tries) from exc
        return done

    def close(self) -> None:
        pending = list(self._pending)
        self._pending.clear()
        if not pending:
            return
        # splits that failed too while the run stopped on another: fetched and dropped (the run's error
        # names the first), so Ray does not print each one's remote traceback as an "Unhandled error"
        finished, running = self._ray.wait(pending, num_returns=len(pending), timeout=0)
        for ref in finished:
            try:
                self._ray.get(ref)
            except self._ray.exceptions.RayError:
                pass
        for ref in running:
            self._ray.cancel(ref)


class ActorPoolExecutor:
    """Calls ``method`` on the least loaded of ``actors``, at most ``calls_per_actor`` queued on each."""

    def __init__(self, actors: Sequence[Any], method: str, run_id: str, *, calls_per_actor: int = 2,
                 on_close: Callable[[], None] | None = None) -> None:
        import ray

        self._ray = ray
        self.actors, self.method, self.run_id = list(actors), method, run_id
        self.calls_per_actor = calls_per_actor
        self._load = [0] * len(self.actors)
        self._pending: dict[Any, tuple[Any, int]] = {}
        self._on_close = on_close

    def room(self, waiting: int = 0) -> bool:
        return min(self._load) < self.calls_per_actor

    def submit(self, split: Any, payload: Any) -> None:
        slot = min(range(len(self.actors)), key=self._load.__getitem__)
        ref = getattr(self.actors[slot], self.method).remote(split, payload)
        self._pending[ref] = (split, slot)
        self._load[slot] += 1

    def running(self) -> list[Any]:
        return [split for split, _ in self._pending.values()]

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        done = []
        for ref in ready:
            split, slot = self._pending.pop(ref)
            self._load[slot] -= 1
            try:
                done.append((split, self._ray.get(ref)))
            except self._ray.exceptions.RayActorError as exc:
                raise IngestJobError(f"split {split.index}: its actor died more often than it may be restarted "
                                     f"({exc}); rerun with --run-id {self.run_id} to resume") from exc
            except self._ray.exceptions.RayError as exc:
                raise split_failure(split, self.run_id, exc) from exc
        return done

    def close(self) -> None:
        try:
            if self._on_close is not None:
                self._on_close()
        finally:
            for actor in self.actors:
                self._ray.kill(actor)
