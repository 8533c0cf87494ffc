"""The job's outputs, pinned byte for byte.

The digests below were produced by the job as it was before the cluster-scale rework (commit
ce491ac: one forest merge ending in one task, one ``assign`` task; with the integrity work's
metadata and counts and the near-dup defaults of word trigrams, threshold 0.68 and the
small-difference clause) on the fixed corpora of ``tests/dedup/pinned_corpus.py``, printed by
``python -m tests.dedup.test_output_pinned`` in a checkout of that commit. Outputs are a
deterministic function of the inputs and the settings, so any rework of how the job distributes its
work must reproduce them exactly: every ``data/`` and ``removed/`` Parquet file, the quarantine rows
and the summary's counts. LSH bands x rows are given explicitly, so a change of the defaults does
not move these figures.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.sources import JsonlSource
from tests.dedup.pinned_corpus import build_pinned_bulk_corpus, build_pinned_corpus

pytestmark = pytest.mark.ray

CONFIGS = {
    "exact-first": DedupConfig(bands=25, rows=5, partitions=4),
    "estimate-longest": DedupConfig(bands=25, rows=5, partitions=3, verify="estimate", keep="longest"),
    "exact-priority": DedupConfig(bands=20, rows=6, threshold=0.7, partitions=1, keep="priority", priority_field="rank"),
    "bulk-exact": DedupConfig(bands=25, rows=5, partitions=5),
}

EXPECTED: dict[str, dict[str, Any]] = {
    "bulk-exact": {
        "data/part-000000.parquet": "8062ea8f4b5cfc2a",
        "data/part-000001.parquet": "8814e262d891c1cd",
        "quarantine": "4f53cda18c2baa0c",
        "removed/part-000000.parquet": "b078786f57363b5e",
        "removed/part-000001.parquet": "591b3f1e523f82c4",
        "summary.documents": {"input": 9000, "kept": 7698, "quarantined": 0, "records": 9000, "removed": 1302, "removed_by_reason": {"exact_duplicate": 347, "near_duplicate": 955}, "warnings": 0},
    },
    "estimate-longest": {
        "data/part-000000.parquet": "71a0a9d0812badde",
        "data/part-000001.parquet": "548488d53c5493ba",
        "data/part-000002.parquet": "7d4f22f2c852c386",
        "data/part-000003.parquet": "960011c0aa136865",
        "data/part-000004.parquet": "9821965c8ced95f9",
        "data/part-000005.parquet": "e9689bec379995f9",
        "data/part-000006.parquet": "510ede2f6820f99b",
        "data/part-000007.parquet": "a978ee806ff99dc2",
        "data/part-000008.parquet": "f92e21a5da38be3b",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "1665c7a518f3e009",
        "removed/part-000001.parquet": "981a85b56c4f9056",
        "removed/part-000002.parquet": "e5e63c72a7baa756",
        "removed/part-000003.parquet": "677ecea11bb569bd",
        "removed/part-000004.parquet": "b9e8a35d9bbeeea8",
        "removed/part-000005.parquet": "94feba884310b9f8",
        "removed/part-000006.parquet": "5c0000330d3602df",
        "removed/part-000007.parquet": "2f97043a32177c52",
        "removed/part-000008.parquet": "8d687c799879fec3",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 10, "41": 1}, "clusters": 23, "exact_removed": 40, "removed": 72},
        "summary.documents": {"input": 132, "kept": 58, "quarantined": 3, "records": 135, "removed": 74, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 32}, "warnings": 0},
    },
    "exact-first": {
        "data/part-000000.parquet": "e8960b6cab9fbb68",
        "data/part-000001.parquet": "3f98a84f65cdac9a",
        "data/part-000002.parquet": "be6d290d45bb398e",
        "data/part-000003.parquet": "d58d7d3d5802dacc",
        "data/part-000004.parquet": "37daf1285d46e9da",
        "data/part-000005.parquet": "94ddc22530074732",
        "data/part-000006.parquet": "3563d0be6f14cc76",
        "data/part-000007.parquet": "f0fec3aaba3b3024",
        "data/part-000008.parquet": "bf00751ccf55c40b",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "e7da1b30bc569181",
        "removed/part-000001.parquet": "9aa669fd268a1d4f",
        "removed/part-000002.parquet": "f486a1a6a5ba0571",
        "removed/part-000003.parquet": "de60f8d4209c7e7f",
        "removed/part-000004.parquet": "e2f46538741364b6",
        "removed/part-000005.parquet": "81e757b35706ca7d",
        "removed/part-000006.parquet": "513a1850c1f3a500",
        "removed/part-000007.parquet": "2c1d5170c145cdcb",
        "removed/part-000008.parquet": "aa7e094bcde8b060",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 10, "41": 1}, "clusters": 23, "exact_removed": 40, "removed": 72},
        "summary.documents": {"input": 132, "kept": 58, "quarantined": 3, "records": 135, "removed": 74, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 32}, "warnings": 0},
    },
    "exact-priority": {
        "data/part-000000.parquet": "c348f7353920a529",
        "data/part-000001.parquet": "db3f7d8a8698d21e",
        "data/part-000002.parquet": "1fce20048ced4e62",
        "data/part-000003.parquet": "bf53482280618d81",
        "data/part-000004.parquet": "e1f19b9e2b766f54",
        "data/part-000005.parquet": "b937ae5e21480d5c",
        "data/part-000006.parquet": "79d4c9056492bda9",
        "data/part-000007.parquet": "92201979cb94f69f",
        "data/part-000008.parquet": "c6b3c92442204eef",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "5cc2684a108c31f9",
        "removed/part-000001.parquet": "622e660dc64b3478",
        "removed/part-000002.parquet": "4d2e8516d67b34f1",
        "removed/part-000003.parquet": "797393960c174c73",
        "removed/part-000004.parquet": "0082708ed8acd646",
        "removed/part-000005.parquet": "6385c4ad95a5fc3d",
        "removed/part-000006.parquet": "56057bce1fe5ac93",
        "removed/part-000007.parquet": "3b02157d7b146f85",
        "removed/part-000008.parquet": "0cfe73471cbf9882",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 10, "41": 1}, "clusters": 23, "exact_removed": 40, "removed": 72},
        "summary.documents": {"input": 132, "kept": 58, "quarantined": 3, "records": 135, "removed": 74, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 32}, "warnings": 0},
    },
}


def output_digests(output: Path) -> dict[str, Any]:
    """sha256 (16 hex digits) of every data/ and removed/ file, and of the quarantine rows (file
    names, not the temporary directory)."""
    digests: dict[str, Any] = {}
    for sub in ("data", "removed"):
        for path in sorted((output / sub).glob("*.parquet")):
            digests[f"{sub}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    rows = pq.read_table(output / "quarantine.parquet").to_pylist()
    listed = [[Path(r["source"]).name, r["offset"], r["reason"]] for r in rows]
    digests["quarantine"] = hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]
    return digests


@pytest.fixture(scope="module")
def pinned_inputs(tmp_path_factory: pytest.TempPathFactory, articles: list[str]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pinned")
    build_pinned_corpus(base / "corpus", articles)
    build_pinned_bulk_corpus(base / "bulk", articles)
    return {"corpus": base / "corpus", "bulk": base / "bulk"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_outputs_are_byte_identical_to_the_pinned_run(
    ray_session: None, pinned_inputs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    from dedup.job import run_dedup

    inputs = pinned_inputs["bulk" if name.startswith("bulk") else "corpus"]
    output = tmp_path / name
    summary = run_dedup(JsonlSource([str(inputs)]), str(output), CONFIGS[name], run_id="pin", progress=False)
    expected = dict(EXPECTED[name])
    assert summary["documents"] == expected.pop("summary.documents")
    if "summary.clusters" in expected:
        assert summary["clusters"] == expected.pop("summary.clusters")
    assert output_digests(output) == expected


def test_local_process_pool_gives_the_pinned_output(pinned_inputs: dict[str, Path], tmp_path: Path) -> None:
    """Without a Ray address (a fresh process, no Ray), the units run on a local process pool:
    the same outputs, byte for byte."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    output = tmp_path / "local"
    run = subprocess.run(
        [sys.executable, "-m", "haybale", "dedup", "run", "--input", str(pinned_inputs["corpus"]), "--output", str(output),
         "--run-id", "pin", "--bands", "25", "--rows", "5", "--partitions", "4", "--quiet", "--json"],
        cwd=root, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(Path.home())},
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["documents"] == EXPECTED["exact-first"]["summary.documents"]  # stdout: one JSON document
    expected = {k: v for k, v in EXPECTED["exact-first"].items() if not k.startswith("summary.")}
    assert output_digests(output) == expected
    assert "ray" not in run.stderr.lower(), "no Ray is started for a local run"


