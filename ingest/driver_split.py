"""The last split's work done on the driver while the root's local Ray head starts (cold start).

Starting the embedded default's local head takes ~3 s, most of it one process waiting on another
(the GCS, then the raylet, then the agents), so one of a 2-core machine's cores sits idle while the
driver waits for it. A job that opts in (:attr:`ingest.runner.SplitJob.driver_work`) runs its last
split's work on a thread of the driver meanwhile — the same function a Ray task runs, with a payload
prepared before Ray is up (so it registers nothing itself: the driver registers that split, as it does
with ``--no-ray``) — and the runner treats the thread as one more running split
(:class:`WithDriverSplit`). Only when this command starts the head itself: on a running head or a
cluster, tasks start within a second and the driver keeps to driving.

If the thread's work fails, the split goes to Ray like any other (its task is retried and reports
the failure as usual), so a bad input is reported the same way whether or not the head was cold.
Exactly once is unchanged: a split's work writes only its own run's index files and volumes, and
nothing counts until the driver has registered it and written its marker.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable

from ingest.executors import Executor


class DriverSplit:
    """``work(split, payload)`` on a daemon thread of this process, started at construction."""

    def __init__(self, split: Any, payload: Any, work: Callable[[Any, Any], Any]) -> None:
        self.split, self.payload = split, payload
        self.result: Any = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name=f"driver-split-{split.index}",
                                        daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[Any, Any], Any]) -> None:
        try:
            self.result = work(self.split, self.payload)
        except BaseException as exc:  # noqa: BLE001 - handed to Ray instead (see the module docstring)
            self.error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    @property
    def succeeded(self) -> bool:
        """True once the work has ended without an error (its result is the split's)."""
        return self._done.is_set() and self.error is None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the work to end (True if it has)."""
        return self._done.wait(timeout)


class WithDriverSplit:
    """An executor that also reports ``driver``'s split: running until its thread ends, then finished —
    or, if its work failed, submitted to ``inner`` like any other split."""

    def __init__(self, inner: Executor, driver: DriverSplit) -> None:
        self.inner, self.driver = inner, driver
        self._pending = True  # not yet handed back nor given to ``inner``

    def room(self, waiting: int = 0) -> bool:
        return self.inner.room(waiting + self._pending)

    def submit(self, split: Any, payload: Any) -> None:
        self.inner.submit(split, payload)

    def running(self) -> list[Any]:
        return ([self.driver.split] if self._pending else []) + self.inner.running()

    def wait(self, timeout: float) -> list[tuple[Any, Any]]:
        if self._pending and self.driver.done():
            self._pending = False
            if self.driver.error is None:
                return [(self.driver.split, self.driver.result)]
            error = self.driver.error
            print(f"haybale: split {self.driver.split.index} failed on the driver ({type(error).__name__}: {error}); "
                  "it runs on Ray instead", file=sys.stderr, flush=True)
            self.inner.submit(self.driver.split, self.driver.payload)
        if self._pending and not self.inner.running():
            self.driver.join(timeout)  # nothing else to wait for
            return self.wait(0)
        return self.inner.wait(min(timeout, 0.05) if self._pending else timeout)

    def close(self) -> None:
        self.inner.close()
        self.driver.join()  # its files must not be written after the run's clean-up


def starts_local_head(layout: Any, address: str | None) -> bool:
    """True if connecting this driver will start the root's local head (no Ray connected, no address,
    no head running): the cold start a driver split overlaps."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        return False
    from ingest.cluster_connection import head_base
    from ingest.local_head import read_state, state_dir_of

    return read_state(state_dir_of(head_base(layout))) is None
