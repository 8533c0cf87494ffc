"""One command at a time per run id: a lease a job holds for its whole run.

A rerun with the same ``--run-id`` resumes a run, and before it redoes the unfinished splits it sweeps
the run's volumes that nothing references (:mod:`ingest.volume_sweep`), which assumes no other command
writes that run. Two commands with the same run id at once broke that: the second swept volumes the
first had sealed and not yet registered, and the first then registered locations in deleted files.

The lease is an exclusive ``flock`` on ``CATALOG_DIR/.runs/RUN_ID.lock`` (the catalog directory is
local, and it exists wherever a job runs its driver), holding the pid of the command that has it. A
second command is refused at once, naming that pid. The file is removed when the run ends (while still
held; a command that opened it meanwhile finds it gone and starts over on a new one). Commands on
other machines with the same run id and a remote root are not seen: their catalog directories differ.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ingest.checkpoint import check_run_id
from ingest.errors import IngestError

LEASES = ".runs"


class RunLease:
    """The lease on ``run_id`` under ``catalog_dir`` (see the module docstring). A context manager."""

    def __init__(self, catalog_dir: Path | str, run_id: str) -> None:
        self.path = Path(catalog_dir) / LEASES / f"{check_run_id(run_id)}.lock"
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> "RunLease":
        """Take the lease, or raise :class:`IngestError` naming the command that has it."""
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise IngestError(f"run {self.run_id} is being run by another command (pid {holder}) on this "
                                  "root: wait for it to finish (running it again then resumes whatever is left), "
                                  "or give another --run-id") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed by the command that had it, between our open and our lock
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

    def __enter__(self) -> "RunLease":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
