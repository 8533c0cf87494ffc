"""The embedded default is a cluster of one: a persistent local Ray head per deployment root.

Without ``--address`` / ``RAY_ADDRESS`` a job command calls :func:`local_head_address`, which finds the
root's running head (state file ``ROOT/cluster/head.json``: supervisor pid, Ray GCS address, checked:
the pid must be alive and be this module's supervisor, and the state must name it) or starts one, and
returns its address. The command connects to it and leaves it running, so the next command (or a
second one running at the same time) joins the same catalog owners and starts working at once.

The head is ``ray start --head --block`` run by a small supervisor process (``python -m
ingest.local_head serve STATE_DIR``) in its own session, with its own short temp dir and free ports,
``num_cpus`` = this machine's cores, and the custom resource ``catalog_disk`` (so the owner actors
land on it). The supervisor:

- writes the state file once the head answers, and removes it when the head stops;
- stops the head (its ``ray start`` process and every descendant, by pid) on SIGTERM — what
  ``haybale down`` sends — when the head dies, when its state file is removed or names another pid
  (the root was deleted), and after **idle timeout** (default 900 s, ``HAYBALE_CLUSTER_IDLE_SECONDS``):
  no command registered as a user (``ROOT/cluster/users/<pid>``, removed when the command ends; a dead
  pid does not count) for that long.

While no command uses the head, the supervisor keeps one job-less Ray worker per CPU started, so the
next command's first tasks do not wait for worker processes (:mod:`ingest.warm_workers`,
``HAYBALE_WARM_WORKERS``), and once the first command has ended it starts the head's warm drivers:
later job commands run in a process forked from one that has Ray and haybale imported
(:mod:`haybale.cli.warm_drivers`, ``HAYBALE_WARM_DRIVERS``).

The head uses Ray's token authentication; on a machine with no Ray token yet, starting it creates
Ray's default one (:mod:`ingest.ray_token`).

Starting is serialized by an ``flock`` on ``ROOT/cluster/start.lock``: two commands at once get one head.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from catalog.storage import write_atomic
from ingest.errors import IngestJobError
from ingest.ray_token import ensure_local_token
from ingest.stop_signals import StopSignals
from ingest.warm_workers import keeper_for

STATE_NAME = "head.json"
DRIVER_SOCKET = "driver.sock"  # the warm drivers' socket, in the head's temp dir
WARM_UP_AFTER_IDLE = 1.0  # seconds without a command before the head starts its warm drivers
STARTING_NAME = "starting.json"  # the supervisor's pid while it starts (before head.json exists)
DEFAULT_IDLE_SECONDS = 900.0
START_TIMEOUT = 90.0
_SUPERVISOR_MARK = "ingest.local_head"


def state_dir_of(root_dir: str | Path) -> Path:
    """Where a local root keeps its head's state."""
    return Path(root_dir) / "cluster"


PORT_NAMES = ("port", "node_manager_port", "dashboard_port", "object_manager_port", "metrics_export_port",
              "dashboard_agent_listen_port", "dashboard_agent_grpc_port", "runtime_env_agent_port",
              "ray_client_server_port")
HEAD_START_ATTEMPTS = 3  # a head that exits while starting (a port taken meanwhile) is started again


def free_ports(names: tuple[str, ...] = PORT_NAMES) -> dict[str, int]:
    """A free loopback port per name, all different: every socket stays bound until all are picked
    (picked one at a time, the OS can hand the same port out twice — seen: Ray refused to start, two of
    its components given one port)."""
    sockets = []
    try:
        for _ in names:
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return {name: int(s.getsockname()[1]) for name, s in zip(names, sockets)}
    finally:
        for s in sockets:
            s.close()


