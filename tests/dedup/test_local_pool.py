"""The local pool's workers (dedup/executors.py): forked warm from a fork server, with the driver's
environment as it is when the pool is made."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dedup.executors import LocalExecutor
from dedup.workdir import WorkDir


def _state(work: WorkDir) -> dict[str, Any]:
    import sys

    from dedup import minhash_kernels

    return {
        "pid": os.getpid(),
        # the fork server loaded these kernels before forking (dedup/pool_warmup.py)
        "loaded_kernels": len(minhash_kernels.tokenize_and_hash.overloads),
        "probe": os.environ.get("HAYBALE_POOL_TEST_PROBE"),
        # the steps of every wave, which the driver's dedup.job no longer imports at its top
        "step_modules": sorted(m for m in ("dedup.split_stage", "dedup.waves", "dedup.pair_join", "dedup.outputs")
                               if m in sys.modules),
    }


def _run_one(tmp_path: Path, name: str) -> dict[str, Any]:
    executor = LocalExecutor(lambda line: None, processes=1)
    try:
        return executor([(name, _state, (WorkDir(str(tmp_path / name), "run"),))], "probe")[0]
    finally:
        executor.close()


def test_workers_start_with_the_kernels_loaded(tmp_path: Path) -> None:
    state = _run_one(tmp_path, "warm")
    assert state["pid"] != os.getpid()
    assert state["loaded_kernels"] >= 1, "the pool's workers were not forked from a warmed-up fork server"
    assert state["step_modules"] == ["dedup.outputs", "dedup.pair_join", "dedup.split_stage", "dedup.waves"]


def test_workers_see_the_environment_of_when_the_pool_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAYBALE_POOL_TEST_PROBE", raising=False)
    assert _run_one(tmp_path, "before")["probe"] is None  # the fork server runs from here on
    monkeypatch.setenv("HAYBALE_POOL_TEST_PROBE", "set after the fork server started")
    assert _run_one(tmp_path, "after")["probe"] == "set after the fork server started"
