"""Running an ingest job as a separate process group, to SIGKILL all of it (driver, Ray, workers).

Generic over the command, so every job's chaos test can use it (``test_files_job._run_job`` builds the
``ingest files`` command inside; this takes any argv).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def run_job_process(args: list[str], env_extra: dict[str, str], kill_after: float | None = None,
                    timeout: float = 300) -> tuple[int, str]:
    """Run ``python -m ARGS…`` from the repository in a new session; with ``kill_after`` seconds,
    SIGKILL its whole process group then. Returns (exit code, stdout + stderr). Processes it started
    that outlive it (Ray's) are ended by pid, never by name."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, text=True)
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + (kill_after if kill_after is not None else timeout)
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                descendants = psutil.Process(proc.pid).children(recursive=True) or descendants
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        if kill_after is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=timeout)
    finally:
        for child in descendants:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
    return proc.returncode, out + err
