"""The deploy README's path on several Ray nodes (tests/multinode.py: a head and two worker nodes on
loopback, each with its own catalog disk) and an S3 root (moto's server on loopback): an ingest job
submitted with ``ray job submit`` exactly as deploy/README shows, owners checkpointing to the root on a
cadence, one worker node SIGKILLed (its ``ray start`` and every descendant, by pid) mid-job. The job
completes with every input exactly once; the owners that lived on the dead node are restored on a live
node from their last checkpoint on the root plus what was registered since; queries answer again."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import fsspec

from haybale.demo import generate_files
from tests.cluster.test_multinode_owners import _kill_node, _running_a_split
from tests.multinode import LoopbackCluster

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys, ray
root, catalog_dir, address, keys_file, owners = sys.argv[1:6]
ray.init(address=address, namespace="haybale", log_to_driver=False)
from catalog.store import Store
from catalog.owner_actor import owner_handles
store = Store(root, catalog_dir=catalog_dir, cluster=True, num_shards=int(owners))
store.catalog.ensure()
meta = store.catalog.meta
handles = owner_handles(store.root, store.layout.catalog_dir, meta.catalog_id, meta.num_owners)
places = ray.get([h.where.remote() for h in handles])
restored = ray.get([h.restore_report.remote() for h in handles])
nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
keys = json.load(open(keys_file)) if keys_file != "-" else []
found = store.catalog.get_many(keys)
cat = {k: store.cat(k).decode("latin-1") for k in keys[::97]}
print(json.dumps({"owners": [nodes.get(p["node"], "dead:" + p["node"]) for p in places],
                  "directories": [p["directory"] for p in places], "restored": restored,
                  "records": store.stats()["records"], "found": sum(f is not None for f in found),
                  "listed": len(set(store.list("file://"))), "cat": cat}))
"""


_DRIVER = """
import sys, time
from ray.job_submission import JobSubmissionClient
client = JobSubmissionClient(sys.argv[1])
for _ in range(600):
    jobs = [j for j in client.list_jobs() if j.driver_node_id]
    if jobs:
        print(jobs[0].driver_node_id)
        break
    time.sleep(0.5)
"""


