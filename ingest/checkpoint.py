"""Run state on the output storage: the plan of a run and a completion marker per split.

A run id names a run; its state lives at ``ROOT/runs/RUN_ID/`` on the same storage as the volumes
(any fsspec URL). ``plan.json`` is written once, before any work, so a rerun processes exactly the
same splits. ``done/SPLIT.json`` is written after the split's volumes are registered in the catalog;
a rerun skips splits that have it. Markers are written to a temporary name and renamed, so a marker
is either whole or absent. Nothing is created until the first write (the plan), so a run refused
while planning leaves no folder behind.
"""
from __future__ import annotations

import json
import re
from typing import Any

import fsspec

from catalog.storage import ensure_parent, is_local, write_atomic_on
from ingest.errors import IngestError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a valid run id (it names files and folders), else :class:`IngestError`."""
    if not RUN_ID.match(run_id):
        raise IngestError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' or '-' "
                          "(at most 100 characters, not starting with a punctuation mark)")
    return run_id


class RunState:
    """Plan and completion markers of one run under ``runs_url/run_id``."""

    def __init__(self, runs_url: str, run_id: str) -> None:
        self.run_id = check_run_id(run_id)
        self.fs, base = fsspec.core.url_to_fs(runs_url)
        self.dir = f"{base.rstrip('/')}/{run_id}"
        self._local = is_local(runs_url)

    def _write(self, path: str, obj: Any) -> None:
        ensure_parent(self.fs, path)  # on S3: checks the bucket, never creates it
        write_atomic_on(self.fs, path, json.dumps(obj), local=self._local)

    def exists(self) -> bool:
        """True once the run has saved anything (its plan comes first)."""
        return bool(self.fs.exists(self.dir))

    def remove(self) -> None:
        """Delete the run's state (for a run that failed before any split was done)."""
        if self.fs.exists(self.dir):
            self.fs.rm(self.dir, recursive=True)

    def load_plan(self) -> dict[str, Any] | None:
        path = f"{self.dir}/plan.json"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r") as fh:
            return json.load(fh)

    def save_plan(self, plan: dict[str, Any]) -> None:
        self._write(f"{self.dir}/plan.json", plan)

    def done_splits(self) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        if not self.fs.exists(f"{self.dir}/done"):
            return out
        for path in self.fs.glob(f"{self.dir}/done/*.json"):
            with self.fs.open(path, "r") as fh:
                out[int(path.rsplit("/", 1)[1].split(".")[0])] = json.load(fh)
        return out

    def mark_done(self, split: int, info: dict[str, Any]) -> None:
        self._write(f"{self.dir}/done/{split:08d}.json", info)

    def save_summary(self, summary: dict[str, Any]) -> None:
        self._write(f"{self.dir}/summary.json", summary)
