"""WARC splits registered from their Ray workers straight to the owners (the embedded default's cluster):
in plan order (each after the split before it), and exactly once when a worker dies right after its split
registered."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from catalog.catalog_meta import load_meta
from catalog.store import Store
from ingest.local_head import local_head_address, stop_head
from tests.ingest.job_runner import run_job_process
from tests.ingest.test_warc_job import _latest_captures


@pytest.mark.chaos
def test_a_worker_killed_after_registering_its_split_is_retried_and_every_record_is_once(
        shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc_dir = shared_data_dir / "warc"
    root, run_id = str(tmp_path / "root"), "retried"
    fired = tmp_path / "fired"
    # the second split's worker dies after the owners acknowledged its records, before returning
    env = {"HAYBALE_FAILPOINT": "warc_worker.after_register:1", "HAYBALE_FAILPOINT_SCOPE": "process",
           "HAYBALE_FAILPOINT_ONCE": str(fired), "HAYBALE_CLUSTER_IDLE_SECONDS": "120"}
    for name, value in env.items():  # the head's workers inherit its environment
        monkeypatch.setenv(name, value)
    try:
        # the head runs before the command: the driver works no split itself, every worker registers
        local_head_address(root)
        code, output = run_job_process(["haybale", "ingest", "warc", str(warc_dir), "--root", root, "--run-id",
                                        run_id, "--split-files", "4", "--json", "--quiet"], env, timeout=600)
    finally:
        stop_head(root)
    assert code == 0, output[-3000:]
    assert fired.exists(), "the fail point in the worker was never reached: the workers did not register"
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["files"] == 23 and summary["quarantined"] == 3 and summary["splits"] == 6
    assert summary["splits_on_driver"] == 0
    # a catalog the CLI creates on the embedded default has one owner per CPU of the local head, 2 to 4
    assert load_meta(root).num_owners == max(2, min(4, os.cpu_count() or 2))
    # the retried task found the records its killed attempt registered: counted unchanged, not added twice
    assert summary["unchanged"] > 0
    expected = _latest_captures(sorted(warc_dir.iterdir()), tmp_path)
    assert summary["added"] + summary["updated"] <= len(expected)
    with Store(root, read_only=True) as store:
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected  # every record once
        assert store.stats()["records"] == len(expected)
        for key in expected:
            store.cat(key)
    assert len(list(Path(root, "runs", run_id, "done").glob("*.json"))) == 6


def test_a_command_that_starts_the_head_works_splits_on_the_driver_and_every_record_is_once(
        shared_data_dir: Path, tmp_path: Path) -> None:
    warc_dir = shared_data_dir / "warc"
    root, run_id = str(tmp_path / "root"), "cold"
    try:
        code, output = run_job_process(["haybale", "ingest", "warc", str(warc_dir), "--root", root, "--run-id",
                                        run_id, "--split-files", "4", "--json", "--quiet"],
                                       {"HAYBALE_CLUSTER_IDLE_SECONDS": "120"}, timeout=600)
    finally:
        stop_head(root)
    assert code == 0, output[-3000:]
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["files"] == 23 and summary["quarantined"] == 3 and summary["splits"] == 6
    # this command started the root's head: the driver indexed splits from the plan's tail meanwhile and
    # registered them after the others (ingest/driver_split.py)
    assert 1 <= summary["splits_on_driver"] <= 6
    expected = _latest_captures(sorted(warc_dir.iterdir()), tmp_path)
    assert summary["added"] == len(expected)  # each key added once (a later capture updates it)
    with Store(root, read_only=True) as store:
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected  # every record once
        for key in expected:
            store.cat(key)
    assert len(list(Path(root, "runs", run_id, "done").glob("*.json"))) == 6
