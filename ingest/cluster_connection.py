"""How a job command reaches the Ray that serves its root's catalog owners.

``--address`` / ``RAY_ADDRESS``: that cluster. Neither: the root's persistent local head
(:mod:`ingest.local_head`), found or started. :class:`RootConnection` connects on first use (a command
that refuses bad input before touching the catalog never starts Ray) and :meth:`RootConnection.close`
disconnects this driver only: the head, and the owners on it, keep running for the next command.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from catalog.errors import ClusterUnreachableError
from catalog.layout import RootLayout
from catalog.ray_address import check_reachable
from ingest.ray_token import MODE_ENV, reread_auth_settings, set_auth_mode, token_advice

# a local head under heavy load can miss Ray's connection deadline once; it is alive (pid checked), so retry
LOCAL_HEAD_ATTEMPTS = 3


def head_base(layout: RootLayout) -> Path:
    """The directory whose ``cluster/`` holds the local head's state: the root itself when local, else the
    node-local catalog directory."""
    return Path(layout.root) if layout.local else layout.catalog_dir


class RootConnection:
    """Callable: connect this process to the root's Ray (idempotent)."""

    def __init__(self, layout: RootLayout, address: str | None = None, num_cpus: int | None = None) -> None:
        self.layout, self.address, self.num_cpus = layout, address or os.environ.get("RAY_ADDRESS"), num_cpus
        self._stack = ExitStack()
        self.connected = False
        self.started_here = False

    def __call__(self) -> None:
        # before Ray is imported, which reads it: tokens for the local head, for a cluster if this
        # machine has one (ingest.ray_token)
        imported_before = "ray" in sys.modules
        set_auth_mode(self.address)
        import ray

        if self.connected:
            return
        if ray.is_initialized():  # tests, notebooks, a driver `ray job submit` started and connected
            self.connected = True
            return
        if imported_before:  # it read RAY_AUTH_MODE before set_auth_mode set it
            reread_auth_settings()
        from ingest.local_head import local_head_address, user_of

        if self.address:
            check_reachable(self.address, "--address / RAY_ADDRESS")
            self._init(ray, self.address)
        else:
            base = head_base(self.layout)
            self._stack.enter_context(user_of(base))
            for attempt in range(1, LOCAL_HEAD_ATTEMPTS + 1):
                # the head is checked (pid, address) each time: one that died meanwhile is started afresh
                address = local_head_address(base, self.num_cpus)
                try:
                    self._init(ray, address)
                    break
                except ClusterUnreachableError:
                    if attempt == LOCAL_HEAD_ATTEMPTS:
                        self._stack.close()  # this process no longer counts as a user of the head
                        raise
        self.started_here = True
        self.connected = True

    def _init(self, ray: Any, address: str) -> None:
        """``ray.init`` at ``address``; a connection that fails is a :class:`ClusterUnreachableError`."""
        try:
            # WARNING: Ray's own INFO lines ("Connecting to existing Ray cluster at …") are noise on a command's
            # stderr, `--quiet` or not; the command reports its progress itself
            ray.init(address=address, namespace="haybale", log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as exc:
            if ray.is_initialized():
                ray.shutdown()
            raise self._unreachable(address, exc) from exc

    def _unreachable(self, address: str, exc: Exception) -> ClusterUnreachableError:
        if self.address:
            # a cluster with tokens turns away a driver without its token as if it were not there
            tokens = f"; {token_advice(sending_one=os.environ.get(MODE_ENV) == 'token')}"
            return ClusterUnreachableError(
                f"could not connect to the Ray cluster at {address} (--address / RAY_ADDRESS): {exc}. Check the "
                f"address and that the cluster is up (`ray status --address {address}`), then rerun{tokens}")
        root = self.layout.root
        return ClusterUnreachableError(
            f"the local Ray head of root {root} at {address} did not answer ({exc}): it may be overloaded or "
            f"stopping. Rerun the command; if it fails again, `haybale cluster status --root {root}` shows the "
            f"head, and `haybale down --root {root}` stops it so the next command starts a fresh one")

    def close(self) -> None:
        if self.started_here:
            import ray

            ray.shutdown()
            self.started_here = False
        self._stack.close()