def _driver_ip(cluster: LoopbackCluster) -> str:
    """The address of the node running the submitted job's driver."""
    out = subprocess.run([sys.executable, "-c", _DRIVER, cluster.dashboard_url], cwd=REPO, env=cluster.env(),
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr[-3000:]
    node_id = out.stdout.strip().splitlines()[-1]
    return next(n["ip"] for n in cluster.nodes if n["id"] == node_id)


def _probe(root: str, catalog_dir: Path, cluster: LoopbackCluster, keys_file: Path | None = None,
           owners: int = 4) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, root, str(catalog_dir), cluster.address,
                          str(keys_file) if keys_file else "-", str(owners)], cwd=REPO, env=cluster.env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_submitted_job_survives_a_node_sigkill_and_the_dead_nodes_owners_restore(
        s3_bucket: str, tmp_path: Path) -> None:
    root = f"s3://{s3_bucket}/hb"
    src = tmp_path / "in"
    generate_files(src, 800, seed=11)
    files = sorted(src.rglob("*.txt"))
    keys = [f"file://{p}" for p in files]
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys))
    driver_dir = tmp_path / "driver-catalog"  # --catalog-dir as the README gives it; each node has its own disk
    disks = {i: tmp_path / f"node{i}-disk" for i in range(3)}
    node_env = {i: {"HAYBALE_NODE_CATALOG_DIR": str(disks[i]), "HAYBALE_CHECKPOINT_SECONDS": "2",
                    "HAYBALE_CHECKPOINT_GRACE_SECONDS": "5"} for i in range(3)}
    # every node offers the catalog disk: owners (0.001 each) spread over all three, and the job's driver
    # (--entrypoint-resources catalog_disk 0.01, as in the README) may land on any; the victim is the
    # worker node that does not run the driver
    resources = {i: {"catalog_disk": 1} for i in range(3)}
    # the nodes' PATH has no `python` with haybale's dependencies (venv_on_path=False): the job's runtime
    # environment (deploy/runtime_env.yaml: this checkout + requirements.lock) provides the interpreter
    with LoopbackCluster(workers=2, cpus_per_worker=1, jobs_api=True, node_env=node_env,
                         resources=resources, venv_on_path=False) as cluster:
        placed = _probe(root, driver_dir, cluster, owners=6)["owners"]
        ray_bin = str(Path(sys.executable).with_name("ray"))
        submit = subprocess.Popen(
            [ray_bin, "job", "submit", "--runtime-env", "deploy/runtime_env.yaml",
             "--entrypoint-resources", '{"catalog_disk": 0.01}', "--", "python", "-m", "haybale", "ingest", "files", str(src), "--root", root,
             "--catalog-dir", str(driver_dir), "--run-id", "submitted", "--split-files", "40", "--json"],
            cwd=REPO, env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        driver_ip = _driver_ip(cluster)
        victim_ip = next(n["ip"] for n in cluster.nodes if n["cpus"] > 0 and n["ip"] != driver_ip)
        victim_index = int(victim_ip.rsplit(".", 1)[1]) - 2
        victims = [i for i, ip in enumerate(placed) if ip == victim_ip]
        assert victims, f"no owner on worker node {victim_ip} (the driver runs on {driver_ip}): {placed}"
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        done = f"{s3_bucket}/hb/runs/submitted/done"
        manifests = [f"{s3_bucket}/hb/catalog-checkpoints/{{}}/owner-{i:04d}/manifests" for i in victims]
        deadline = time.monotonic() + 400
        checkpointed = running = False
        while time.monotonic() < deadline and submit.poll() is None:
            fs.invalidate_cache()
            marked = len(fs.ls(done)) if fs.exists(done) else 0
            if not checkpointed:
                ids = [p.rsplit("/", 1)[-1] for p in fs.ls(f"{s3_bucket}/hb/catalog-checkpoints")] \
                    if fs.exists(f"{s3_bucket}/hb/catalog-checkpoints") else []
                checkpointed = bool(ids) and all(fs.exists(m.format(ids[0])) for m in manifests)
            if checkpointed and marked >= 6:
                # and a split's task runs on the victim now, so killing it exercises the task retries
                until = time.monotonic() + 60
                while time.monotonic() < until and submit.poll() is None and not running:
                    running = _running_a_split(cluster.procs[victim_index])
                    time.sleep(0 if running else 0.02)
                break
            time.sleep(0.3)
        assert submit.poll() is None, f"the job ended before the node could be killed: {submit.stdout.read()[-3000:]}"
        assert checkpointed, "the victim node's owners never checkpointed"
        assert running, "no split's task was seen running on the victim node before the job ended"
        assert _kill_node(cluster.procs[victim_index]) >= 2
        out, _ = submit.communicate(timeout=600)
        assert submit.returncode == 0 and "succeeded" in out, out[-4000:]
        summary = json.loads(out[out.index("{\n"):out.rindex("\n}") + 2])
        after = _probe(root, driver_dir, cluster, keys_file)
    assert summary["files"] == len(files) and summary["updated"] == 0
    assert summary["added"] + summary["unchanged"] == len(files)
    assert victim_ip not in after["owners"] and not any(o.startswith("dead:") for o in after["owners"])
    for i in victims:  # restored on a live node's disk from a checkpoint, plus what was registered since
        report = after["restored"][i]
        assert report is not None, f"owner {i} was not restored: {after}"
        assert report["checkpoint_seq"] >= 1 and report["not_replayed"] == []
        assert not after["directories"][i].startswith(str(disks[victim_index]))
    assert any(after["restored"][i]["volumes_replayed"] >= 1 for i in victims)
    # exactly once: every input's key found, counted once, listed once, and its bytes read back
    assert after["records"] == len(files) and after["found"] == len(files) and after["listed"] == len(files)
    for key, text in after["cat"].items():
        assert text.encode("latin-1") == Path(key[len("file://"):]).read_bytes()
