"""The dedup job on a loopback cluster of a head and two worker nodes (real ``ray start`` processes,
tests/multinode.py) gives the same output, byte for byte, as on the test session's single node.

The driver is a separate process connected to the cluster with ``--address``. The output (and so
the work dir) is a local path: on one machine every node reaches it, as a shared file system or an
object-store URL would on a real cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dedup.config import DedupConfig
from dedup.sources import JsonlSource
from tests.dedup.pinned_corpus import build_pinned_corpus
from tests.multinode import LoopbackCluster

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _files(output: Path) -> dict[str, bytes]:
    return {f"{sub}/{p.name}": p.read_bytes() for sub in ("data", "removed") for p in sorted((output / sub).glob("*.parquet"))}


def test_three_node_cluster_gives_the_single_node_output(ray_session: None, tmp_path: Path, articles: list[str]) -> None:
    from dedup.job import run_dedup

    inputs = tmp_path / "in"
    build_pinned_corpus(inputs, articles)
    single = tmp_path / "single"
    run_dedup(JsonlSource([str(inputs)]), str(single), DedupConfig(bands=25, rows=5, partitions=4), run_id="one",
              progress=False)

    multi = tmp_path / "multi"
    with LoopbackCluster(workers=2, cpus_per_worker=1) as cluster:
        workers = {n["id"] for n in cluster.nodes if n["cpus"]}
        assert len(workers) == 2 and len(cluster.nodes) == 3
        run = subprocess.run(
            [sys.executable, "-m", "haybale", "dedup", "run", "--input", str(inputs), "--output", str(multi), "--run-id", "three",
             "--bands", "25", "--rows", "5", "--partitions", "4", "--quiet", "--json", "--address", cluster.address],
            cwd=ROOT, env={**cluster.env(), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        started = cluster.started_pids()
    assert started and not [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]

    summary = json.loads(run.stdout)  # --json: stdout is the summary alone
    assert summary["documents"]["removed_by_reason"]["near_duplicate"] > 0
    assert _files(multi) == _files(single)
    nodes = {json.loads(p.read_text()).get("node") for p in (multi / "_work" / "three" / "markers").glob("*.json")}
    assert nodes == workers, "the units of work ran on both worker nodes, none on the head"
    assert os.path.getsize(multi / "quarantine.parquet") > 0
