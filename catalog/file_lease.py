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


def lock_file(path: Path, operation: int) -> int:
    """An open descriptor of ``path`` (created, with its directory, if missing) holding the ``flock``
    ``operation`` (``LOCK_SH`` / ``LOCK_EX``, with ``LOCK_NB`` not to wait: then ``BlockingIOError``
    when another process holds it). If the file was removed or replaced while this process waited for
    the lock, it starts over on the file now at ``path``."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, operation)
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # removed by the process that had it, between our open and our lock


class FileLease:
    """The lease of ``path`` (see the module docstring). A context manager."""

    def __init__(self, path: Path, busy: Callable[[str], Exception]) -> None:
        self.path = path
        self._busy = busy
        self._fd: int | None = None

    def acquire(self) -> "FileLease":
        """Take the lease, or raise ``busy(pid of the holder)``."""
        try:
            fd = lock_file(self.path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = self.path.read_text(encoding="ascii", errors="replace").strip() or "?"
            except OSError:
                holder = "?"
            raise self._busy(holder) from None
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
