"""Helper processes of the catalog (reader processes, SST writers), started fresh and connected by a
socket pair.

Why not ``multiprocessing``'s ``spawn``: a spawned child first re-runs the parent's ``__main__``
script, unless it is guarded by ``if __name__ == "__main__":``. A user script that registers entries
at its top level therefore ran again inside every reader process — opening another catalog, writing
again — until the child died trying to spawn processes of its own, and the parent saw
``ConnectionResetError(104)`` ("parallel readers failed ... falling back to in-process lookups",
seen registering 10^6 entries with ``Catalog.register_many`` in batches of 50k from such a script).
Forking is no way out either: forking a process that has RocksDB open is unsafe.

So a child here is a new interpreter (``python -c``) that imports only the target function's module,
with the parent's ``sys.path``, and receives its arguments over the connection. Whatever the parent's
``__main__`` is — a script, a notebook, ``python -c`` — it never runs in the child. The child is in
the parent's process group (a chaos test that kills the job kills it too), and it exits when the
connection closes (the parent died or stopped it).
"""
from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

_PATH_VARIABLE = "HAYBALE_CHILD_SYS_PATH"
_BOOT = ("import json, os, sys; sys.path[:0] = json.loads(os.environ.pop('HAYBALE_CHILD_SYS_PATH')); "
         "from catalog.child_process import child_main; child_main()")


class ChildProcess:
    """``module:function`` running in a fresh interpreter as ``function(conn, *args)``; talk to it
    through :attr:`conn` (a ``multiprocessing.connection.Connection``)."""

    def __init__(self, target: str, *args: Any, env: dict[str, str] | None = None) -> None:
        parent_end, child_end = socket.socketpair()
        child_fd = child_end.fileno()
        environment = {**(os.environ if env is None else env), _PATH_VARIABLE: json.dumps(sys.path)}
        try:
            self.process = subprocess.Popen([sys.executable, "-c", _BOOT, target, str(child_fd)],
                                            pass_fds=(child_fd,), env=environment, stdin=subprocess.DEVNULL)
        finally:
            child_end.close()
        self.conn = Connection(parent_end.detach())
        self.conn.send(args)

    def stop(self, timeout: float = 10) -> None:
        """Close the connection (the child's loop ends) and wait for it; kill it if it hangs."""
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def child_main() -> None:
    """Entry point of a child: ``argv = [-c, module:function, fd]``; the first message is the args."""
    target, fd = sys.argv[1], int(sys.argv[2])
    module, _, function = target.partition(":")
    conn = Connection(fd)
    try:
        args = conn.recv()
    except EOFError:
        return
    getattr(importlib.import_module(module), function)(conn, *args)
