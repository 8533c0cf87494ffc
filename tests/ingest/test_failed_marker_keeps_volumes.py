"""A run that fails after registering a split but before marking it done keeps that split's volumes.

The run's clean-up removed the volumes of a run that had no split marked done, as if nothing in them
were registered. A registration that went through followed by a failed marker write (its disk full),
a catalog that filled mid-batch, or workers that registered through the owners and then died for good
all leave entries pointing into those volumes: they then pointed at nothing, and the rerun counted
the keys "unchanged" and left them so (`cat` failed: "volume ... is missing")."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from catalog.store import Store
from ingest.checkpoint import RunState
from ingest.errors import IngestJobError
from ingest.files_job import FilesJobConfig, run_files_job
from tests.catalog.conftest import make_files
from tests.ingest.test_files_job import check_exactly_once


def test_a_marker_write_that_fails_after_registration_loses_nothing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_files(tmp_path / "src", 40)
    root = str(tmp_path / "root")
    real_mark_done = RunState.mark_done

    def disk_full(self: RunState, split: int, info: dict) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", f"{self.dir}/done/{split:08d}.json")

    monkeypatch.setattr(RunState, "mark_done", disk_full)
    with Store(root) as store, pytest.raises(IngestJobError) as failed:
        run_files_job(store, [str(tmp_path / "src")], FilesJobConfig(run_id="r1"), show_progress=False, local=True)
    message = str(failed.value)
    assert message.startswith("split 0 failed to register (OSError: [Errno 28]"), message
    assert "is full or over quota: free space there, then rerun with --run-id r1 to resume" in message
    # the catalog holds the split's entries: they must still read
    with Store(root, read_only=True) as store:
        assert store.catalog.stats()["records"] == len(files)
        first = f"file://{next(iter(files))}"
        assert store.cat(first) == files[next(iter(files))]

    monkeypatch.setattr(RunState, "mark_done", real_mark_done)
    with Store(root) as store:
        again = run_files_job(store, [str(tmp_path / "src")], FilesJobConfig(run_id="r1"), show_progress=False,
                              local=True).as_dict()
    assert again["added"] + again["unchanged"] == len(files)
    check_exactly_once(root, files, "r1")
