"""``dedup run`` over JSONL inputs on a real HTTP server (127.0.0.1, tests/failing_http.py) whose read
of one file fails mid-job (the connection dropped mid-body, or a 503), through Ray workers: the split
fails as a read error of that file (not bad data: nothing quarantined), and a resume with the run id
reads it again and ends as a run without the failure, every document once.

Before, aiohttp's errors (which are not OSErrors) passed dedup's I/O-error handling: the unit failed
with the bare aiohttp error, not saying it was the storage nor that the file is read again on resume.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.errors import JobError
from dedup.job import run_dedup
from dedup.sources import JsonlSource
from tests.failing_http import FailingFileServer


def _lines(prefix: str, n: int) -> bytes:
    return b"".join(json.dumps({"id": f"{prefix}{i}", "text": f"document {prefix} number {i} " * 8}).encode() + b"\n"
                    for i in range(n))


@pytest.fixture(scope="module")
def http() -> Iterator[FailingFileServer]:
    srv = FailingFileServer()
    srv.start()
    for name in "ab":
        srv.put(f"{name}.jsonl", _lines(name, 300))
    yield srv
    srv.stop()


def _run(http: FailingFileServer, output: Path) -> dict[str, Any]:
    urls = [f"{http.url}/{n}.jsonl" for n in "ab"]
    return run_dedup(JsonlSource(urls), str(output), DedupConfig(max_bad_records=0), run_id="d1", progress=False,
                     inputs=urls)


def _kept(output: Path) -> list[str]:
    return sorted(i for part in sorted((output / "data").glob("*.parquet"))
                  for i in pq.read_table(part, columns=["id"]).column("id").to_pylist())


@pytest.mark.parametrize("mode", ["reset", "503"])
def test_a_failed_read_over_http_fails_the_split_and_a_resume_reads_every_document_once(
        mode: str, http: FailingFileServer, ray_session: None, tmp_path: Path) -> None:
    http.heal()
    _run(http, tmp_path / "clean")
    gets = http.gets["b.jsonl"]  # the planner's look at the file, then the read of its split
    http.heal()
    http.fail("b.jsonl", mode, after=gets - 1)  # the split's read, in a Ray worker
    output = tmp_path / "out"
    with pytest.raises(JobError) as caught:
        _run(http, output)
    message = str(caught.value)
    assert f"{http.url}/b.jsonl" in message and "I/O error" in message and "not bad data" in message, message
    assert "rerun with --run-id d1 to resume" in message, message  # before: "the same --run-id", no id
    http.heal()
    summary = _run(http, output)
    assert summary["documents"]["input"] == 600 and summary["documents"]["quarantined"] == 0
    assert _kept(output) == _kept(tmp_path / "clean") and len(_kept(output)) == 600
