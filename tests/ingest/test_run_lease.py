"""One command at a time per run id (ingest.run_lease): a second command with the same --run-id would
sweep the first one's sealed, not yet registered volumes (the sweep assumes nobody writes the run)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.store import Store
from ingest.errors import IngestError
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.run_lease import LEASES, run_lease
from tests.catalog.conftest import make_files


def test_a_lease_is_one_commands_and_goes_with_it(tmp_path: Path) -> None:
    first = run_lease(tmp_path, "run-1").acquire()
    assert (tmp_path / LEASES / "run-1.lock").read_text() == str(os.getpid())
    with pytest.raises(IngestError, match=rf"run run-1 is being run by another command \(pid {os.getpid()}\)"):
        run_lease(tmp_path, "run-1").acquire()
    with run_lease(tmp_path, "run-2"):  # another run id is another lease
        pass
    first.release()
    assert not (tmp_path / LEASES / "run-1.lock").exists()
    with run_lease(tmp_path, "run-1"):
        pass
    with pytest.raises(IngestError, match="not valid"):
        run_lease(tmp_path, "../escape")


def test_a_job_whose_run_id_is_running_is_refused_before_it_writes(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 30)
    root = str(tmp_path / "root")
    with Store(root) as store:
        held = run_lease(store.layout.catalog_dir, "busy").acquire()  # as a running command holds it
        try:
            with pytest.raises(IngestError, match="being run by another command"):
                run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="busy"), show_progress=False,
                              local=True)
            assert not (Path(root) / "runs" / "busy").exists() and not (Path(root) / "volumes" / "busy").exists()
        finally:
            held.release()
        done = run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="busy"), show_progress=False,
                             local=True)
        assert done.added == len(files)
        assert not (store.layout.catalog_dir / LEASES / "busy.lock").exists()
