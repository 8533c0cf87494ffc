"""One dedup run at a time per output: two runs started at once on one empty ``--output`` both found
it empty and wrote their ``data/part-N.parquet`` over each other's (and ``--overwrite`` deleted a
running run's files).

The lease is a :class:`~catalog.file_lease.FileLease` in this machine's temporary directory, named by
a hash of the output's absolute path or URL, held from before the output is claimed until the run
returns. Runs on other machines writing one object-store output are not seen.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from catalog.file_lease import FileLease
from catalog.storage import is_local, local_path
from dedup.errors import ConfigError


def output_lease(output: str) -> FileLease:
    """The lease on ``output``: :class:`ConfigError` naming the holder's pid when a run has it."""
    where = os.path.abspath(local_path(output)) if is_local(output) else output.rstrip("/")
    name = hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()[:24]

    def busy(holder: str) -> ConfigError:
        return ConfigError(f"--output {output} is being written by another dedup run (pid {holder}): wait for it "
                           "to finish, or choose another --output")

    return FileLease(Path(tempfile.gettempdir()) / "haybale-leases" / f"dedup-output-{name}.lock", busy)
