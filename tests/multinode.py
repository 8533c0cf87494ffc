"""A real multi-node Ray cluster on loopback: a head and N worker nodes, each a ``ray start`` process
with its own temp dir, node address and ports, started and stopped by pid (never ``ray stop``).

For tests that must see work spread over several nodes on one machine::

    with LoopbackCluster(workers=2, cpus_per_worker=1) as cluster:
        subprocess.run([sys.executable, "-m", "haybale", "dedup", "run", "--address", cluster.address, ...],
                       env=cluster.env())

The head has no CPUs, so every task runs on a worker node. Each node binds its own loopback address
(127.0.0.2 for the head, then .3, .4, ...; Ray rewrites 127.0.0.1 to the host's address) and gets
free ports and its own range of worker ports. All nodes share this machine's disk, so a local path
is reachable by every node (a real cluster needs a shared or object-store URL instead).
:meth:`stop` kills exactly the processes the cluster started (and their descendants) and removes
the temp dirs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from ingest.local_head import free_ports
from ingest.ray_token import ensure_local_token

HEAD_IP = "127.0.0.2"
# Worker-process port ranges, one per node, below the OS's ephemeral range and away from
# deploy/local_cluster.py's 20000-20999.
_WORKER_PORT_BASE, _WORKER_PORT_SPAN = 22000, 400

# quick_node_death: the head's GCS checks each node's raylet every second (Ray: every 3 s) and declares
# it dead after 5 failed checks in a row: a SIGKILLed node (connection refused) is found dead in ~5 s,
# not ~15 s. A check is sent only once the last one answered or hit the (unchanged) 10 s timeout, so a
# live node slowed by a busy machine is not declared dead sooner. Opt-in, per test: it changes when the
# job sees the death, and a kill test must be shown to still catch what it guards against with it
# (tests/cluster/test_multinode_owners.py: still fails with task retries switched off).
_QUICK_NODE_DEATH = {"RAY_health_check_period_ms": "1000"}

# the live nodes that the cluster's resource view (what the GCS schedules actors by) holds too: a node
# registered a moment ago can be missing from it, and an actor given soft affinity to it then spills
_PROBE = """
import json, sys, ray
from ray._private.state import state
ray.init(address=sys.argv[1], log_to_driver=False)
viewed = set(state.available_resources_per_node())
print(json.dumps([{"ip": n["NodeManagerAddress"], "cpus": n["Resources"].get("CPU", 0), "id": n["NodeID"]}
                  for n in ray.nodes() if n["Alive"] and n["NodeID"] in viewed]))
