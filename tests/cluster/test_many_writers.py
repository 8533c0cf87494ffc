"""Many writers on one root at once, on the embedded default (the root's persistent local Ray head):
two files jobs, a WARC job and a dedup job writing marks run at the same time; the counts are exact,
nothing doubled or lost, and ``haybale down`` stops the head by pid."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from catalog.keys import canonical_key
from catalog.store import Store
from haybale.demo import generate_files, write_warc
from ingest.local_head import read_state, state_dir_of, stop_head

REPO = Path(__file__).resolve().parents[2]


def _haybale(root: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HAYBALE_CLUSTER_IDLE_SECONDS": "300"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "haybale", *argv, "--root", str(root), "--json", "--quiet"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 600) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-3000:]}"
    return json.loads(out)


def test_files_warc_and_dedup_jobs_at_once_count_exactly(tmp_path: Path) -> None:
    root = tmp_path / "root"
    inputs = {name: tmp_path / name for name in ("a", "b", "c")}
    for n, directory in enumerate(inputs.values()):
        generate_files(directory, 300, seed=10 + n)
    files = {name: sorted(p for p in d.rglob("*.txt")) for name, d in inputs.items()}
    warc = tmp_path / "w" / "pages.warc.gz"
    write_warc(warc, 120)
    try:
        first = _finish(_haybale(root, "ingest", "files", str(inputs["a"]), "--split-files", "50"))
        assert first["added"] == len(files["a"])
        state = read_state(state_dir_of(root))
        assert state is not None, "the first job left no local head running"
        t0 = time.perf_counter()
        jobs = [_haybale(root, "ingest", "files", str(inputs["b"]), "--split-files", "50"),
                _haybale(root, "ingest", "files", str(inputs["c"]), "--split-files", "50"),
                _haybale(root, "ingest", "warc", str(warc)),
                _haybale(root, "dedup", "run", "--input", "catalog:" + f"file://{inputs['a']}/",
                         "--output", str(tmp_path / "dedup-out"))]
        b, c, w, dd = (_finish(j) for j in jobs)
        assert time.perf_counter() - t0 < 600
        assert read_state(state_dir_of(root))["pid"] == state["pid"]  # every job joined the same head
        assert b["added"] == len(files["b"]) and c["added"] == len(files["c"])
        assert w["indexed"] == 120 and w["added"] == 120
        assert dd["catalog_marks"] == len(files["a"])
        with Store(str(root), read_only=True) as store:  # read from the owners' directories, no Ray
            stats = store.stats()
            assert stats["records"] == sum(len(v) for v in files.values()) + 120
            for name, paths in files.items():
                locations = store.get_many([f"file://{p}" for p in paths])
                assert all(loc is not None for loc in locations), f"a file of {name} is missing"
            marked = [store.mark_of(f"file://{p}") for p in files["a"]]
            assert all(m is not None for m in marked)
            assert all(store.mark_of(f"file://{p}") is None for p in files["b"][:50])
            assert len(set(store.list(""))) == stats["records"]  # listed once each
            assert store.get(canonical_key("https://warc.example/page/7")).volume > 0
    finally:
        pid = (read_state(state_dir_of(root)) or {}).get("pid")
        down = subprocess.run([sys.executable, "-m", "haybale", "down", "--root", str(root)], cwd=REPO,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        if read_state(state_dir_of(root)) is not None:  # the test must not leave a head running
            stop_head(root)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert pid is not None and read_state(state_dir_of(root)) is None
    assert not _alive(pid), "haybale down left the head's supervisor running"


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # exited, not yet reaped by its new parent
    except psutil.NoSuchProcess:
        return False