def _pid_is_supervisor(pid: int) -> bool:
    try:
        import psutil

        return _SUPERVISOR_MARK in " ".join(psutil.Process(pid).cmdline())
    except Exception:  # noqa: BLE001 - gone, or not ours
        return False


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running head's state, or None if there is none (a stale state file does not count)."""
    try:
        state = json.loads((state_dir / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not _pid_is_supervisor(int(state.get("pid", 0))):
        return None
    return state


@contextmanager
def _start_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "start.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def local_head_address(root_dir: str | Path, num_cpus: int | None = None) -> str:
    """The GCS address of the root's local head, started if none runs."""
    state_dir = state_dir_of(root_dir)
    with _start_lock(state_dir):
        state = read_state(state_dir)
        if state is not None:
            return str(state["address"])
        return _start(state_dir, num_cpus or os.cpu_count() or 2)


def _start(state_dir: Path, num_cpus: int) -> str:
    ensure_local_token()  # a head with token auth will not start without one (a fresh machine has none)
    (state_dir / STATE_NAME).unlink(missing_ok=True)
    log = open(state_dir / "head.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", _SUPERVISOR_MARK, "serve", str(state_dir), str(num_cpus)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=head_environment())
    log.close()
    starting = state_dir / STARTING_NAME
    write_atomic(str(starting), json.dumps({"pid": proc.pid}))  # so `haybale down` can stop it already
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            state = read_state(state_dir)
            if state is not None and state.get("pid") == proc.pid:
                return str(state["address"])
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        timed_out = proc.poll() is None
        if timed_out:
            proc.terminate()
    finally:
        starting.unlink(missing_ok=True)
    tail = (state_dir / "head.log").read_text(errors="replace")[-2000:]
    if timed_out:
        load = os.getloadavg()[0]
        raise IngestJobError(f"the local Ray head for {state_dir.parent} did not start within {START_TIMEOUT:.0f} s "
                             f"(load average {load:.1f} on {os.cpu_count()} cores; log {state_dir / 'head.log'}): "
                             f"{tail}\nrun the command again when the machine is less busy, or give --address of a "
                             "running cluster")
    # SIGTERM before its handler was set: it had started nothing yet
    if proc.returncode in (STOPPED_WHILE_STARTING, -signal.SIGTERM):
        raise IngestJobError(f"the local Ray head for {state_dir.parent} was stopped while it started "
                             "(`haybale down`): run the command again to start a new one")
    raise IngestJobError(f"could not start the local Ray head for {state_dir.parent} (log {state_dir / 'head.log'}): "
                         f"{tail}\nfix what the log says, or give --address of a running cluster")


def head_environment() -> dict[str, str]:
    """Environment for the head and its drivers (Ray 2.60 uses token authentication on local clusters)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "RAY_AUTH_MODE": "token", "PATH": path}


@contextmanager
def user_of(root_dir: str | Path) -> Iterator[None]:
    """Register this process as a user of the root's head for the ``with`` block (idle accounting)."""
    users = state_dir_of(root_dir) / "users"
    users.mkdir(parents=True, exist_ok=True)
    mine = users / str(os.getpid())
    mine.write_text(str(time.time()))
    try:
        yield
    finally:
        mine.unlink(missing_ok=True)
        try:
            os.utime(state_dir_of(root_dir) / STATE_NAME)  # the last use: idle time counts from here
        except OSError:
            pass


def stop_head(root_dir: str | Path, timeout: float = 60.0) -> bool:
    """Stop the root's head (SIGTERM to its supervisor, by pid), also one still starting; True if one
    was running or starting."""
    state_dir = state_dir_of(root_dir)
    state = read_state(state_dir) or _starting(state_dir)
    if state is None:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_is_supervisor(pid):
        time.sleep(0.2)
    return True


def _starting(state_dir: Path) -> dict[str, Any] | None:
    """The supervisor still starting the head (no state file yet), or None."""
    try:
        state = json.loads((state_dir / STARTING_NAME).read_text())
    except (OSError, ValueError):
        return None
    return state if _pid_is_supervisor(int(state.get("pid", 0))) else None


# -- the supervisor (python -m ingest.local_head serve STATE_DIR NUM_CPUS) -----------------------
STOPPED_WHILE_STARTING = 3  # the supervisor's exit status when it was stopped before the head was up


def _serve(state_dir: Path, num_cpus: int) -> int:
    import psutil

    # before anything starts: a SIGTERM from `haybale down` must never leave an orphaned `ray start`
    stops = StopSignals()
    idle_limit = float(os.environ.get("HAYBALE_CLUSTER_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))
    key = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:8]
    temp_dir = tempfile.mkdtemp(prefix=f"hb-{key}-", dir="/tmp")  # short: Ray's socket paths have a limit
    if stops.stopping:
        shutil.rmtree(temp_dir, ignore_errors=True)
        return STOPPED_WHILE_STARTING

    def launch() -> tuple[dict[str, int], subprocess.Popen[bytes]]:
        ports = free_ports()
        return ports, subprocess.Popen(_head_command(ports, temp_dir, num_cpus), env=head_environment(),
                                       stdin=subprocess.DEVNULL)

    ports, head = launch()
    known: dict[int, Any] = {}
    drivers: subprocess.Popen[bytes] | None = None
    drivers_tried = False
    state_file = state_dir / STATE_NAME
    try:
        for attempt in range(1, HEAD_START_ATTEMPTS + 1):
            address = f"127.0.0.1:{ports['port']}"
            if _wait_for_head(address, head, lambda: stops.stopping):
                break
            if stops.stopping:
                return STOPPED_WHILE_STARTING
            if head.poll() is None or attempt == HEAD_START_ATTEMPTS:  # not up in time, or out of attempts
                return 1
            # exited while starting: most often a port another process took between picking and binding
            print(f"the Ray head exited while starting (exit status {head.returncode}); starting it again "
                  "with other ports", flush=True)
            _kill_tree(head, known)
            ports, head = launch()
        write_atomic(str(state_file), json.dumps({"pid": os.getpid(), "address": address, "ray_pid": head.pid,
                                                  "temp_dir": temp_dir, "started": time.time(),
                                                  "idle_timeout_seconds": idle_limit, "num_cpus": num_cpus,
                                                  "driver_socket": os.path.join(temp_dir, DRIVER_SOCKET),
                                                  "raylet_address": f"127.0.0.1:{ports['node_manager_port']}"}))
        print(f"local Ray head for {state_dir.parent} at {address} (idle timeout {idle_limit:.0f} s)", flush=True)
        warm = keeper_for(f"127.0.0.1:{ports['node_manager_port']}", num_cpus)  # raylet_address in the state
        while not stops.stopping and head.poll() is None:
            for child in psutil.Process(head.pid).children(recursive=True):
                known.setdefault(child.pid, child)
            idle = _idle_for(state_dir, state_file)
            if not _state_names(state_file, os.getpid()) or idle > idle_limit:
                break
            warm.tick(busy=idle == 0.0)
            if not drivers_tried and idle >= WARM_UP_AFTER_IDLE:  # never beside a command: see _start_warm_drivers
                drivers_tried, drivers = True, _start_warm_drivers(temp_dir)
            time.sleep(1.0)
        return 0
    finally:
        if _state_names(state_file, os.getpid()):
            state_file.unlink(missing_ok=True)
        if drivers is not None:
            _end(drivers)
        _kill_tree(head, known)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``proc`` (a process this supervisor started), SIGKILL if it is still there after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_warm_drivers(temp_dir: str) -> subprocess.Popen[bytes] | None:
    """The warm-driver fork server of this head (:mod:`haybale.cli.warm_drivers`, started by module name:
    it runs the ``haybale`` command, a layer above this one), on a socket in the head's temp dir; None if
    ``HAYBALE_WARM_DRIVERS=0``. The supervisor starts it once no command has used the head for
    :data:`WARM_UP_AFTER_IDLE` seconds (its imports take ~1 CPU s, which no command should share: not the
    one that started the head, nor one started right after it); commands run in their own process until
    it listens."""
    if os.environ.get("HAYBALE_WARM_DRIVERS", "1") == "0":
        return None
    return subprocess.Popen([sys.executable, "-m", "haybale.cli.warm_drivers", os.path.join(temp_dir, DRIVER_SOCKET)],
                            env=head_environment(), stdin=subprocess.DEVNULL)


def _head_command(ports: dict[str, int], temp_dir: str, num_cpus: int) -> list[str]:
    """The command running the head's Ray node on ``ports`` (:func:`free_ports`):
    :mod:`ingest.ray_head_process` (no Ray command line to import, no Ray Client server), else
    ``ray start --head --block`` with the same options."""
    from ingest.ray_head_process import lightweight_head_available

    options = {"node_ip_address": "127.0.0.1", "temp_dir": temp_dir, "num_cpus": num_cpus,
               "resources": {"catalog_disk": 1}, "supervisor": os.getpid(),  # called in the supervisor
               **{name: ports[name] for name in PORT_NAMES if name != "ray_client_server_port"}}
    if lightweight_head_available():
        return [sys.executable, "-m", "ingest.ray_head_process", json.dumps(options)]
    ray_bin = str(Path(sys.executable).with_name("ray"))
    return [ray_bin, "start", "--head", "--block", "--port", str(options["port"]), "--node-ip-address", "127.0.0.1",
            "--temp-dir", temp_dir, "--num-cpus", str(num_cpus), "--resources", json.dumps(options["resources"]),
            "--include-dashboard", "false", "--disable-usage-stats",
            "--dashboard-port", str(options["dashboard_port"]),
            "--node-manager-port", str(options["node_manager_port"]),
            "--object-manager-port", str(options["object_manager_port"]),
            "--metrics-export-port", str(options["metrics_export_port"]),
            "--dashboard-agent-listen-port", str(options["dashboard_agent_listen_port"]),
            "--dashboard-agent-grpc-port", str(options["dashboard_agent_grpc_port"]),
            "--runtime-env-agent-port", str(options["runtime_env_agent_port"]),
            "--ray-client-server-port", str(ports["ray_client_server_port"]),
            # a one-machine head has nothing to autoscale: no monitor process (a Python process whose
            # start competes with the job's for the machine's cores)
            "--no-monitor",
            # every haybale driver connects with log_to_driver=False: nothing reads the worker logs the
            # log monitor would forward (one Python process less at start-up)
            "--include-log-monitor", "false"]


def _wait_for_head(address: str, head: subprocess.Popen[bytes], stopped: Any) -> bool:
    """True once the head's node is registered alive in its GCS (what ``ray.init`` of a driver looks
    for: it polls once a second until it finds it, so the state file is written only then, and the
    driver connects at its first try); False if the head died, did not come up in time, or
    ``stopped()`` (SIGTERM meanwhile)."""
    deadline = time.monotonic() + START_TIMEOUT
    host, port = address.split(":")
    while time.monotonic() < deadline and not stopped():
        if head.poll() is not None:
            return False
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                pass
            break
        except OSError:
            time.sleep(0.1)
    else:
        return False
    alive = _node_alive_check(address)
    if alive is None:  # no GCS client in this Ray: the raylet registers soon after the GCS listens
        time.sleep(1.0)
        return True
    while time.monotonic() < deadline and head.poll() is None and not stopped():
        if alive():
            return True
        time.sleep(0.05)
    return False


def _node_alive_check(address: str) -> Any:
    """A callable telling whether a node is registered alive at the GCS ``address``, or None if this
    Ray has no GCS client to ask (then the caller waits a fixed second, as before)."""
    try:
        from ray._raylet import GcsClient
        from ray.core.generated.gcs_pb2 import GcsNodeInfo

        client = GcsClient(address=address)
    except Exception:  # noqa: BLE001 - an internal API of Ray: absent or changed, fall back
        return None

    def alive() -> bool:
        try:
            return bool(client.get_all_node_info(timeout=2, state_filter=GcsNodeInfo.GcsNodeState.ALIVE))
        except Exception:  # noqa: BLE001 - not answering yet
            return False
    return alive


def _state_names(state_file: Path, pid: int) -> bool:
    try:
        return int(json.loads(state_file.read_text()).get("pid", 0)) == pid
    except (OSError, ValueError):
        return False


def live_users(state_dir: Path) -> list[int]:
    """The pids of the commands using the head now (registered by :func:`user_of` and alive); the
    entries of commands that died without unregistering are removed."""
    try:
        entries = list((state_dir / "users").iterdir())
    except FileNotFoundError:
        return []
    pids: list[int] = []
    for entry in entries:
        try:
            pid = int(entry.name)
            os.kill(pid, 0)
            pids.append(pid)
        except (ValueError, ProcessLookupError):
            entry.unlink(missing_ok=True)  # a command that died without unregistering
        except PermissionError:
            pids.append(pid)  # alive, another user's
    return sorted(pids)


def _idle_for(state_dir: Path, state_file: Path) -> float:
    """Seconds since the head was last used (0 while a live command uses it)."""
    if live_users(state_dir):
        return 0.0
    try:
        return time.time() - state_file.stat().st_mtime
    except OSError:
        return 0.0


def _kill_tree(head: subprocess.Popen[bytes], known: dict[int, Any]) -> None:
    """SIGTERM to ``ray start`` and every process it started (by pid, all at once), SIGKILL to those
    still alive after 5 s. Owners lose nothing: every acknowledged write is in their journals."""
    import psutil

    try:
        for child in psutil.Process(head.pid).children(recursive=True):
            known.setdefault(child.pid, child)
    except psutil.NoSuchProcess:
        pass
    procs = [p for p in known.values() if p.is_running()]
    try:
        procs.append(psutil.Process(head.pid))
    except psutil.NoSuchProcess:
        pass
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still = psutil.wait_procs(procs, timeout=5)
    for p in still:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(still, timeout=5)
    head.poll()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        sys.exit(_serve(Path(sys.argv[2]), int(sys.argv[3])))
    sys.exit("usage: python -m ingest.local_head serve STATE_DIR NUM_CPUS")
