"""The WARC job's error budget, decided before a split is registered.

With ``--max-errors N``, the split whose quarantined records would take the run past N is not
registered at all: its sealed volumes and its in-place index files are removed (nothing points at
them, and ``catalog rebuild`` must not find them), and the job stops with a :class:`WarcJobError`
naming the split, its first bad file and what to do. Splits registered before it stay registered.
"""
from __future__ import annotations

import fsspec

from catalog.store import Store
from ingest.errors import WarcJobError
from ingest.warc_indexing import WarcSplitResult

__all__ = ["WarcJobError", "refuse_split", "would_exceed"]


def would_exceed(quarantined_so_far: int, result: WarcSplitResult, max_errors: int | None) -> bool:
    return max_errors is not None and quarantined_so_far + len(result.quarantined) > max_errors


def refuse_split(store: Store, result: WarcSplitResult, *, quarantined_so_far: int, max_errors: int | None,
                 quarantine_file: str, run_id: str) -> WarcJobError:
    """Remove what the split wrote and return the error to raise."""
    for sealed in result.sealed:
        store.drop_volume(sealed)
    for ext in result.external:
        fs, path = fsspec.core.url_to_fs(ext.index_url)
        try:
            fs.rm(path)
        except FileNotFoundError:
            pass
    total = quarantined_so_far + len(result.quarantined)
    first = result.quarantined[0] if result.quarantined else {"file": "?", "offset": 0, "reason": ""}
    files = len(result.files)
    return WarcJobError(
        f"split {result.split} ({files} file{'s' if files != 1 else ''}) would take the run to {total} quarantined "
        f"records, over the error budget --max-errors {max_errors}: nothing of that split was registered "
        f"(splits before it stay registered). First bad record: {first['file']} at offset {first['offset']}: "
        f"{first['reason'][:200]}. See {quarantine_file}; fix or drop the bad inputs, or raise "
        f"--max-errors and rerun with --run-id {run_id}")
