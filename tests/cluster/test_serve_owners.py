"""``haybale serve --address`` serves a root's catalog through its owner actors: a files job starts the
root's local head (the embedded default's cluster of one), the service connects to that head as a Ray
driver and answers records, batched lookups, listings and content from the owners."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from catalog.service_run import spawn_service
from haybale.demo import generate_files
from ingest.local_head import read_state, state_dir_of, stop_head

REPO = Path(__file__).resolve().parents[2]


def _get(url: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def test_serve_with_address_answers_from_the_owners(tmp_path: Path) -> None:
    root = tmp_path / "root"
    generate_files(tmp_path / "in", 60, seed=3)
    files = sorted((tmp_path / "in").rglob("*.txt"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HAYBALE_CLUSTER_IDLE_SECONDS": "300"}
    env.pop("RAY_ADDRESS", None)
    service = None
    try:
        ingest = subprocess.run([sys.executable, "-m", "haybale", "ingest", "files", str(tmp_path / "in"),
                                 "--root", str(root), "--json", "--quiet"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        assert ingest.returncode == 0, ingest.stderr[-3000:]
        assert json.loads(ingest.stdout)["added"] == len(files)
        state = read_state(state_dir_of(root))
        assert state is not None, "the job left no local head running"
        service = spawn_service(str(root), "--address", state["address"], env=env, cwd=str(REPO))
        key = f"file://{files[0]}"
        status, body = _get(f"{service.url}/v1/record?key={urllib.request.quote(key, safe='')}", service.token)
        record = json.loads(body)
        assert status == 200 and record["key"] == key and record["length"] > 0
        status, body = _get(f"{service.url}/v1/content?key={urllib.request.quote(key, safe='')}", service.token)
        assert body == files[0].read_bytes()
        keys = [f"file://{p}" for p in files] + ["file:///not/there"]
        status, body = _get(f"{service.url}/v1/lookup", service.token, json.dumps(keys).encode())
        rows = json.loads(body)["locations"]
        assert len(rows) == len(keys) and all(r is not None for r in rows[:-1]) and rows[-1] is None
        status, body = _get(f"{service.url}/v1/list?prefix=file://&limit=1000", service.token)
        assert sorted(json.loads(body)["keys"]) == sorted(keys[:-1])
        status, body = _get(f"{service.url}/metrics", service.token)
        assert b"haybale_backend_calls_total" in body
    finally:
        if service is not None:
            os.killpg(service.process.pid, signal.SIGTERM)
            service.process.wait(timeout=60)
        stop_head(root)
