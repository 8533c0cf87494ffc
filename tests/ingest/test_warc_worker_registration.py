"""WARC splits registered from their Ray workers straight to the owners (the embedded default's cluster):
in plan order by turns, and exactly once when a worker dies right after its split registered."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from catalog.catalog_meta import load_meta
from catalog.store import Store
from ingest.local_head import stop_head
from ingest.warc_worker import RegistrationTurns
from tests.ingest.job_runner import run_job_process
from tests.ingest.test_warc_job import _latest_captures


def test_turns_open_in_plan_order_whatever_order_splits_are_marked() -> None:
    turns = RegistrationTurns([2, 5, 7, 9])
    assert turns.wait(2)  # the first split of the attempt never waits
    returned: list[int] = []
    threads = [threading.Thread(target=lambda i=i: returned.append(turns.wait(i) and i)) for i in (5, 7, 9)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert returned == []
    turns.marked(7)  # out of order: 2 is not marked yet, so nobody may go
    time.sleep(0.2)
    assert returned == []
    turns.marked(2)
    time.sleep(0.2)
    assert returned == [5]  # 7 and 9 wait for 5 (7 is marked, but 5 before it is not)
    turns.marked(5)
    for t in threads:
        t.join(5)
    assert sorted(returned) == [5, 7, 9]


@pytest.mark.chaos
def test_a_worker_killed_after_registering_its_split_is_retried_and_every_record_is_once(
        shared_data_dir: Path, tmp_path: Path) -> None:
    warc_dir = shared_data_dir / "warc"
    root, run_id = str(tmp_path / "root"), "retried"
    fired = tmp_path / "fired"
    # the second split's worker dies after the owners acknowledged its records, before returning
    env = {"HAYBALE_FAILPOINT": "warc_worker.after_register:1", "HAYBALE_FAILPOINT_SCOPE": "process",
           "HAYBALE_FAILPOINT_ONCE": str(fired), "HAYBALE_CLUSTER_IDLE_SECONDS": "120"}
    try:
        code, output = run_job_process(["haybale", "ingest", "warc", str(warc_dir), "--root", root, "--run-id",
                                        run_id, "--split-files", "4", "--json", "--quiet"], env, timeout=600)
    finally:
        stop_head(root)
    assert code == 0, output[-3000:]
    assert fired.exists(), "the fail point in the worker was never reached: the workers did not register"
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["files"] == 23 and summary["quarantined"] == 3 and summary["splits"] == 6
    # this command started the root's head: the first split was indexed on the driver meanwhile, and the
    # driver registered it (ingest/driver_split.py); the others registered from their workers after it
    assert summary["splits_on_driver"] == 1
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
