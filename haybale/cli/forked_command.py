"""A job command run by the root's warm drivers (:mod:`haybale.cli.warm_drivers`), when they can run it.

:func:`run_warm` returns the command's exit status if the warm drivers of the root's running local
head ran it, or None when the command must run in this process as usual: no head, no warm drivers yet
(a head that is still starting them), a command given ``--address`` / ``RAY_ADDRESS`` or ``--no-ray``,
``HAYBALE_WARM_DRIVERS=0``, or a refusal (different code or import-time settings). Nothing of the
command has run when it returns None. While the child runs, SIGINT, SIGTERM and SIGHUP sent to this
process are passed on to it. Standard library only, so a refused command loses a few milliseconds.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from typing import Any

from haybale.forkserver_wire import MessageReader, WireError, send_message
from haybale.source_fingerprint import source_fingerprint

ENV_SWITCH = "HAYBALE_WARM_DRIVERS"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def warm_socket(args: argparse.Namespace) -> str | None:
    """The warm-driver socket of the local head this job command would use, if it has one."""
    if os.environ.get(ENV_SWITCH, "1") == "0" or os.environ.get("RAY_ADDRESS"):
        return None
    if getattr(args, "address", None) or getattr(args, "no_ray", False):
        return None
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return None  # this process is a connected driver already (a notebook, `ray job submit`)
    from catalog.layout import RootLayout
    from ingest.cluster_connection import head_base

    try:
        layout = RootLayout.of(args.root, args.catalog_dir)
        state = json.loads((head_base(layout) / "cluster" / "head.json").read_text())
    except Exception:  # noqa: BLE001 - no usable head state (absent, torn, a bad root): run here
        return None
    path = state.get("driver_socket")
    return path if isinstance(path, str) and os.path.exists(path) else None


def run_warm(argv: list[str], socket_path: str) -> int | None:
    """Run ``haybale ARGV`` in a warm driver at ``socket_path``; None if it was not run there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10.0)
        sock.connect(socket_path)
        umask = os.umask(0)
        os.umask(umask)
        send_message(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                            "fingerprint": source_fingerprint()}, fds=[0, 1, 2])
        reader = MessageReader(sock)
        reply, _ = reader.read()
    except (OSError, WireError):
        sock.close()
        return None
    if "pid" not in reply:
        sock.close()
        if os.environ.get("HAYBALE_DEBUG"):
            print(f"haybale: warm driver not used: {reply.get('refused')}", file=sys.stderr)
        return None
    return _wait(sock, reader, int(reply["pid"]))


def _wait(sock: socket.socket, reader: MessageReader, pid: int) -> int:
    """Wait for the child's exit status, passing signals on to it."""
    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        sock.settimeout(None)
        while True:
            try:
                reply, _ = reader.read()
            except InterruptedError:
                continue
            except (OSError, WireError):
                print(f"haybale: error: the warm driver running this command (pid {pid}) ended without an exit "
                      "status (the root's local head stopped?); see ROOT/cluster/head.log, and run the command "
                      "again", file=sys.stderr)
                return 1
            if "exit" in reply:
                return int(reply["exit"])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
