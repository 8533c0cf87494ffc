"""One command at a time per run id: a lease a job holds for its whole run.

A rerun with the same ``--run-id`` resumes a run, and before it redoes the unfinished splits it sweeps
the run's volumes that nothing references (:mod:`ingest.volume_sweep`), which assumes no other command
writes that run. Two commands with the same run id at once broke that: the second swept volumes the
first had sealed and not yet registered, and the first then registered locations in deleted files.

The lease is a :class:`~catalog.file_lease.FileLease` on ``CATALOG_DIR/.runs/RUN_ID.lock`` (the catalog
directory is local, and it exists wherever a job runs its driver). A second command is refused at
once, naming the first one's pid. Commands on other machines with the same run id and a remote root
are not seen: their catalog directories differ.
"""
from __future__ import annotations

from pathlib import Path

from catalog.file_lease import FileLease
from ingest.checkpoint import check_run_id
from ingest.errors import IngestError

LEASES = ".runs"


def run_lease(catalog_dir: Path | str, run_id: str) -> FileLease:
    """The lease on ``run_id`` under ``catalog_dir``: :class:`IngestError` when another command has it."""
    def busy(holder: str) -> IngestError:
        return IngestError(f"run {run_id} is being run by another command (pid {holder}) on this root: wait "
                           "for it to finish (running it again then resumes whatever is left), or give another "
                           "--run-id")

    return FileLease(Path(catalog_dir) / LEASES / f"{check_run_id(run_id)}.lock", busy)
