"""A wrong ``--address`` (or a stale ``RAY_ADDRESS``) fails at once with a message naming it, instead of
Ray retrying the connection for minutes; and the failed command leaves no root behind."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.errors import ClusterUnreachableError
from catalog.ray_address import check_reachable, host_and_port

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_host_and_port_leaves_the_forms_ray_resolves_to_ray() -> None:
    assert host_and_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert host_and_port("[::1]:6379") == ("::1", 6379)
    assert host_and_port("auto") is None
    assert host_and_port("ray://head:10001") is None
    assert host_and_port("headnode") is None


def test_a_listening_address_passes_and_a_closed_one_is_named() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}", "--address")
    port = _closed_port()
    with pytest.raises(ClusterUnreachableError, match=f"no Ray cluster answers at 127.0.0.1:{port} \\(--address\\)"):
        check_reachable(f"127.0.0.1:{port}", "--address")


@pytest.mark.parametrize("command", ["ingest", "dedup"])
def test_job_commands_fail_fast_on_an_unreachable_address(tmp_path: Path, command: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello world"}) + "\n")
    address = f"127.0.0.1:{_closed_port()}"
    root, out = tmp_path / "root", tmp_path / "out"
    argv = (["ingest", "files", str(src), "--root", str(root)] if command == "ingest"
            else ["dedup", "run", "--input", str(src), "--output", str(out)])
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-m", "haybale", *argv, "--address", address], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"no Ray cluster answers at {address} (--address / RAY_ADDRESS)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not root.exists() and not out.exists()  # nothing created by the failed command stays
