"""How a split's failure reaches the user: the split, the cause, what to do, and the run id to resume."""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from ingest.errors import IngestJobError
from ingest.executors import LocalExecutor


def write_to(path: str) -> Any:
    def work(split: Any, payload: Any) -> None:
        with open(path, "wb") as out:
            out.write(b"volume bytes" * 1000)
    return work


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_says_to_free_space_then_resume() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does: the error said only "OSError:
    [Errno 28] No space left on device", and nothing about where or what to do first."""
    executor = LocalExecutor(write_to("/dev/full"), "r-full")
    with pytest.raises(IngestJobError) as failed:
        executor.submit(SimpleNamespace(index=3), None)
    message = str(failed.value)
    assert message.startswith("split 3 failed (OSError: [Errno 28]"), message
    assert "is full or over quota: free space there, then rerun with --run-id r-full to resume" in message


def test_other_failures_name_the_run_to_resume_without_the_disk_hint(tmp_path: Any) -> None:
    executor = LocalExecutor(write_to(str(tmp_path / "no" / "such" / "dir" / "v")), "r-gone")
    with pytest.raises(IngestJobError) as failed:
        executor.submit(SimpleNamespace(index=0), None)
    message = str(failed.value)
    assert "FileNotFoundError" in message and "rerun with --run-id r-gone to resume" in message
    assert "free space" not in message
