"""The files job's error budget, decided before a split is registered (as the WARC job's,
:mod:`ingest.warc_budget`).

With ``--max-errors N``, the split whose unreadable files would take the run past N is not registered
at all: its sealed volumes are removed (nothing points at them, and ``catalog rebuild`` must not find
them), and the job stops with a :class:`FilesJobError` naming the split, its first unreadable file and
what to do. Splits registered before it stay registered. The refused split's unreadable files are
listed in the run's summary (``rejected``), which the error points to.
"""
from __future__ import annotations

from catalog.store import Store
from ingest.errors import FilesJobError
from ingest.packing import PackResult

__all__ = ["FilesJobError", "refuse_split", "would_exceed"]


def would_exceed(rejected_so_far: int, result: PackResult, max_errors: int | None) -> bool:
    """True if registering ``result`` would take the run past ``max_errors`` unreadable files."""
    return max_errors is not None and rejected_so_far + len(result.rejects) > max_errors


def refuse_split(store: Store, result: PackResult, *, rejected_so_far: int, max_errors: int | None,
                 summary_file: str, run_id: str) -> FilesJobError:
    """Remove the volumes the split sealed and return the error to raise."""
    for sealed in result.sealed:
        store.drop_volume(sealed)
    total = rejected_so_far + len(result.rejects)
    first = result.rejects[0] if result.rejects else {"url": "?", "reason": ""}
    files = result.files + result.unchanged + len(result.rejects)
    return FilesJobError(
        f"split {result.split} ({files} file{'s' if files != 1 else ''}) would take the run to {total} unreadable "
        f"files, over the error budget --max-errors {max_errors}: nothing of that split was registered "
        f"(splits before it stay registered). First unreadable file: {first['url']}: {first['reason'][:200]}. "
        f"See {summary_file} (rejected); fix or drop the bad inputs, or raise --max-errors and rerun with "
        f"--run-id {run_id}")