@pytest.mark.chaos
def test_killed_local_run_leaves_no_worker_and_resumes_to_the_pinned_output(pinned_inputs: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    """SIGKILL the driver of a local-pool run mid-way: its pool workers end with it; the rerun with
    the same run id ends with the pinned outputs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    root = Path(__file__).resolve().parents[2]
    output = tmp_path / "killed"
    command = [sys.executable, "-m", "haybale", "dedup", "run", "--input", str(pinned_inputs["bulk"]), "--output", str(output),
               "--run-id", "k", "--bands", "25", "--rows", "5", "--partitions", "5", "--quiet"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(Path.home())}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    markers = output / "_work" / "k" / "markers"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not list(markers.glob("read-*.json")):
        time.sleep(0.01)
    workers = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
    assert process.poll() is None and workers, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    assert not alive, "pool workers outlived their killed driver"
    assert not (output / "summary.json").exists()

    rerun = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    expected = {k: v for k, v in EXPECTED["bulk-exact"].items() if not k.startswith("summary.")}
    assert output_digests(output) == expected


def _print_digests() -> None:
    """Run every pinned configuration (local process pool) and print EXPECTED as Python."""
    import tempfile

    from dedup.job import run_dedup

    truth = json.loads((Path(__file__).resolve().parents[3] / "shared" / "data" / "aeb-dev" / "ground-truth.json").read_text())
    articles = [truth[key]["articleBody"] for key in sorted(truth)]
    with tempfile.TemporaryDirectory() as base:
        build_pinned_corpus(Path(base) / "corpus", articles)
        build_pinned_bulk_corpus(Path(base) / "bulk", articles)
        found: dict[str, dict[str, Any]] = {}
        for name, config in sorted(CONFIGS.items()):
            output = Path(base) / name
            summary = run_dedup(JsonlSource([str(Path(base) / ("bulk" if name.startswith("bulk") else "corpus"))]),
                                str(output), config, run_id="pin", progress=False)
            found[name] = {**output_digests(output), "summary.documents": summary["documents"]}
            if not name.startswith("bulk"):
                found[name]["summary.clusters"] = summary["clusters"]
    print(json.dumps(found, indent=4, sort_keys=True))


if __name__ == "__main__":
    _print_digests()

