"""Several Ray nodes on loopback (tests/multinode.py: a head and two worker nodes, each a ``ray start``
with its own temp dir and ports): owners spread over the nodes; a files job runs; one worker node that
hosts an owner is SIGKILLed (its ``ray start`` and every descendant, by pid) mid-job. The job completes
with every input exactly once, the dead node's owners run again on a live node, and queries answer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from catalog.store import Store
from haybale.demo import generate_files
from tests.multinode import LoopbackCluster

REPO = Path(__file__).resolve().parents[2]

_WHERE = """
import json, sys, ray
ray.init(address=sys.argv[2], namespace="haybale", log_to_driver=False)
from catalog.store import Store
from catalog.owner_actor import owner_handles
store = Store(sys.argv[1], cluster=True)
store.catalog.ensure()
meta = store.catalog.meta
places = ray.get([h.where.remote() for h in owner_handles(store.root, store.layout.catalog_dir, meta.catalog_id,
                                                          meta.num_owners)])
nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
print(json.dumps({"owners": [nodes.get(p["node"], "dead:" + p["node"]) for p in places],
                  "records": store.stats()["records"]}))
"""


def _where(root: Path, cluster: LoopbackCluster) -> dict:
    out = subprocess.run([sys.executable, "-c", _WHERE, str(root), cluster.address], cwd=REPO, env=cluster.env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _kill_node(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL a node's ``ray start`` process and all its descendants, by pid; returns how many."""
    victims = psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]
    for p in victims:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)
    return len(victims)


def _running_a_split(proc: subprocess.Popen[bytes]) -> bool:
    """True if a Ray worker under this node's ``ray start`` runs a split's task now (its process title is
    ``ray::pack_split`` while it does): killing the node then kills that task, so the job's task retries
    are what the test exercises (killed between tasks, a node loses no task and retries go untested)."""
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "ray::pack_split" in " ".join(child.cmdline()):
                return True
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return False


def test_a_worker_node_dies_mid_job_and_every_input_lands_exactly_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    src = tmp_path / "in"
    generate_files(src, 1500, seed=5)
    files = sorted(src.rglob("*.txt"))
    with LoopbackCluster(workers=2, cpus_per_worker=1, quick_node_death=True) as cluster:
        placed = _where(root, cluster)["owners"]
        worker_ips = [n["ip"] for n in cluster.nodes if n["cpus"] > 0]
        victim_ip = max(worker_ips, key=placed.count)
        assert placed.count(victim_ip) >= 1, f"no owner on a worker node: {placed}"
        # round-robin over the nodes (catalog.owner_actor.owner_placements): every node holds an owner,
        # none more than two
        assert len(set(placed)) == len(cluster.nodes) and max(map(placed.count, placed)) <= 2, \
            f"owners not spread over the nodes: {placed}"
        victim = next(p for i, p in enumerate(cluster.procs) if i > 0 and f"127.0.0.{2 + i}" == victim_ip)
        job = subprocess.Popen([sys.executable, "-m", "haybale", "ingest", "files", str(src), "--root", str(root),
                                "--address", cluster.address, "--split-files", "50", "--run-id", "mn", "--json",
                                "--quiet"], cwd=REPO, env={**cluster.env(), "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done_dir = root / "runs" / "mn" / "done"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and job.poll() is None:
            if done_dir.is_dir() and len(os.listdir(done_dir)) >= 3 and _running_a_split(victim):
                break
            time.sleep(0.05)
        assert job.poll() is None, f"the job ended before the node could be killed: {job.stderr.read()[-2000:]}"
        assert _kill_node(victim) >= 2
        out, err = job.communicate(timeout=600)
        assert job.returncode == 0, err[-3000:]
        # Ray's own "node died" notice reaches stdout ahead of the summary (left as found: see the report)
        summary = json.loads(out[out.index("\n{") + 1:] if not out.startswith("{") else out)
        after = _where(root, cluster)
        assert victim_ip not in after["owners"] and not any(o.startswith("dead:") for o in after["owners"])
        assert after["records"] == len(files)
    # A split whose task registered through the owners just before its node died is run again; the
    # retry finds every key registered with the same digest, so those count as unchanged (registration
    # is idempotent). Exactly once is what the catalog holds: each file once (above and below).
    assert summary["files"] == len(files) and summary["updated"] == 0
    assert summary["added"] + summary["unchanged"] == len(files)
    with Store(str(root), read_only=True) as store:  # no Ray: the owners' directories on the shared disk
        locations = store.get_many([f"file://{p}" for p in files])
        assert all(loc is not None for loc in locations)
        assert store.stats()["records"] == len(files)
        assert sum(1 for _ in store.list("")) == len(files)
        for path in files[::250]:
            assert store.cat(f"file://{path}") == path.read_bytes()
