"""A quick reachability check of a Ray cluster address, before ``ray.init`` is given it.

``ray.init(address="host:port")`` with nothing listening there does not fail: Ray retries the GCS
connection for minutes, printing warnings. A command given a wrong ``--address`` (or a stale
``RAY_ADDRESS``) should say so at once, naming the address and where it came from.
"""
from __future__ import annotations

import socket

from catalog.errors import ClusterUnreachableError

CONNECT_TIMEOUT_SECONDS = 5.0


def host_and_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a plain ``host:port`` GCS address; None for the forms Ray resolves itself
    (``auto``, ``local``, ``ray://…`` client addresses, anything without a numeric port)."""
    if "://" in address or address in ("auto", "local"):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, source: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Raise :class:`ClusterUnreachableError` if nothing accepts a TCP connection at ``address``.

    ``source`` says where the address came from (e.g. ``"--address / RAY_ADDRESS"``) and goes into the
    message with what to do. Addresses Ray resolves itself (:func:`host_and_port` is None) pass."""
    target = host_and_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            return
    except OSError as exc:
        raise ClusterUnreachableError(
            f"no Ray cluster answers at {address} ({source}): {exc.strerror or exc}. Check the address and that "
            f"the cluster is up (`ray status --address {address}`), or leave the address out to use the "
            "root's embedded local cluster") from exc
