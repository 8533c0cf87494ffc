"""Warm Ray workers on the root's local head, so a job's first tasks do not wait for worker processes.

Ray runs a job's tasks in worker processes of that job: a command's first task on the local head waits
for a new Python process to start and import Ray (~0.4 CPU s each, measured on this machine), and two
jobs at once each pay that for every core they use. The raylet can start workers ahead of any job
(``PrestartWorkers`` without a job id): such a worker belongs to no job until a job's task leases it,
and then serves that job like any other. Ray does this once itself, for as many workers as the node has
CPUs, when the head starts (the first command's owner actors take those).

:class:`WarmWorkerKeeper` is the head supervisor's policy (:mod:`ingest.local_head`): while no command
uses the head, keep ``size`` job-less Python workers started (default: the head's CPUs;
``HAYBALE_WARM_WORKERS``, 0 turns it off). It looks once a command has ended (after ``settle`` seconds,
so Ray has ended that job's workers) and then every ``recheck`` seconds while idle. It never starts
workers while a command runs, so a running job's cores are never shared with starts it did not ask
for. Any failure to ask the raylet (an older or newer Ray without this RPC) turns the keeper off with
one line in the head's log: warm workers make jobs start sooner, nothing depends on them.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

# a prestarted worker is kept at least this long even when idle (Ray ends idle workers beyond its
# soft limit after a second otherwise); the keeper starts new ones after it expires
KEEP_ALIVE_SECONDS = 3600
SIZE_ENV = "HAYBALE_WARM_WORKERS"
_NO_JOB = "ffffffff"  # JobID.nil() in hex: a worker that no job has leased yet
_WORKER = 0  # rpc.WorkerType.WORKER (not a driver, not an IO worker)


def warm_size(num_cpus: int) -> int:
    """How many job-less workers the head keeps: ``HAYBALE_WARM_WORKERS`` if set (0 = none), else one
    per CPU of the head."""
    value = os.environ.get(SIZE_ENV, "").strip()
    if not value:
        return num_cpus
    try:
        size = int(value)
    except ValueError:
        raise ValueError(f"{SIZE_ENV}={value!r} is not a whole number: set it to how many idle Ray "
                         "workers the local head keeps started (0 turns warm workers off)") from None
    if size < 0:
        raise ValueError(f"{SIZE_ENV}={value!r} is negative: set it to 0 or more")
    return size


class RayletWorkers:
    """The raylet's view of its workers, and its prestart call (gRPC to the node manager port)."""

    def __init__(self, raylet_address: str) -> None:
        from ray._private.grpc_utils import init_grpc_channel  # adds Ray's token authentication
        from ray.core.generated import node_manager_pb2, node_manager_pb2_grpc

        self._pb = node_manager_pb2
        self._stub = node_manager_pb2_grpc.NodeManagerServiceStub(init_grpc_channel(raylet_address))

    def jobless(self) -> int:
        """Python workers started and not leased by any job yet."""
        from ray.core.generated import common_pb2

        reply = self._stub.GetNodeStats(self._pb.GetNodeStatsRequest(include_memory_info=False), timeout=10)
        return sum(1 for w in reply.core_workers_stats
                   if w.job_id.hex() == _NO_JOB and w.worker_type == _WORKER and w.language == common_pb2.PYTHON)

    def prestart(self, count: int) -> None:
        """Ask the raylet to start ``count`` Python workers that belong to no job."""
        from ray.core.generated import common_pb2

        self._stub.PrestartWorkers(self._pb.PrestartWorkersRequest(
            language=common_pb2.PYTHON, num_workers=count, keep_alive_duration_secs=KEEP_ALIVE_SECONDS), timeout=10)


class WarmWorkerKeeper:
    """Tops up the job-less workers while the head is idle; see the module docstring.

    ``connect`` makes the raylet client (a :class:`RayletWorkers`); ``log`` gets one line per top-up and
    the reason if the keeper turns itself off."""

    def __init__(self, size: int, connect: Callable[[], Any], log: Callable[[str], None] = print,
                 settle: float = 1.0, recheck: float = 60.0) -> None:
        self.size = size
        self._connect = connect
        self._raylet: Any = None
        self._log = log
        self._settle = settle
        self._recheck = recheck
        self._due: float | None = None  # monotonic time of the next look; None while a command runs
        self.started = 0  # workers this keeper asked for, over the head's life
        self.off = size <= 0

    def tick(self, busy: bool, now: float | None = None) -> None:
        """Called by the supervisor about once a second: ``busy`` while a command uses the head."""
        if self.off:
            return
        now = time.monotonic() if now is None else now
        if busy:
            self._due = None
            return
        if self._due is None:
            self._due = now + self._settle
        if now < self._due:
            return
        self._due = now + self._recheck
        try:
            if self._raylet is None:
                self._raylet = self._connect()
            missing = self.size - self._raylet.jobless()
            if missing > 0:
                self._raylet.prestart(missing)
                self.started += missing
                self._log(f"started {missing} warm Ray worker(s) for the next job ({self.size} kept)")
        except Exception as exc:  # noqa: BLE001 - an optimization: any failure turns it off, visibly
            self.off = True
            self._log(f"warm Ray workers off ({type(exc).__name__}: {exc}); jobs start their own workers")


def keeper_for(raylet_address: str, num_cpus: int) -> WarmWorkerKeeper:
    """The supervisor's keeper for the head whose raylet listens at ``raylet_address``."""
    def log(line: str) -> None:
        print(line, file=sys.stdout, flush=True)
    try:
        size = warm_size(num_cpus)
    except ValueError as exc:
        log(f"warm Ray workers off: {exc}")
        size = 0
    return WarmWorkerKeeper(size, lambda: RayletWorkers(raylet_address), log)
