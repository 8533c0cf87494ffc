"""Several processes serving one port: ``haybale serve --workers N``.

One service process uses about one core (see :mod:`catalog.service`), so the service runs N worker
processes that each listen on the same address with ``SO_REUSEPORT``: the Linux kernel spreads new
connections over the listening sockets by a hash of the connection, so no process accepts for the
others and a busy worker does not starve the rest. Each worker is a fresh interpreter
(``python -m catalog.service_workers``, not a fork: no RocksDB handle or thread crosses a fork), opens
its own read-only backend and answers every endpoint; they share their metrics through files
(:mod:`catalog.service_metrics`).

The supervisor (this process) first binds the address itself with ``SO_REUSEPORT`` and does not listen
on it: that reserves the port (``--port 0`` picks one) before any worker starts. It announces the URL
once every worker is listening, restarts a worker that dies (at most :data:`MAX_RESTARTS_PER_MINUTE`
a minute, then gives up and stops the rest, saying why), and on SIGTERM or SIGINT passes SIGTERM to
each worker (they finish requests in flight) and waits for them. A worker whose supervisor is gone
(SIGKILL, the OOM killer) stops itself within a second.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from catalog.errors import ServiceError
from catalog.service import SHUTDOWN_GRACE_SECONDS, ServiceConfig, log

CONFIG_ENV = "HAYBALE_SERVE_WORKER_CONFIG"
SUPERVISOR_ENV = "HAYBALE_SERVE_SUPERVISOR_PID"
START_TIMEOUT_SECONDS = 120.0
MAX_RESTARTS_PER_MINUTE = 5


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with ``SO_REUSEPORT``: holds the port for the
    workers. :class:`ServiceError` if the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): is another service using "
                           "the port? pick another --port, or 0 for any free port") from exc
    return sock


class Supervisor:
    """N worker processes serving ``config`` on one port (see the module docstring)."""

    def __init__(self, config: ServiceConfig, workers: int) -> None:
        if workers < 2:
            raise ServiceError(f"workers={workers}: a supervisor runs at least 2 (1 serves in-process)")
        self.workers = workers
        self._own_metrics_dir = config.metrics_dir is None
        metrics_dir = config.metrics_dir or tempfile.mkdtemp(prefix="haybale-serve-metrics-")
        self._reservation = reserve_port(config.host, config.port)
        port = self._reservation.getsockname()[1]
        self.config = dataclasses.replace(config, port=port, reuse_port=True, metrics_dir=metrics_dir)
        self.processes: list[subprocess.Popen[bytes]] = []
        self._restarts: list[float] = []
        self.url = ""

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, CONFIG_ENV: json.dumps(dataclasses.asdict(self.config)), SUPERVISOR_ENV: str(os.getpid())}
        return subprocess.Popen([sys.executable, "-m", "catalog.service_workers"], env=env)

    def _ready_file(self, pid: int) -> Path:
        return Path(self.config.metrics_dir or ".") / f"ready-{pid}"

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        ready = self._ready_file(proc.pid)
        while not ready.exists():
            if proc.poll() is not None:
                raise ServiceError(f"a worker of the catalog service exited with {proc.returncode} while starting "
                                   "(its error is printed above)")
            if time.monotonic() > deadline:
                proc.kill()
                raise ServiceError(f"a worker did not start listening within {START_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.05)
        self.url = ready.read_text().strip()

    def start(self) -> "Supervisor":
        """Start every worker; returns once all listen (raises, stopping those started, if one fails)."""
        try:
            for _ in range(self.workers):
                proc = self._spawn()
                self.processes.append(proc)
                self._wait_ready(proc)
        except BaseException:
            self.stop()
            raise
        return self

    def check(self) -> None:
        """Restart workers that died; :class:`ServiceError` when they die too often."""
        for i, proc in enumerate(self.processes):
            if proc.poll() is None:
                continue
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < 60] + [now]
            if len(self._restarts) > MAX_RESTARTS_PER_MINUTE:
                raise ServiceError(f"catalog service workers died {len(self._restarts)} times within a minute "
                                   f"(last: pid {proc.pid}, exit {proc.returncode}): stopping; see their errors above")
            log.warning("catalog service worker pid %s exited with %s: starting another", proc.pid, proc.returncode)
            fresh = self._spawn()
            self.processes[i] = fresh
            self._wait_ready(fresh)

    def stop(self) -> None:
        """SIGTERM every worker, wait for them (killing one that outlives the grace), release the port."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS + 10
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reservation.close()
        if self._own_metrics_dir and self.config.metrics_dir:
            shutil.rmtree(self.config.metrics_dir, ignore_errors=True)


def serve_workers(config: ServiceConfig, workers: int, announce: Callable[[str], None] | None = None) -> None:
    """Run ``workers`` processes on ``config``'s address until SIGTERM or SIGINT (see the module)."""
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    supervisor = Supervisor(config, workers)
    try:
        supervisor.start()
        if announce is not None:
            announce(supervisor.url)
        while not stop["now"]:
            time.sleep(0.2)
            supervisor.check()
    finally:
        supervisor.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _worker_main() -> None:
    """A worker: the config from the environment, serve until SIGTERM or until the supervisor is gone
    (a supervisor SIGKILLed or OOM-killed runs no cleanup: its workers would serve the port on, with
    the token it was started with, beside a restarted service); tell the supervisor when listening by
    writing ``ready-<pid>`` (holding the URL) into the metrics directory."""
    from catalog.service_run import serve

    config = ServiceConfig(**json.loads(os.environ[CONFIG_ENV]))

    def announce(service: object) -> None:
        ready = Path(config.metrics_dir or ".") / f"ready-{os.getpid()}"
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(getattr(service, "url", ""))
        os.replace(tmp, ready)

    serve(config, announce, parent=int(os.environ[SUPERVISOR_ENV]))


if __name__ == "__main__":
    _worker_main()
