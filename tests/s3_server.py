"""A real S3-protocol server on loopback for tests: moto's standalone server, started as a subprocess
and stopped by its pid.

The endpoint and test credentials are put in this process's environment when the test session starts
(:func:`configure_environment`, called by tests/conftest.py at import), before any Ray or worker
process starts, so every process a test starts inherits them, exactly as a deployment sets them on
each node. The server itself starts only when a test asks for the ``s3_server`` fixture, on the port
chosen then. Nothing mocks s3fs: haybale's code talks HTTP to this server through s3fs/botocore.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_PORT_ENV = "HAYBALE_TEST_S3_PORT"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def configure_environment() -> None:
    """Point s3fs/botocore of this process and its children at the test server (not yet started) with
    test credentials; a developer's real AWS settings never reach a test."""
    # one server per pytest process: xdist workers inherit the controller's environment, so the port
    # is remembered per worker (a shared port made one worker's requests land in the other's server)
    port_env = f"{_PORT_ENV}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    port = int(os.environ.get(port_env) or _free_port())
    os.environ[port_env] = os.environ[_PORT_ENV] = str(port)
    os.environ["AWS_ENDPOINT_URL"] = f"http://{HOST}:{port}"
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)


@dataclass
class S3Server:
    """A running moto server: its endpoint URL and process."""

    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path

    def make_bucket(self, name: str) -> None:
        """Create bucket ``name`` (through s3fs, as an operator would with ``aws s3 mb``)."""
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_server(timeout: float = 30) -> S3Server:
    """Start ``moto_server`` on the port :func:`configure_environment` chose; wait until it answers."""
    port = int(os.environ[_PORT_ENV])
    log = Path(tempfile.mkdtemp(prefix="hb-moto-")) / "moto.log"
    moto_bin = Path(sys.executable).with_name("moto_server")
    cmd = [str(moto_bin)] if moto_bin.exists() else [sys.executable, "-m", "moto.server"]
    with open(log, "wb") as out:
        # unbuffered: tests read the request log right after a job, so each line must be on disk when
        # its request is answered, not when a buffer fills
        proc = subprocess.Popen([*cmd, "-H", HOST, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    endpoint = f"http://{HOST}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                return S3Server(endpoint, proc, log)
        except OSError:
            time.sleep(0.1)
    server = S3Server(endpoint, proc, log)
    server.stop()
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {timeout} s: {log.read_text()[-2000:]}")
