"""A read that fails on the input's storage is not bad data: the split fails, and a rerun with the same
run id reads the file again and ends as a run without the failure, every record exactly once.

Before, ``ingest warc`` quarantined the failed read as one record ("file could not be read to the end",
or "unreadable by every parser") counted against ``--max-errors``, ingested none of the records after
it, and marked the split done, so a rerun never read them; ``ingest files`` rejected the file as
"unreadable" and a rerun never read it either. The storage is a real fsspec filesystem whose reads fail
on a byte range (tests/failing_storage.py); the jobs run in this process (``local=True``, as
``--no-ray``), since that filesystem lives in its memory. Files that are bad in themselves keep their
behaviour: a damaged WARC is still quarantined (here), an unreadable or vanished file still rejected
(tests/ingest/test_files_budget.py, test_files_job.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog.store import Store
from ingest.errors import IngestJobError, WarcJobError
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.failing_storage import path_of, put

COUNTS = ("files", "records", "indexed", "repacked", "skipped", "quarantined", "unkeyed_copied")


def _warc_inputs(shared: Path) -> list[str]:
    """Three WARCs: a healthy one, the one whose storage will fail, and one damaged in itself."""
    damaged = bytearray((shared / "warc" / "whirlwind.warc.gz").read_bytes())
    damaged[len(damaged) // 2: len(damaged) // 2 + 64] = bytes(64)
    return [put("in/a.warc.gz", (shared / "warc" / "example.warc.gz").read_bytes()),
            put("in/b.warc.gz", (shared / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes()),
            put("in/c.warc.gz", bytes(damaged))]


def _warc(store: Store, urls: list[str], repack: bool, max_errors: int | None = None) -> dict[str, Any]:
    config = WarcJobConfig(run_id="w1", split_files=1, repack=repack, max_errors=max_errors)
    return run_warc_job(store, urls, config, local=True, show_progress=False).as_dict()


@pytest.mark.parametrize("repack", [False, True], ids=["in-place", "repack"])
def test_a_failed_read_mid_warc_fails_the_split_and_a_rerun_ingests_it_once(
        repack: bool, flaky: Any, tmp_path: Path, shared_data_dir: Path) -> None:
    urls = _warc_inputs(shared_data_dir)
    with Store(str(tmp_path / "clean")) as store:
        clean = _warc(store, urls, repack)
        clean_catalog = {key: loc.digest for key, loc in store.catalog.items()}
    assert clean["quarantined"] > 0 and clean["indexed"] + clean["repacked"] > 24  # the damaged file's, kept
    size = len(flaky.store[path_of(urls[1])].getbuffer())
    flaky.bad, flaky.bad_path = (size // 2, size // 2 + 1), path_of(urls[1])
    root = tmp_path / "root"
    with Store(str(root)) as store:
        # a budget of as many bad records as the damaged file has: the failed read must not count
        with pytest.raises(IngestJobError) as caught:
            _warc(store, urls, repack, max_errors=clean["quarantined"])
        message = str(caught.value)
        assert not isinstance(caught.value, WarcJobError)
        assert "in/b.warc.gz" in message and "not bad data" in message and "--run-id w1" in message
        saved = json.loads((root / "runs" / "w1" / "summary.json").read_text())
        assert saved["failed"] == message and saved["quarantined"] == 0 and saved["splits_skipped_done"] == 0
        flaky.bad = None  # the storage is back: the rerun reads b (and c) again
        again = _warc(store, urls, repack, max_errors=clean["quarantined"])
        assert again["splits_skipped_done"] == 1 and not again["failed"]
        assert {k: again[k] for k in COUNTS} == {k: clean[k] for k in COUNTS}
        assert saved["added"] + again["added"] == clean["added"]  # each record registered once
        assert {key: loc.digest for key, loc in store.catalog.items()} == clean_catalog


def test_a_failed_read_of_a_file_fails_the_files_split_and_a_rerun_ingests_it_once(
        flaky: Any, tmp_path: Path) -> None:
    urls = [put(f"in/{name}.txt", f"file {name} ".encode() * 200) for name in "abc"]
    flaky.bad, flaky.bad_path = (100, 101), path_of(urls[1])
    root = tmp_path / "root"
    config = FilesJobConfig(run_id="f1", split_files=1, max_errors=0)
    with Store(str(root)) as store:
        with pytest.raises(IngestJobError) as caught:
            run_files_job(store, urls, config, local=True, show_progress=False)
        message = str(caught.value)
        assert "in/b.txt" in message and "not bad data" in message and "--run-id f1" in message
        saved = json.loads((root / "runs" / "f1" / "summary.json").read_text())
        assert saved["failed"] == message and saved["rejected"] == [] and saved["added"] == 1
        flaky.bad = None
        again = run_files_job(store, urls, config, local=True, show_progress=False)
        assert again.splits_skipped_done == 1 and again.added == 2 and again.rejected == []
        keys = sorted(store.catalog.list())
        assert len(keys) == 3 and [store.cat(key) for key in keys] == [f"file {n} ".encode() * 200 for n in "abc"]
