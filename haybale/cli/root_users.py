"""Which commands are using a catalog directory, so a failing one removes what it created only when it
is alone.

A command that fails leaves nothing behind that it created (haybale/cli/stores.py). On a new root,
two commands started at once both see the root missing, so "what I created" can be the other's: the
one that failed removed the catalog the other was writing, with what it had acknowledged. Every
command that opens a root for writing holds a shared ``flock`` on ``CATALOG_DIR/.users.lock`` for its
whole run; removing needs the lock exclusively, which it gets only when no other command holds it.

A command that waits for the lock while another removes the directory finds its lock file gone when
it gets it, and starts over on a new one (the usual check of the path's inode against the file's).
Local catalog directories only (RocksDB needs one); other hosts' commands use their own directories.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

LOCK_NAME = ".users.lock"


class RootUsers:
    """A shared hold on a catalog directory for this command's run (see the module docstring)."""

    def __init__(self, catalog_dir: Path) -> None:
        self.path = Path(catalog_dir) / LOCK_NAME
        self._fd: int | None = None

    def join(self) -> "RootUsers":
        """Hold the directory shared, creating it (and its lock file) if missing; blocks, saying so on
        stderr, while a command has it to itself (removing it, or rebuilding the catalog in place)."""
        from catalog.file_lease import lock_file

        try:
            self._fd = lock_file(self.path, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"haybale: waiting for the command that has {self.path.parent} to itself (an in-place "
                  "`catalog rebuild`, or a failed command removing what it created)", file=sys.stderr, flush=True)
            self._fd = lock_file(self.path, fcntl.LOCK_SH)
        return self

    def alone(self) -> bool:
        """True, holding the directory exclusively from now on, if no other command holds it."""
        if self._fd is None:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def leave(self) -> None:
        """Let go (closing the file releases the lock). Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
