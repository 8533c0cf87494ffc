"""Start the local pool's fork server (dedup/executors.py) early, from a module that imports only
multiprocessing, so that the command line can start it before it imports the job's modules.

The fork server imports the job's modules and loads numba's kernels once (dedup/pool_warmup.py,
~0.75 CPU s) before it forks the pool's workers, and the first units wait for it. Started by
``haybale dedup run`` as its first step when the job will run on the local pool, that warm-up
overlaps the driver's own imports and the listing of the input instead of following them.
Starting it twice is harmless (the second call finds it running).
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver

# What the fork server imports before it forks a worker.
PRELOAD = ["dedup.pool_warmup"]


def start_fork_server() -> None:
    """Start (if not yet running) this process's fork server, preloading :data:`PRELOAD`."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()
