"""Connecting to Ray: the embedded default (a local Ray started by the command) or a cluster.

``--address`` / ``RAY_ADDRESS`` targets a cluster (``ray job submit`` sets ``RAY_ADDRESS`` for the
driver it starts). Without either, a local Ray with ``num_cpus`` CPUs is started for the command and
shut down when it ends. An already initialized Ray (tests, notebooks) is used as it is.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def ray_connection(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    import ray

    if ray.is_initialized():
        yield
        return
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        from catalog.ray_address import check_reachable

        check_reachable(target, "--address / RAY_ADDRESS")
        ray.init(address=target, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 2, include_dashboard=False,
                 log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
