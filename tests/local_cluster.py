"""A real single-node Ray cluster on loopback, started with ``ray start --head`` and stopped by pid.

For integration tests and for trying job submission on one machine: it gets its own temp dir and its
own free ports (so it never collides with another Ray on the machine), binds the node to a loopback
address, and is stopped by killing exactly the processes it started — never ``ray stop``, which ends
every Ray process on the machine.

    with LocalRayCluster(num_cpus=2) as cluster:
        subprocess.run(["ray", "job", "submit", "--address", cluster.dashboard_url, ...], env=cluster.env())
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from ingest.local_head import free_ports
from ingest.ray_token import ensure_local_token

NODE_IP = "127.0.0.2"  # Ray rewrites 127.0.0.1 to the host's address; other loopback addresses stay
WORKER_PORTS = (20000, 20999)  # below the OS's ephemeral range, so free-port picks never collide


class LocalRayCluster:
    """``ray start --head --block`` in its own session; :meth:`stop` ends it and every descendant."""

    def __init__(self, num_cpus: int = 2, ray_bin: str | None = None, start_timeout: float = 90,
                 auth_mode: str = "token") -> None:
        self.num_cpus = num_cpus
        self.auth_mode = auth_mode  # "token" (Ray 2.60 with a token) or "disabled" (no authentication)
        self.ray_bin = ray_bin or str(Path(sys.executable).with_name("ray"))
        self.start_timeout = start_timeout
        self.temp_dir = tempfile.mkdtemp(prefix="hb-ray-")
        self.ports = free_ports(("gcs", "dashboard", "agent_listen", "agent_grpc", "runtime_env", "metrics",
                                 "node_manager", "object_manager", "client"))  # all different
        self.proc: subprocess.Popen[bytes] | None = None
        self._known: dict[int, psutil.Process] = {}

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['dashboard']}"

    @property
    def gcs_address(self) -> str:
        return f"{NODE_IP}:{self.ports['gcs']}"

    def env(self) -> dict[str, str]:
        """Environment for clients of this cluster (``ray job submit``, ``ray.init``)."""
        return {**os.environ, "RAY_ADDRESS": self.gcs_address, "RAY_API_SERVER_ADDRESS": self.dashboard_url,
                "RAY_AUTH_MODE": self.auth_mode}

    def start(self) -> "LocalRayCluster":
        if self.auth_mode == "token":
            ensure_local_token()  # `ray start` with token auth needs one: a fresh machine has none
        p = self.ports
        cmd = [self.ray_bin, "start", "--head", "--block", "--node-ip-address", NODE_IP,
               "--port", str(p["gcs"]), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(p["dashboard"]),
               "--include-dashboard", "true", "--dashboard-agent-listen-port", str(p["agent_listen"]),
               "--dashboard-agent-grpc-port", str(p["agent_grpc"]), "--runtime-env-agent-port", str(p["runtime_env"]),
               "--metrics-export-port", str(p["metrics"]), "--node-manager-port", str(p["node_manager"]),
               "--object-manager-port", str(p["object_manager"]), "--ray-client-server-port", str(p["client"]),
               "--min-worker-port", str(WORKER_PORTS[0]), "--max-worker-port", str(WORKER_PORTS[1]),
               "--temp-dir", self.temp_dir, "--num-cpus", str(self.num_cpus)]
        log = open(Path(self.temp_dir) / "ray-start.log", "wb")
        # Like a real node with haybale's environment installed: `python` in a job's entrypoint is the
        # interpreter this cluster runs on.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "RAY_AUTH_MODE": self.auth_mode, "PATH": path})
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._remember_descendants()
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"ray start exited with {self.proc.returncode}: {tail}")
            if self._jobs_api_ready():
                return self
            time.sleep(0.5)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"Ray head did not become ready in {self.start_timeout} s: {tail}")

    def _jobs_api_ready(self) -> bool:
        return jobs_api_ready(self.dashboard_url)

    def _remember_descendants(self) -> None:
        if self.proc is None:
            return
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._known.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def log_tail(self, lines: int = 30) -> str:
        path = Path(self.temp_dir) / "ray-start.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Kill ``ray start`` and every process it started (by pid), then remove the temp dir."""
        if self.proc is None:
            return
        self._remember_descendants()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for proc in self._known.values():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(self._known.values()), timeout=10)
        self.proc = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalRayCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def jobs_api_ready(dashboard_url: str) -> bool:
    """The Ray jobs API at ``dashboard_url`` answers (with Ray's token when token auth is on:
    ~/.ray/auth_token)."""
    request = urllib.request.Request(dashboard_url + "/api/jobs/")
    token_file = Path.home() / ".ray" / "auth_token"
    if token_file.exists():
        request.add_header("Authorization", "Bearer " + token_file.read_text().strip())
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
