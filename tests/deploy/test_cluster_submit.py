"""A real Ray head node on loopback (``ray start --head``), a job submitted with ``ray job submit
--working-dir . -- python -m haybale ingest ...``, and the catalog checked afterwards. Only the processes the
test started are stopped."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from catalog.store import Store
from tests.catalog.conftest import make_files
from tests.local_cluster import LocalRayCluster

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ingest_job_submitted_to_a_real_head_node(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 120, seed=9)
    root = str(tmp_path / "root")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with LocalRayCluster(num_cpus=2) as cluster:
        started = set(cluster._known)
        out = subprocess.run(
            [ray_bin, "job", "submit", "--working-dir", str(REPO), "--", "python", "-m", "haybale", "ingest", "files",
             str(tmp_path / "in"), "--root", root, "--run-id", "submitted", "--split-files", "25",
             "--json", "--quiet"],
            cwd=REPO, env=cluster.env(), capture_output=True, text=True, timeout=400)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "succeeded" in out.stdout + out.stderr
        body = out.stdout[out.stdout.index("{\n"):out.stdout.rindex("\n}") + 2]
        summary = json.loads(body)
        assert summary["added"] == 120 and summary["splits"] == 5
    assert started, "the cluster's processes were tracked"
    assert not [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"], \
        "processes the test started outlived it"
    with Store(root, read_only=True) as store:
        assert store.catalog.stats()["records"] == 120
        for path, data in list(files.items())[:20]:
            assert store.cat(f"file://{path}") == data
