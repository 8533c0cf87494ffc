"""Fail points: named places where a chaos test can SIGKILL a process or a whole job, deterministically.

Environment (all unset in normal runs, where a fail point costs one comparison):

- ``HAYBALE_FAILPOINT=name:N`` — the N-th time a process reaches ``failpoint("name")`` it fires.
- ``HAYBALE_FAILPOINT_SCOPE=job`` (default) kills the process group of the job's driver — the process
  that first imported this module with the variable set records its group in
  ``HAYBALE_FAILPOINT_PGID``, which Ray workers inherit — so a fail point in a Ray worker kills the
  whole job; ``process`` kills only the process that reached it (a worker dying mid-task).
- ``HAYBALE_FAILPOINT_ONCE=PATH`` — fire at most once across processes and reruns: the first to fire
  creates PATH (O_EXCL); later hits see it and go on.
"""
from __future__ import annotations

import os
import signal

_ENV = os.environ.get("HAYBALE_FAILPOINT", "")
_NAME, _, _COUNT = _ENV.partition(":")
_REMAINING = int(_COUNT or 1) if _NAME else 0
if _NAME and os.environ.get("HAYBALE_FAILPOINT_SCOPE", "job") == "job":
    os.environ.setdefault("HAYBALE_FAILPOINT_PGID", str(os.getpgid(0)))


def failpoint(name: str) -> None:
    """Kill this process or its job here if the environment asks for it (see the module docstring)."""
    global _REMAINING
    if name != _NAME:
        return
    _REMAINING -= 1
    if _REMAINING > 0:
        return
    once = os.environ.get("HAYBALE_FAILPOINT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    pgid = os.environ.get("HAYBALE_FAILPOINT_PGID")
    if pgid and os.environ.get("HAYBALE_FAILPOINT_SCOPE", "job") == "job":
        os.killpg(int(pgid), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
