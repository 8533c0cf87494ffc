"""The embedded default's local head runs its Ray node through ingest.ray_head_process (no Ray command
line, no Ray Client server, no log monitor, no API server): on a machine with no Ray token yet it starts
(creating Ray's token), a driver connects and runs a task on it, and stopping the head stops every process
it started."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ingest.local_head import (
    PORT_NAMES,
    free_ports,
    head_environment,
    local_head_address,
    read_state,
    state_dir_of,
    stop_head,
)

REPO = Path(__file__).resolve().parents[2]
DRIVER = """
import sys, ray
ray.init(address=sys.argv[1], namespace="haybale", log_to_driver=False)
print(ray.get(ray.remote(lambda: 41 + 1).remote()))
"""


def test_local_head_node_serves_a_driver_and_stops_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a machine where Ray never ran: no ~/.ray/auth_token (the head creates it, or would not start)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    root = tmp_path / "root"
    address = local_head_address(root, num_cpus=1)
    try:
        state = read_state(state_dir_of(root))
        assert state is not None and state["address"] == address
        assert len((home / ".ray" / "auth_token").read_text()) == 64
        head = psutil.Process(state["ray_pid"])
        assert "ingest.ray_head_process" in head.cmdline()
        children = head.children(recursive=True)
        commands = [" ".join(c.cmdline()) for c in children]
        assert any("gcs_server" in c for c in commands) and any("raylet" in c for c in commands)
        assert not any("ray.util.client.server" in c or "log_monitor" in c for c in commands), commands
        assert not any("dashboard/dashboard.py" in c for c in commands), commands  # no API server
        done = subprocess.run([sys.executable, "-c", DRIVER, address], env=head_environment(), capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == "42"
    finally:
        assert stop_head(root)
    deadline = time.monotonic() + 30
    alive = [p for p in [head, *children] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.pid for p in alive]
    assert read_state(state_dir_of(root)) is None


def test_free_ports_are_all_different_and_free() -> None:
    ports = free_ports()
    assert set(ports) == set(PORT_NAMES) and len(set(ports.values())) == len(ports)
    for port in ports.values():  # each can be bound right away
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_head_that_dies_while_starting_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the first head node process is SIGKILLed before its node starts, as one whose port another
    # process took meanwhile would exit; the supervisor starts another on new ports
    monkeypatch.setenv("HAYBALE_FAILPOINT", "local_head.node_starting:1")
    monkeypatch.setenv("HAYBALE_FAILPOINT_SCOPE", "process")
    monkeypatch.setenv("HAYBALE_FAILPOINT_ONCE", str(tmp_path / "fired"))
    root = tmp_path / "root"
    address = local_head_address(root, num_cpus=1)
    try:
        assert (tmp_path / "fired").exists()
        log = (state_dir_of(root) / "head.log").read_text()
        assert "the Ray head exited while starting (exit status -9); starting it again with other ports" in log
        state = read_state(state_dir_of(root))
        assert state is not None and state["address"] == address
        done = subprocess.run([sys.executable, "-c", DRIVER, address], env=head_environment(), capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "42", done.stderr[-2000:]
    finally:
        assert stop_head(root)


def test_down_refuses_while_a_command_uses_the_head_unless_forced(tmp_path: Path) -> None:
    """`haybale down` would fail the commands using the head: it names them and stops only with
    --force. The user here is a live process registered the way commands register."""
    root = tmp_path / "root"
    local_head_address(root, num_cpus=1)
    user = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    down = [sys.executable, "-m", "haybale", "down", "--root", str(root)]
    try:
        users = state_dir_of(root) / "users"
        users.mkdir(exist_ok=True)
        (users / str(user.pid)).write_text(str(time.time()))
        refused = subprocess.run(down, capture_output=True, text=True, timeout=120, env=head_environment(), cwd=REPO)
        assert refused.returncode == 2 and f"in use by 1 command(s) (pid {user.pid})" in refused.stderr
        assert "--force" in refused.stderr and read_state(state_dir_of(root)) is not None
        status = subprocess.run([sys.executable, "-m", "haybale", "cluster", "status", "--root", str(root)],
                                capture_output=True, text=True, timeout=120, env=head_environment(), cwd=REPO)
        assert f"in use by 1 command(s) (pid {user.pid})" in status.stdout
        forced = subprocess.run(down + ["--force"], capture_output=True, text=True, timeout=120,
                                env=head_environment(), cwd=REPO)
        assert forced.returncode == 0 and "stopped" in forced.stdout
        assert read_state(state_dir_of(root)) is None
    finally:
        user.kill()
        user.wait()
        stop_head(root)


def test_the_head_node_stops_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    """A supervisor SIGKILLed (or killed for memory) never runs its cleanup: its Ray node used to live
    on, an orphan holding the machine's CPUs and memory until someone ran `ray stop`. The node now
    stops itself within seconds of losing its supervisor."""
    root = tmp_path / "root"
    local_head_address(root, num_cpus=1)
    state = read_state(state_dir_of(root))
    assert state is not None
    head = psutil.Process(state["ray_pid"])
    started = [head, *head.children(recursive=True)]
    psutil.Process(state["pid"]).kill()  # the supervisor this test started
    try:
        _, alive = psutil.wait_procs(started, timeout=60)
        assert not alive, f"still running after the supervisor died: {[p.pid for p in alive]}"
    finally:
        for proc in started:  # by pid, only what this test started
            if proc.is_running():
                proc.kill()
        stop_head(root)


def test_a_head_node_whose_supervisor_died_before_it_ran_does_not_start(tmp_path: Path) -> None:
    """A supervisor SIGKILLed while its head node was still importing Ray left the node a child of init
    before the node read its parent's pid: it took init for its supervisor and ran on for good (one held
    2 CPUs beside the suite for two hours). The supervisor now names itself in the options; a node that
    finds another parent does not start."""
    import json

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is not this node's parent
    options = {"node_ip_address": "127.0.0.1", "temp_dir": str(tmp_path / "ray"), "num_cpus": 1,
               "resources": {}, "supervisor": gone.pid}
    done = subprocess.run([sys.executable, "-m", "ingest.ray_head_process", json.dumps(options)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr[-2000:])
    assert f"the supervisor (pid {gone.pid}) is gone before the node started" in done.stdout
    assert not (tmp_path / "ray").exists()  # no session was started
