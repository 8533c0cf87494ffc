"""An exclusive lease held by one process through an ``flock`` on a local file, naming its holder.

:class:`FileLease` is what :mod:`ingest.run_lease` (one command per run id) and
:mod:`dedup.output_lease` (one dedup run per output) share. ``acquire`` never waits: when another
process holds the lease it calls ``busy(holder_pid)`` and raises what that returns. The file holds the
holder's pid and is removed on release, while still held; a process that opened it meanwhile finds
the path no longer names its file and starts over on a new one. The lock is per machine.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable


class FileLease:
    """The lease of ``path`` (see the module docstring). A context manager."""

    def __init__(self, path: Path, busy: Callable[[str], Exception]) -> None:
        self.path = path
        self._busy = busy
        self._fd: int | None = None

    def acquire(self) -> "FileLease":
        """Take the lease, or raise ``busy(pid of the holder)``."""
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise self._busy(holder) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed by the process that had it, between our open and our lock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._fd = fd
            return self

    def release(self) -> None:
        """Give the lease up and remove its file. Idempotent."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLease":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
