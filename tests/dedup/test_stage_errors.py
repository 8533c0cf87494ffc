"""How a failed unit reaches the user: the stage, the cause, and how to resume (dedup/errors.py)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dedup.errors import StageError, with_resume_hint
from dedup.executors import LocalExecutor
from dedup.workdir import WorkDir


def _write_to(work: WorkDir, path: str) -> dict[str, Any]:
    with open(path, "wb") as out:
        out.write(b"signatures" * 1000)
    return {}


def _fail_in_pool(tmp_path: Path, path: str) -> StageError:
    executor = LocalExecutor(lambda line: None, processes=1)
    try:
        with pytest.raises(StageError) as failed:
            executor([("read-000000", _write_to, (WorkDir(str(tmp_path / "out"), "r1"), path))], "read+signatures")
    finally:
        executor.close()
    return with_resume_hint(failed.value, "r1", str(tmp_path / "out"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_in_a_worker_says_to_free_space_then_resume(tmp_path: Path) -> None:
    """/dev/full fails every write with ENOSPC, as a full disk does; the error crossed the worker pool
    and said only "No space left on device", not what to do nor that a rerun resumes."""
    message = str(_fail_in_pool(tmp_path, "/dev/full"))
    assert message.startswith("stage read+signatures failed: OSError: [Errno 28]"), message
    assert f"the disk holding {tmp_path / 'out'}" in message and "is full or over quota: free space there" in message
    assert message.endswith("then rerun with --run-id r1 to resume (the units done are kept)"), message


def test_any_failed_unit_says_how_to_resume(tmp_path: Path) -> None:
    message = str(_fail_in_pool(tmp_path, str(tmp_path / "no" / "such" / "dir")))
    assert "FileNotFoundError" in message and message.endswith("; rerun with --run-id r1 to resume (the units done "
                                                               "are kept)"), message
    assert "free space" not in message


def test_a_failure_that_says_how_to_resume_already_is_left_as_it_is() -> None:
    said = StageError("stage read+signatures failed: data/a.jsonl: read failed: rerun with --run-id r1")
    assert with_resume_hint(said, "r1", "out") is said


def test_a_failure_that_says_to_resume_with_the_same_run_id_names_it() -> None:
    """A unit's read error says "rerun with the same --run-id" (dedup.sources.read_failed); a run whose
    id was generated was never told which: the hint took the sentence for its own and added nothing."""
    said = StageError("stage read+signatures failed: data/a.jsonl: read failed: rerun with the same --run-id to resume")
    assert str(with_resume_hint(said, "r1", "out")) == ("stage read+signatures failed: data/a.jsonl: read failed: "
                                                        "rerun with --run-id r1 to resume")
