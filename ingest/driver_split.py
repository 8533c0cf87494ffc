"""Splits worked on the driver, from the tail of the plan, while the root's local Ray head starts.

Starting the embedded default's local head takes ~3 s, most of it one process waiting on another
(the GCS, then the raylet, then the agents), and a job's first Ray workers take another second to
start: on a 2-core machine a core sits idle while the driver waits. A job that opts in
(:meth:`ingest.runner.SplitJob.driver_work`) has the driver work splits itself meanwhile, on a daemon
thread (:class:`DriverWorker`): it takes splits from the *tail* of the runner's queue — the same
function a Ray task runs, with a payload that asks for no worker registration
(:meth:`ingest.runner.SplitJob.driver_payload`) — while the runner submits from the front, until they
meet. While the driver works, the runner keeps no more tasks in flight than the cluster has CPUs
(:class:`WithDriverWorker`), so the splits left in the queue are there for whichever frees first.

Why the tail: the driver registers splits in plan order after the splits before them, so splits the
driver worked are registered last and no worker ever waits for one. Only when this command starts the
head itself (:func:`starts_local_head`): on a running head or a cluster, tasks start within a second and
the driver keeps to driving.

If the driver's work on a split fails, that split goes to Ray like any other (its task is retried and
reports the failure as usual), so a bad input is reported the same way whether or not the head was
cold. Exactly once is unchanged: a split's work writes only its own run's index files and volumes, and
nothing counts until the driver has registered it and written its marker.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable

from ingest.executors import Executor


class DriverWorker:
    """Works splits taken from the end of ``queue`` (shared with the runner, guarded by :attr:`lock`)
    on a daemon thread, started at construction, until the queue is empty or :meth:`stop` is called.
    ``payload_of(split)`` makes a split's payload (called on the thread); ``work(split, payload)`` is
    its work."""

    def __init__(self, queue: list[Any], payload_of: Callable[[Any], Any], work: Callable[[Any, Any], Any]) -> None:
        self.queue = queue
        self.lock = threading.RLock()  # the runner picks (asking what runs) while it holds it
        self.payloads: dict[int, Any] = {}  # split index -> payload, of every split this worker took
        self.finished: list[tuple[Any, Any]] = []  # (split, result), not handed to the runner yet
        self.failed: list[tuple[Any, BaseException]] = []  # (split, error), not handed to the runner yet
        self.current: Any = None  # the split being worked
        self._held: dict[int, Any] = {}  # split index -> split: taken and not yet handed to the runner
        self.succeeded = 0  # splits worked without an error
        self._stopping = False
        self._ended = threading.Event()
        self._changed = threading.Event()
        self._payload_of, self._work = payload_of, work
        self._thread = threading.Thread(target=self._run, name="driver-splits", daemon=True)
        self._thread.start()

    def _take(self) -> Any:
        with self.lock:
            if self._stopping or not self.queue:
                self.current = None
                return None
            self.current = self.queue.pop()
            self._held[self.current.index] = self.current
            return self.current

    def _run(self) -> None:
        try:
            while (split := self._take()) is not None:
                try:
                    payload = self.payloads[split.index] = self._payload_of(split)
                    result = self._work(split, payload)
                except BaseException as exc:  # noqa: BLE001 - handed to Ray instead (see the module docstring)
                    with self.lock:
                        self.failed.append((split, exc))
                else:
                    with self.lock:
                        self.finished.append((split, result))
                        self.succeeded += 1
                self._changed.set()
        finally:
            self._ended.set()
            self._changed.set()

    def working(self) -> list[Any]:
        """The split being worked (none once the thread has ended)."""
        with self.lock:
            return [self.current] if self.current is not None else []

    def held(self) -> list[Any]:
        """Every split taken and not yet handed over by :meth:`collect`: being worked, finished or failed.
        The runner counts them as running, so it never ends a run before it has them all."""
        with self.lock:
            return list(self._held.values())

    def collect(self) -> tuple[list[tuple[Any, Any]], list[tuple[Any, BaseException]]]:
        """The splits finished and failed since the last call (handed over: no longer :meth:`held`)."""
        with self.lock:
            done, bad = self.finished, self.failed
            self.finished, self.failed = [], []
            for split, _ in done + bad:
                del self._held[split.index]
            self._changed.clear()
        return done, bad

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a split to finish or fail."""
        self._changed.wait(timeout)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def stop(self) -> None:
        """Take no more splits (the one being worked ends first)."""
        with self.lock:
            self._stopping = True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (True if it has)."""
        return self._ended.wait(timeout)


class WithDriverWorker:
    """An executor that also reports the splits ``driver`` works: running while it works them, then
    finished — or, if its work failed, submitted to ``inner`` like any other split. While the driver
    works, at most ``slots`` tasks are in flight (see the module docstring)."""

    def __init__(self, inner: Executor, driver: DriverWorker, slots: int) -> None:
        self.inner, self.driver, self.slots = inner, driver, max(1, slots)

    def room(self, waiting: int = 0) -> bool:
        if not self.driver.ended and len(self.inner.running()) >= self.slots:
            return False
        return self.inner.room(waiting + len(self.driver.held()))

    def submit(self, split: Any, payload: Any) -> None:
        self.inner.submit(split, payload)

    def running(self) -> list[Any]:
        return self.driver.held() + self.inner.running()

    def _drained(self) -> list[tuple[Any, Any]]:
        """The driver's finished splits; its failed ones go to ``inner``."""
        done, failed = self.driver.collect()
        for split, error in failed:
            print(f"haybale: split {split.index} failed on the driver ({type(error).__name__}: {error}); "
                  "it runs on Ray instead", file=sys.stderr, flush=True)
            self.inner.submit(split, self.driver.payloads[split.index])
        return done

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        done = self._drained()
        if done:
            return done
        if self.driver.held() and not self.inner.running():
            self.driver.wait(timeout)  # nothing else to wait for
            return self._drained() + self.inner.wait(0)
        return self.inner.wait(min(timeout, 0.05) if self.driver.held() else timeout)

    def close(self) -> None:
        self.driver.stop()
        self.inner.close()
        self.driver.join()  # its files must not be written after the run's clean-up


def starts_local_head(layout: Any, address: str | None) -> bool:
    """True if connecting this driver will start the root's local head (no Ray connected, no address,
    no head running): the cold start the driver's work overlaps."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        return False
    from ingest.cluster_connection import head_base
    from ingest.local_head import read_state, state_dir_of

    return read_state(state_dir_of(head_base(layout))) is None
