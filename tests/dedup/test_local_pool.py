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

    from dedup import tokenize_kernel

    return {
        "pid": os.getpid(),
        # the fork server loaded these kernels before forking (dedup/pool_warmup.py)
        "loaded_kernels": len(tokenize_kernel.tokenize_ascii_rules.overloads),
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


# In a fresh interpreter: the fork server's kernel warm-up, then a small job with exact copies and
# close near-copies (every kernel path: spills, candidates, exact Jaccard with repeated sets),
# all in this process. Prints each kernel's specializations after the warm-up and after the job.
_WARM_THEN_JOB = """
import json, random, sys
import numba
from dedup import digests, join_kernels, jsonl_scan, minhash_kernels, tokenize_kernel
from dedup.config import DedupConfig
from dedup.minhash import MinHasher
from dedup.pool_warmup import warm_later_kernels
from dedup.sources import JsonlSource
from dedup.split_stage import process_split
from dedup.waves import Waves, inline_executor
from dedup.workdir import WorkDir

def loaded():
    return {f"{m.__name__}.{n}": sorted(str(s) for s in getattr(m, n).signatures)
            for m in (digests, join_kernels, jsonl_scan, minhash_kernels, tokenize_kernel) for n in dir(m)
            if isinstance(getattr(m, n), numba.core.registry.CPUDispatcher) and getattr(m, n).signatures}

MinHasher().signatures(["warm the compiled kernels up"])
warm_later_kernels()
warmed = loaded()
rng = random.Random(5)
words = [f"w{i}" for i in range(3000)]
lines = []
for i in range(40):
    text = [rng.choice(words) for _ in range(150)]
    lines.append({"id": f"d{i}", "text": " ".join(text)})
    if i % 4 == 0:
        lines.append({"id": f"d{i}-same", "text": " ".join(text)})
    if i % 5 == 0:
        for copy in range(2):
            edited = [w if rng.random() > 0.08 else rng.choice(words) for w in text]
            lines.append({"id": f"d{i}-near{copy}", "text": " ".join(edited)})
path = sys.argv[1] + "/in.jsonl"
with open(path, "w") as handle:
    handle.write("".join(json.dumps(line) + "\\n" for line in lines))
source, config, work = JsonlSource([path]), DedupConfig(), WorkDir(sys.argv[1] + "/out", "run")
for index, split in enumerate(source.splits()):
    process_split(index, split, source, config, work)
waves = Waves(work, config, 1, 2, inline_executor)
pairs, _ = waves.candidates()
clusters, exact, near = waves.clusters(waves.components())
waves.write(exact, near)
print(json.dumps({"warmed": warmed, "after_job": loaded(), "pairs": pairs}))
"""


def test_the_warm_up_loads_every_kernel_the_job_uses_with_its_types(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", _WARM_THEN_JOB, str(tmp_path)], cwd=root, capture_output=True,
                            text=True, check=True, timeout=600)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["pairs"]["exact_pairs"] > 0 and found["pairs"]["exact_checks"] > 0  # every path ran
    # The job loaded no kernel the warm-up had not, and no kernel got a second specialization
    # (which would mean the warm-up called it with other types and compiled a useless one).
    assert found["after_job"] == found["warmed"]