"""


class NodeStartTimedOut(RuntimeError):
    """A node's ``ray start`` gave up: its raylet did not register within Ray's fixed 30 s."""


class LoopbackCluster:
    """A head node (no CPUs) and ``workers`` worker nodes with ``cpus_per_worker`` CPUs each."""

    def __init__(self, workers: int = 2, cpus_per_worker: int = 1, start_timeout: float = 120, *,
                 jobs_api: bool = False, node_env: dict[int, dict[str, str]] | None = None,
                 resources: dict[int, dict[str, float]] | None = None, venv_on_path: bool = True,
                 quick_node_death: bool = False) -> None:
        """``jobs_api``: the head runs the dashboard, so ``ray job submit`` works (:attr:`dashboard_url`);
        ``node_env``: extra environment of node ``i`` (0 = the head), e.g. its own catalog disk;
        ``resources``: custom resources node ``i`` offers (``ray start --resources``);
        ``venv_on_path=False``: the nodes' ``PATH`` lacks this interpreter's directory (Ray itself still
        runs on it), so a job's ``python`` is whatever its runtime environment provides;
        ``quick_node_death``: a killed node is declared dead after ~5 s instead of ~15 s (see above)."""
        self.quick_node_death = quick_node_death
        self.venv_on_path = venv_on_path
        self.jobs_api = jobs_api
        self.node_env = node_env or {}
        self.resources = resources or {}
        cluster_ports = free_ports(("gcs", "dashboard"))
        self.dashboard_port = cluster_ports["dashboard"] if jobs_api else 0
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.start_timeout = start_timeout
        self.ray_bin = str(Path(sys.executable).with_name("ray"))
        self.gcs_port = cluster_ports["gcs"]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.temp_dirs: list[str] = []
        self._known: dict[int, psutil.Process] = {}
        self.nodes: list[dict[str, Any]] = []

    @property
    def address(self) -> str:
        """The GCS address drivers connect to (``ray.init(address=...)``, ``--address``)."""
        return f"{HEAD_IP}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        """The jobs API (``RAY_API_SERVER_ADDRESS``) when started with ``jobs_api``."""
        return f"http://{HEAD_IP}:{self.dashboard_port}"

    def env(self) -> dict[str, str]:
        """Environment for drivers of this cluster. Its nodes share this machine's disk, as a shared mount
        would on a real cluster, so a local root is allowed (``HAYBALE_SHARED_LOCAL_ROOT=1``)."""
        env = {**os.environ, "RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "HAYBALE_SHARED_LOCAL_ROOT": "1"}
        if self.jobs_api:
            env["RAY_API_SERVER_ADDRESS"] = self.dashboard_url
        return env

    def _node_command(self, index: int) -> list[str]:
        ip = f"127.0.0.{2 + index}"
        temp_dir = tempfile.mkdtemp(prefix=f"hb-ray-node{index}-")
        self.temp_dirs.append(temp_dir)
        low = _WORKER_PORT_BASE + index * _WORKER_PORT_SPAN
        # all of a node's ports picked at once: one at a time, the OS can hand the same port out twice
        p = free_ports(("node_manager", "object_manager", "metrics", "agent_listen", "agent_grpc", "runtime_env",
                        "client"))
        command = [self.ray_bin, "start", "--block", "--node-ip-address", ip, "--temp-dir", temp_dir,
                   "--node-manager-port", str(p["node_manager"]), "--object-manager-port", str(p["object_manager"]),
                   "--metrics-export-port", str(p["metrics"]), "--dashboard-agent-listen-port", str(p["agent_listen"]),
                   "--dashboard-agent-grpc-port", str(p["agent_grpc"]), "--runtime-env-agent-port", str(p["runtime_env"]),
                   "--min-worker-port", str(low), "--max-worker-port", str(low + _WORKER_PORT_SPAN - 1)]
        if index in self.resources:
            command += ["--resources", json.dumps(self.resources[index])]
        if index == 0:
            dashboard = (["--include-dashboard", "true", "--dashboard-host", HEAD_IP, "--dashboard-port",
                          str(self.dashboard_port)] if self.jobs_api else ["--include-dashboard", "false"])
            return command + ["--head", "--port", str(self.gcs_port), "--num-cpus", "0", *dashboard,
                              "--ray-client-server-port", str(p["client"])]
        return command + ["--address", self.address, "--num-cpus", str(self.cpus_per_worker)]

    def _launch(self, index: int) -> None:
        """Start node ``index`` (``ray start``); a node started again replaces its earlier process."""
        command = self._node_command(index)
        log = open(Path(self.temp_dirs[-1]) / "ray-start.log", "wb")
        here = str(Path(sys.executable).parent)
        others = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d != here]
        path = os.pathsep.join(([here] if self.venv_on_path else []) + others)
        head = _QUICK_NODE_DEATH if index == 0 and self.quick_node_death else {}
        env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": path, **head, **self.node_env.get(index, {})}
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)

    def start(self) -> "LoopbackCluster":
        ensure_local_token()  # `ray start` with token auth needs one: a fresh machine has none
        try:
            for index in range(self.workers + 1):
                # one node at a time: nodes starting together on 2 busy cores can miss Ray's fixed 30 s
                # deadline for a raylet to register ("The current node timed out during startup", seen in
                # CI); a node that misses it is started once more, in a new temp dir
                self._launch(index)
                try:
                    self._wait_for_nodes(index + 1)
                except NodeStartTimedOut:
                    self._end_node(index)
                    self._launch(index)
                    self._wait_for_nodes(index + 1)
            self.nodes = self._wait_for_nodes(self.workers + 1)
            if self.jobs_api:
                self._wait_for_jobs_api()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_nodes(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            self._remember_descendants()
            for index, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    if "timed out during startup" in self._log_of(index):
                        raise NodeStartTimedOut(f"node {index}: {self.log_tail()}")
                    raise RuntimeError(f"ray start exited with {proc.returncode}: {self.log_tail()}")
            try:
                probe = subprocess.run([sys.executable, "-c", _PROBE, self.address], capture_output=True,
                                       text=True, env=self.env(), timeout=60)
            except subprocess.TimeoutExpired as exc:  # a probe stuck connecting: not up yet, ask again
                err = exc.stderr or b""
                last = (err.decode(errors="replace") if isinstance(err, bytes) else err)[-2000:]
                continue
            if probe.returncode == 0:
                nodes = json.loads(probe.stdout.strip().splitlines()[-1])
                if len(nodes) >= count:
                    return list(nodes)
            last = probe.stderr[-2000:]
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {count} nodes in {self.start_timeout} s: {last}\n{self.log_tail()}")

    def _wait_for_jobs_api(self) -> None:
        """Until the head's jobs API answers (with Ray's token: ~/.ray/auth_token)."""
        from tests.local_cluster import jobs_api_ready

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if jobs_api_ready(self.dashboard_url):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the jobs API at {self.dashboard_url} did not answer in {self.start_timeout} s")

    def _remember_descendants(self) -> None:
        for proc in self.procs:
            try:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    self._known.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass

    def _log_of(self, index: int) -> str:
        """The ``ray start`` log of node ``index``'s latest start (its temp dir is the latest of its name)."""
        mine = [d for d in self.temp_dirs if Path(d).name.startswith(f"hb-ray-node{index}-")]
        path = Path(mine[-1]) / "ray-start.log" if mine else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _end_node(self, index: int) -> None:
        """Kill what node ``index``'s ``ray start`` left (its own session, started here), by process group."""
        self._remember_descendants()
        try:
            os.killpg(self.procs[index].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.procs[index].wait()

    def log_tail(self, lines: int = 20) -> str:
        tails = []
        for temp_dir in self.temp_dirs:
            path = Path(temp_dir) / "ray-start.log"
            if path.exists():
                tails.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n---\n".join(tails)

    def started_pids(self) -> list[int]:
        """Every process this cluster started (``ray start`` and its descendants) seen so far."""
        self._remember_descendants()
        return [p.pid for p in self.procs] + list(self._known)

    def stop(self) -> None:
        """Kill every process the cluster started (workers first, then the head), by pid."""
        self._remember_descendants()
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        for known in self._known.values():
            try:
                known.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(self._known.values()), timeout=10)
        self.procs = []
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
        self.temp_dirs = []

    def __enter__(self) -> "LoopbackCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
