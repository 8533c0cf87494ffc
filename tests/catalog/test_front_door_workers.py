"""``haybale serve`` as a command: the generated token, the --no-auth warning, and several worker
processes on one port (connections spread over them, metrics summed, a killed worker replaced,
SIGTERM stops them all)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from catalog.client import CatalogClient
from tests.catalog.service_helpers import REPO, build_root
from tests.catalog.test_front_door import call


def start_serve(root: str, *args: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYBALE_TOKEN")}
    env.update({"HAYBALE_ROOT": root, "PYTHONPATH": str(REPO), **(env_extra or {})})
    proc = subprocess.Popen([sys.executable, "-m", "haybale", "serve", "--port", "0", "--refresh-seconds", "0", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        proc.kill()
        raise AssertionError(line + proc.communicate()[1])
    return proc, found.group(0)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, out, err


def test_a_token_is_generated_and_printed_when_none_is_set(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    proc, url = start_serve(root)
    try:
        assert proc.stdout is not None
        token = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        assert len(token) >= 32
        assert call(url, "GET", "/v1/stats", token=None)[0] == 401
        with CatalogClient(url, token=token) as client:
            assert client.stats()["records"] == expected["stats"]["records"]
    finally:
        code, out, err = stop(proc)
    assert code == 0 and "stopped" in out and "WARNING" not in err


def test_no_auth_serves_without_a_token_and_says_so_loudly(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    build_root(root)
    proc, url = start_serve(root, "--no-auth")
    try:
        assert call(url, "GET", "/v1/stats", token=None)[0] == 200
    finally:
        code, out, err = stop(proc)
    assert code == 0 and "WARNING: --no-auth" in err and "ANYONE" in err and "token" not in out


def test_several_workers_share_one_port(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    token = "workers-test-token-0123456789abcdef"
    proc, url = start_serve(root, "--workers", "3", env_extra={"HAYBALE_TOKEN": token})
    try:
        pids: set[int] = set()
        for _ in range(60):  # a new connection each time: the kernel spreads them over the workers
            status, _, body = call(url, "GET", "/v1/health", token=token)
            assert status == 200
            pids.add(json.loads(body)["worker_pid"])
        assert len(pids) == 3
        key = expected["keys"][7]
        with CatalogClient(url, token=token) as client:
            assert client.cat(key) == expected["contents"][key]
        deadline = time.monotonic() + 30  # each worker shares its counts every second (later on a busy machine)
        while True:
            metrics = call(url, "GET", "/metrics", token=token)[2].decode()
            served = sum(float(v) for v in re.findall(
                r'haybale_http_requests_total\{endpoint="health",method="GET",status="200"\} (\S+)', metrics))
            if served >= 60:
                break
            assert time.monotonic() < deadline, f"/metrics summed {served} of the 60 requests"
            time.sleep(0.5)
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)  # a worker this test's service started
        deadline = time.monotonic() + 60
        fresh: set[int] = set()
        resets = 0
        while len(fresh) < 3:
            assert time.monotonic() < deadline, f"no replacement for worker {victim}: {fresh}"
            try:
                status, _, body = call(url, "GET", "/v1/health", token=token)
            except ConnectionError:  # a connection the kernel had queued at the killed worker is reset
                resets += 1
                continue
            assert status == 200  # the others keep answering meanwhile
            fresh.add(json.loads(body)["worker_pid"])
            fresh.discard(victim)
            time.sleep(0.02)
        workers = fresh
        assert resets <= 3, f"{resets} connections reset after one worker was killed"
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()




def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """A supervisor SIGKILLed (or OOM-killed) runs no cleanup. Its workers served on as orphans: a
    restarted service shared the port with them (SO_REUSEPORT), and they still took the old token."""
    root = str(tmp_path / "root")
    build_root(root)
    token = "orphans-test-token-0123456789abcdef"
    proc, url = start_serve(root, "--workers", "2", env_extra={"HAYBALE_TOKEN": token})
    pids: set[int] = set()
    try:
        for _ in range(40):
            pids.add(json.loads(call(url, "GET", "/v1/health", token=token)[2])["worker_pid"])
        assert len(pids) == 2
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the supervisor this test started
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):  # not communicate(): orphaned workers would hold them open
            if pipe is not None:
                pipe.close()
    deadline = time.monotonic() + 15
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()}
    for pid in alive:  # the workers this test's service started, left by the old code
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"workers {sorted(alive)} kept serving after their supervisor was killed"
