"""The job's outputs, pinned byte for byte.

The digests below were produced by the job as it was before the cluster-scale rework (commit
6cc52bc: one forest merge ending in one task, one ``assign`` task) on the fixed corpora of
``tests/dedup/pinned_corpus.py``. Outputs are a deterministic function of the inputs and the
settings, so any rework of how the job distributes its work must reproduce them exactly: every
``data/`` and ``removed/`` Parquet file, the quarantine rows and the summary's counts. LSH bands x
rows are given explicitly, so a change of the defaults does not move these figures.
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
    "estimate-longest": {
        "data/part-000000.parquet": "9b92e04b5bc1882d",
        "data/part-000001.parquet": "50d1dd070bba5c74",
        "data/part-000002.parquet": "1f63222abb05167c",
        "data/part-000003.parquet": "444c6b75b4a4a99b",
        "data/part-000004.parquet": "6baa6cb37a40a118",
        "data/part-000005.parquet": "ca151dc448abcc22",
        "data/part-000006.parquet": "b2fbb5e2ed363981",
        "data/part-000007.parquet": "1586e32b0ed95388",
        "data/part-000008.parquet": "bbe75e12772ced3e",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "828249626f170f08",
        "removed/part-000001.parquet": "e29fd4d67cff5ede",
        "removed/part-000002.parquet": "b2a2a7385614a6fa",
        "removed/part-000003.parquet": "da3a4c6fe7115d1f",
        "removed/part-000004.parquet": "5cce995e4330933f",
        "removed/part-000005.parquet": "21dd84e36ea5473c",
        "removed/part-000006.parquet": "8675ece76a1a91e3",
        "removed/part-000007.parquet": "cfe8ffff443186a2",
        "removed/part-000008.parquet": "50a7978a54735ab8",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 10, "41": 1}, "clusters": 23, "exact_removed": 40, "removed": 72},
        "summary.documents": {"input": 132, "kept": 58, "quarantined": 3, "removed": 74, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 32}},
    },
    "exact-first": {
        "data/part-000000.parquet": "18f940f6afacc683",
        "data/part-000001.parquet": "2bf2e3604cbffabf",
        "data/part-000002.parquet": "d5b521ddc44696bd",
        "data/part-000003.parquet": "b9785f20ba0f04c2",
        "data/part-000004.parquet": "91c1525c53eaf2e0",
        "data/part-000005.parquet": "5db82c583f5a0963",
        "data/part-000006.parquet": "c5e24d30d68d2cc0",
        "data/part-000007.parquet": "decada9159c6120c",
        "data/part-000008.parquet": "5276e740d0cfc5b8",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "eaf9bf33e596adbd",
        "removed/part-000001.parquet": "9aa669fd268a1d4f",
        "removed/part-000002.parquet": "cf33347753b2a6ff",
        "removed/part-000003.parquet": "bf1f4006f8cbbe06",
        "removed/part-000004.parquet": "204e4e2264009f89",
        "removed/part-000005.parquet": "fedf9971de4770bf",
        "removed/part-000006.parquet": "efdbf7d7401e0bf3",
        "removed/part-000007.parquet": "501b72d60088bd3e",
        "removed/part-000008.parquet": "467e27cf3c28cdb2",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 10, "41": 1}, "clusters": 23, "exact_removed": 40, "removed": 72},
        "summary.documents": {"input": 132, "kept": 58, "quarantined": 3, "removed": 74, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 32}},
    },
    "exact-priority": {
        "data/part-000000.parquet": "c348f7353920a529",
        "data/part-000001.parquet": "db3f7d8a8698d21e",
        "data/part-000002.parquet": "1fce20048ced4e62",
        "data/part-000003.parquet": "35b88e7858c4fd8b",
        "data/part-000004.parquet": "e1f19b9e2b766f54",
        "data/part-000005.parquet": "7e3dd5085be04b10",
        "data/part-000006.parquet": "79d4c9056492bda9",
        "data/part-000007.parquet": "92201979cb94f69f",
        "data/part-000008.parquet": "c6b3c92442204eef",
        "quarantine": "907ace7dfa5388fe",
        "removed/part-000000.parquet": "2c851754165c2bb5",
        "removed/part-000001.parquet": "15373f2890d21d76",
        "removed/part-000002.parquet": "f68a2e8213793bc7",
        "removed/part-000003.parquet": "a8826fc0172ad47b",
        "removed/part-000004.parquet": "ebe9f60a3068758d",
        "removed/part-000005.parquet": "ec26ef01f42d0a7c",
        "removed/part-000006.parquet": "a091797887c02a66",
        "removed/part-000007.parquet": "0a1bcc0b3986cdd2",
        "removed/part-000008.parquet": "9a506e6b66dd9c1b",
        "summary.clusters": {"cluster_sizes": {"2": 12, "3": 9, "41": 1}, "clusters": 22, "exact_removed": 40, "removed": 70},
        "summary.documents": {"input": 132, "kept": 60, "quarantined": 3, "removed": 72, "removed_by_reason": {"empty": 2, "exact_duplicate": 40, "near_duplicate": 30}},
    },
    "bulk-exact": {
        "quarantine": "4f53cda18c2baa0c",
        "data/part-000000.parquet": "38336b2087470834",
        "data/part-000001.parquet": "7da55d37cb532529",
        "removed/part-000000.parquet": "089974659b8a4ca6",
        "removed/part-000001.parquet": "b78862b80d2ca2ca",
        "summary.documents": {"input": 9000, "kept": 7908, "quarantined": 0, "removed": 1092, "removed_by_reason": {"exact_duplicate": 357, "near_duplicate": 735}},
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
        [sys.executable, "-m", "dedup", "run", "--input", str(pinned_inputs["corpus"]), "--output", str(output),
         "--run-id", "pin", "--bands", "25", "--rows", "5", "--partitions", "4", "--quiet"],
        cwd=root, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(Path.home())},
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
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
    command = [sys.executable, "-m", "dedup", "run", "--input", str(pinned_inputs["bulk"]), "--output", str(output),
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

