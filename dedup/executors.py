"""Where the job's units of work run: Ray tasks, or a local pool of processes.

An executor runs one wave: a list of units ``(name, step, args)`` (dedup/waves.py), and returns their
results in order. Both executors call :func:`dedup.units.run_unit` (skip when the marker exists, else
run and mark), report progress every 2 s, and turn a failed unit into a JobError naming the wave.

- :class:`RayExecutor`: each unit is a Ray task (``num_cpus=1``); the job's only path on a cluster.
- :class:`LocalExecutor`: a pool of one process per core. Used when the job runs on one
  machine without a Ray address: starting a local Ray costs 4-10 s of a short job's wall time (its
  daemons, on a busy 2-core machine), a process pool ~0.1 s. The waves, files and markers are the
  same, so the output is too (tested). Its workers are forked from a fork server that imported the
  job's modules and started numba once (dedup/pool_warmup.py), instead of each worker doing so.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import sys
import threading
import time
from typing import Any, Callable

from dedup.errors import StageError
from dedup.pool_start import start_fork_server
from dedup.units import Unit, ray_run_unit, run_unit
from dedup.worker_memory import keep_freed_memory

_RAY_UNIT: Any = None  # the Ray task wrapping ray_run_unit, made on first use (importing ray is slow)

Progress = Callable[[list[dict[str, Any]]], str]  # finished units' results → text for the line


def _loop(handles: list[Any], label: str, line: Callable[[str], None], ready: Callable[[list[Any], float], list[Any]],
          result: Callable[[Any], dict[str, Any]], progress: Progress | None) -> None:
    """Wait for every handle, printing ``label: k/n done, Ts detail`` every 2 s."""
    pending = list(handles)
    started = time.monotonic()
    last = 0.0
    done: dict[int, dict[str, Any]] = {}
    while pending:
        finished = ready(pending, 2.0)
        gone = set(finished)
        pending = [h for h in pending if h not in gone]
        for handle in finished:
            try:
                done[id(handle)] = result(handle)
            except Exception:  # reported when the results are collected
                done[id(handle)] = {}
        now = time.monotonic()
        if now - last >= 2.0 or not pending:
            detail = progress(list(done.values())) if progress is not None else ""
            line(f"{label}: {len(handles) - len(pending)}/{len(handles)} done, {now - started:.0f}s {detail}")
            last = now


class RayExecutor:
    """Units as Ray tasks on the connected cluster."""

    def __init__(self, line: Callable[[str], None]) -> None:
        self.line = line

    def __call__(self, units: list[Unit], label: str, progress: Progress | None = None) -> list[dict[str, Any]]:
        import ray

        global _RAY_UNIT
        if _RAY_UNIT is None:
            _RAY_UNIT = ray.remote(num_cpus=1)(ray_run_unit)
        refs = [_RAY_UNIT.remote(name, step, *args) for name, step, args in units]

        def ready(pending: list[Any], timeout: float) -> list[Any]:
            return list(ray.wait(pending, num_returns=len(pending), timeout=timeout)[0])

        _loop(refs, label, self.line, ready, ray.get, progress)
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayTaskError as exc:
            raise StageError(f"stage {label} failed: {exc.cause if hasattr(exc, 'cause') else exc}") from exc


# Packages that libraries import in a pool worker only to probe for them, never used by a unit:
# pyarrow imports pandas on its first pa.array()/pa.table() call only to test whether the values
# are pandas objects (~0.3 CPU s); numba imports scipy.linalg when it first loads a kernel, only to
# learn whether np.dot & co. may compile (~0.25-0.6 CPU s; no kernel of the job uses them; numba's
# own import of the top-level scipy package is cheap and stays).
# Measured per worker at its start, so twice per run on 2 cores, on the job's critical path.
_UNUSED_PROBED_PACKAGES = ("pandas", "scipy.linalg")


def skip_probed_imports() -> Any:
    """Install (first on sys.meta_path) and return the finder that refuses
    :data:`_UNUSED_PROBED_PACKAGES`; what is already imported stays usable."""
    finder = _SkipProbedImports()
    sys.meta_path.insert(0, finder)
    return finder


class _SkipProbedImports:
    """A meta path finder that makes ``import`` of :data:`_UNUSED_PROBED_PACKAGES` fail, so the
    libraries that probe for them take them as absent (see :func:`_die_with_parent`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if any(name == package or name.startswith(package + ".") for package in _UNUSED_PROBED_PACKAGES):
            raise ImportError(f"{name} is not used by the dedup job's pool workers")
        return None


def _start_worker(environment: dict[str, str]) -> None:
    """Pool worker start-up. The worker takes the driver's environment as it was when the pool was
    made (a spawned process would inherit it; a forked one has the fork server's, which may be
    older: e.g. object storage settings made since). Then :func:`_die_with_parent`."""
    os.environ.clear()
    os.environ.update(environment)
    _die_with_parent()


def _die_with_parent() -> None:
    """End this worker when the driver dies (a killed driver must not leave
    workers behind; they would wait on its pipe for ever). A thread waits on the sentinel that
    multiprocessing gives every child of the driver (a pipe the driver holds open: it reads EOF
    the moment the driver is gone, however it ended). Also keeps freed memory in the worker
    (dedup/worker_memory.py: fewer page faults, same outputs) and skips the imports of packages
    that libraries only probe for (:data:`_UNUSED_PROBED_PACKAGES`)."""
    keep_freed_memory()
    # Only in these pool workers, which run nothing but the job's units (never in the driver,
    # which may be a user's process, nor in shared Ray workers).
    skip_probed_imports()
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    if sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class LocalExecutor:
    """Units in a pool of processes on this machine (one per core by default), forked warm from a
    fork server; each takes the driver's environment as it is when the pool is made."""

    def __init__(self, line: Callable[[str], None], processes: int | None = None) -> None:
        self.line = line
        self.processes = processes or os.cpu_count() or 1
        # Workers come from a fork server (a fresh single-threaded process, never a fork of the
        # driver, which may hold threads a fork would copy broken) that imported the job's modules
        # and started numba once (dedup/pool_warmup.py), so each worker starts warm. Started
        # here, it warms up while the driver goes on.
        start_fork_server()  # already running when the command line started it (dedup/pool_start.py)
        context = multiprocessing.get_context("forkserver")
        self.pool = concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_start_worker, initargs=(dict(os.environ),),
        )

    def __call__(self, units: list[Unit], label: str, progress: Progress | None = None) -> list[dict[str, Any]]:
        futures = [self.pool.submit(run_unit, name, step, *args) for name, step, args in units]

        def ready(pending: list[Any], timeout: float) -> list[Any]:
            return list(concurrent.futures.wait(pending, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)[0])

        _loop(futures, label, self.line, ready, lambda f: f.result(), progress)
        try:
            return [f.result() for f in futures]
        except Exception as exc:
            raise StageError(f"stage {label} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
