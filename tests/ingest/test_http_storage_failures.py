"""Inputs on a real HTTP server (127.0.0.1, tests/failing_http.py) that fails reads mid-job,
through Ray workers: a failure is told as the storage's (not bad data, not quarantined, not counted
against --max-errors, the URL and the run id named), a brief one is retried by Ray without a manual
rerun, and a rerun with the run id after a lasting one ends with every record exactly once.

Before: fsspec's HTTP raises aiohttp's errors (a 503, a connection dropped mid-body), which are not
OSErrors, so the split failed with a generic "split N failed (ClientPayloadError ...)"; a split was
never retried on a read error; and a 503 on the size check when a WARC is opened was quarantined as
the file's bad bytes at offset 0, the split marked done, its records never read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from catalog.store import Store
from ingest.errors import IngestJobError, WarcJobError
from ingest.file_sources import FileRef, Split, key_for
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.warc_indexing import IndexOptions, index_split
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.failing_http import FailingFileServer

WARCS = ("example.warc.gz", "dolma-wget-sample-0000.warc.gz", "whirlwind.warc")
FLAKY = WARCS[1]
COUNTS = ("files", "records", "indexed", "repacked", "skipped", "quarantined", "unkeyed_copied")
# GETs of a named input the driver makes before the job's workers read it (the input check's probe, the
# planner's look at it): failures start after them, in a worker
DRIVER_GETS = 2


@pytest.fixture(scope="module")
def server(shared_data_dir: Path) -> Iterator[FailingFileServer]:
    srv = FailingFileServer()
    srv.start()
    for name in WARCS:
        srv.put(name, (shared_data_dir / "warc" / name).read_bytes())
    for name in "abc":
        srv.put(f"{name}.txt", f"file {name} ".encode() * 300)
    yield srv
    srv.stop()


@pytest.fixture
def http(server: FailingFileServer) -> Iterator[FailingFileServer]:
    server.heal()
    yield server
    server.heal()


def _warc(root: Path, urls: list[str], run_id: str, retries: int = 3, max_errors: int | None = None
          ) -> dict[str, Any]:
    config = WarcJobConfig(run_id=run_id, split_files=1, task_retries=retries, max_errors=max_errors)
    with Store(str(root)) as store:
        return run_warc_job(store, urls, config, show_progress=False).as_dict()


def _catalog(root: Path) -> dict[str, int]:
    with Store(str(root)) as store:
        return {key: loc.digest for key, loc in store.catalog.items()}


@pytest.fixture(scope="module")
def clean(server: FailingFileServer, ray_session: None, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[dict[str, Any], dict[str, int]]:
    """The WARC job's summary (with the GETs of the flaky file, ``gets``) and catalog with healthy storage."""
    server.heal()
    root = tmp_path_factory.mktemp("clean")
    summary = _warc(root, [f"{server.url}/{n}" for n in WARCS], "clean")
    assert summary["indexed"] + summary["repacked"] > 20 and not summary["failed"]
    return {**summary, "gets": server.gets[FLAKY]}, _catalog(root)


def test_a_lasting_failure_fails_the_split_as_the_storage_and_a_rerun_ingests_each_record_once(
        http: FailingFileServer, clean: tuple[dict[str, Any], dict[str, int]], tmp_path: Path) -> None:
    """A connection dropped mid-body (a 503 is the files test's, and the open test's, below)."""
    summary, catalog = clean
    urls = [f"{http.url}/{n}" for n in WARCS]
    http.fail(FLAKY, "reset", after=DRIVER_GETS)
    root = tmp_path / "root"
    with pytest.raises(IngestJobError) as caught:
        _warc(root, urls, "w1", retries=1, max_errors=0)  # no bad record allowed: the failure must not count
    message = str(caught.value)
    assert not isinstance(caught.value, WarcJobError)
    assert f"{http.url}/{FLAKY}" in message and "failed on its storage" in message and "not bad data" in message
    assert "--run-id w1" in message and "tried 2 times" in message
    assert http.gets[FLAKY] >= DRIVER_GETS + 2  # the split was run again by Ray before it failed for good
    http.heal()
    again = _warc(root, urls, "w1", max_errors=0)
    assert not again["failed"] and again["quarantined"] == 0
    assert {k: again[k] for k in COUNTS} == {k: summary[k] for k in COUNTS}
    assert _catalog(root) == catalog


def test_a_brief_failure_is_retried_by_ray_and_the_run_finishes(
        http: FailingFileServer, clean: tuple[dict[str, Any], dict[str, int]], tmp_path: Path) -> None:
    summary, catalog = clean
    http.fail(FLAKY, "reset", times=1, after=DRIVER_GETS)
    root = tmp_path / "root"
    again = _warc(root, [f"{http.url}/{n}" for n in WARCS], "w2")
    assert not again["failed"] and again["splits_skipped_done"] == 0
    assert http.gets[FLAKY] > summary["gets"]  # the failed GET, then the split's second attempt
    assert {k: again[k] for k in COUNTS} == {k: summary[k] for k in COUNTS}
    assert again["added"] == summary["added"]
    assert _catalog(root) == catalog
    # nothing of the failed attempt is left: every volume file of the run is in the volume table
    with Store(str(root)) as store:
        files = sorted(str(p) for p in (root / "volumes").rglob("*.warc.gz"))
        assert all(store.catalog.volumes.number_of(f) is not None for f in files), files


def test_files_over_http_a_503_fails_the_split_as_the_storage_and_a_rerun_ingests_each_file_once(
        http: FailingFileServer, ray_session: None, tmp_path: Path) -> None:
    urls = [f"{http.url}/{n}.txt" for n in "abc"]
    http.fail("b.txt", "503", after=DRIVER_GETS)
    root = tmp_path / "root"
    config = FilesJobConfig(run_id="f1", split_files=1, max_errors=0, task_retries=1)
    with Store(str(root)) as store:
        with pytest.raises(IngestJobError) as caught:
            run_files_job(store, urls, config, show_progress=False)
        message = str(caught.value)
        assert f"{http.url}/b.txt" in message and "503" in message and "not bad data" in message
        assert "--run-id f1" in message
        http.heal()
        again = run_files_job(store, urls, config, show_progress=False)
        assert again.rejected == [] and not again.failed
        keys = sorted(store.catalog.list())
        assert len(keys) == 3 and [store.cat(key) for key in keys] == [f"file {n} ".encode() * 300 for n in "abc"]


def test_a_503_when_a_warc_is_opened_is_the_storage_not_a_quarantined_file(
        http: FailingFileServer, tmp_path: Path) -> None:
    """The size check of :func:`catalog.warc_layout.resolve_source`, in the worker: a 503 raises
    SourceReadError (the split fails and is read again); a file that is gone is still quarantined."""
    from catalog.errors import SourceReadError

    url = f"{http.url}/{FLAKY}"
    http.fail(FLAKY, "503", head=True)
    split = Split(0, (FileRef(url, 1, key_for(url)),))
    with pytest.raises(SourceReadError) as caught:
        index_split(split, str(tmp_path / "v"), str(tmp_path / "i"), IndexOptions())
    assert caught.value.url == url and "503" in caught.value.detail
    gone = f"{http.url}/gone.warc.gz"
    result = index_split(Split(1, (FileRef(gone, 1, key_for(gone)),)), str(tmp_path / "v"), str(tmp_path / "i"),
                         IndexOptions())
    assert [q["file"] for q in result.quarantined] == [gone] and result.quarantined[0]["offset"] == 0
