"""A unit of work of the job and how one runs: skipped when its completion marker exists, else run
and marked (data first). Kept apart from :mod:`dedup.waves` (which imports every step of the job,
and with them numba) so that the driver and the executors import it cheaply: the driver imports
the steps only once the local pool's fork server is warming up (dedup/job.py)."""
from __future__ import annotations

import time
from typing import Any, Callable

from dedup.errors import InputReadError
from dedup.workdir import WorkDir
from dedup.worker_memory import keep_freed_memory

Unit = tuple[str, Callable[..., dict[str, Any]], tuple[Any, ...]]
# Runs a wave's units (name, step, args) and returns their results in order; the second argument
# names the wave for progress lines (dedup/executors.py).
Executor = Callable[..., list[dict[str, Any]]]
READ_TRIES = 3  # runs of a unit whose read of an input failed on its storage, the first included
READ_RETRY_PAUSE = 1.0  # seconds between them


def run_unit(name: str, step: Callable[..., dict[str, Any]], work: WorkDir, *args: Any) -> dict[str, Any]:
    """One unit of work: skipped when its marker exists, else run and marked (data first). A read of an
    input that fails on its storage (:class:`~dedup.errors.InputReadError`) is tried again, up to
    :data:`READ_TRIES` times in all, :data:`READ_RETRY_PAUSE` seconds apart (a storage hiccup passes
    without a manual resume; a step rewrites its files whole, so a second try is safe)."""
    if work.done(name):
        return work.marker_info(name)
    wall, cpu = time.monotonic(), time.process_time()
    for attempt in range(1, READ_TRIES + 1):
        try:
            info = step(work, *args)
            break
        except InputReadError as exc:
            if attempt == READ_TRIES:
                raise InputReadError(f"{exc}; it was tried {READ_TRIES} times") from exc
            time.sleep(READ_RETRY_PAUSE)
    # CPU seconds of the worker process (all its threads) beside the wall time: on a shared
    # machine the two tell apart work done and time spent waiting for a core.
    info["unit_seconds"] = round(time.monotonic() - wall, 3)
    info["unit_cpu_seconds"] = round(time.process_time() - cpu, 3)
    work.mark_done(name, info)
    return info


def ray_run_unit(name: str, step: Callable[..., dict[str, Any]], work: WorkDir, *args: Any) -> dict[str, Any]:
    """:func:`run_unit` in a Ray task; the marker also names the node that did the work."""
    import ray

    keep_freed_memory()  # once per worker process (dedup/worker_memory.py)
    return run_unit(name, _on_node, work, step, ray.get_runtime_context().get_node_id(), *args)


def _on_node(work: WorkDir, step: Callable[..., dict[str, Any]], node: str, *args: Any) -> dict[str, Any]:
    return {**step(work, *args), "node": node}


def inline_executor(units: list[Unit], label: str, progress: Any = None) -> list[dict[str, Any]]:
    """Each unit in this process, one after the other (tests, and tools without a cluster)."""
    return [run_unit(name, step, *args) for name, step, args in units]
