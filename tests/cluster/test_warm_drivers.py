"""Job commands on a running local head run in its warm drivers (haybale.cli.warm_drivers), and the
head keeps job-less Ray workers started between jobs (ingest.warm_workers).

Each command runs through a wrapper process that calls the console entry point (``main()`` with the
process's arguments, as the ``haybale`` command does) and then reports whether *its own* process
imported Ray: a command run by a warm driver never does; one that runs itself must."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from haybale.demo import generate_files
from ingest.local_head import head_environment, read_state, state_dir_of, stop_head

REPO = Path(__file__).resolve().parents[2]
WRAPPER = """
import json, os, sys
from haybale.cli import main
code = main()
with open(os.environ["WRAPPER_REPORT"], "w") as f:
    json.dump({"code": code, "ray_imported": "ray" in sys.modules}, f)
sys.exit(code)
"""


# The suite's heads stop after 20 s without a command (tests/conftest.py); this module's head must
# outlive the tests that only ask its raylet (warm workers are topped up up to a minute after a job).
# Every command here carries the same value: a warm driver serves only commands with its own settings.
IDLE = {"HAYBALE_CLUSTER_IDLE_SECONDS": "600"}


def _command(root: Path, report: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRAPPER, *argv, "--root", str(root)], cwd=REPO, text=True,
                            env={**os.environ, **IDLE, **(env or {}), "WRAPPER_REPORT": str(report)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[str], report: Path) -> tuple[int, str, str, dict]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err, json.loads(report.read_text())


def _records(root: Path) -> int:
    done = subprocess.run([sys.executable, "-m", "haybale", "catalog", "stats", "--json", "--root", str(root)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)["records"]


@pytest.fixture(scope="module")
def warm_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root whose local head runs (started by a first, cold command) with its warm drivers listening."""
    root = tmp_path_factory.mktemp("warm") / "root"
    first = tmp_path_factory.mktemp("warm-in")
    generate_files(first, 10, seed=1)
    code, _, err, _ = _finish(_command(root, first / "report.json", "ingest", "files", str(first), "--quiet"),
                              first / "report.json")
    assert code == 0, err[-2000:]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = read_state(state_dir_of(root))
        if state and os.path.exists(state.get("driver_socket", "/nonexistent")):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the warm drivers of {root} never listened: {(state_dir_of(root) / 'head.log').read_text()[-2000:]}")
    yield root
    stop_head(root)


def test_a_job_command_on_a_running_head_runs_in_a_warm_driver(warm_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    generate_files(src, 30, seed=2)
    before = _records(warm_root)
    code, out, err, report = _finish(_command(warm_root, tmp_path / "r.json", "ingest", "files", str(src), "--json"),
                                     tmp_path / "r.json")
    assert code == 0, err[-2000:]
    assert not report["ray_imported"], "the command imported Ray itself: no warm driver ran it"
    summary = json.loads(out)  # the child's stdout is the command's own
    files = sorted(p for p in src.rglob("*") if p.is_file())
    assert summary["files"] == summary["added"] == len(files)
    assert _records(warm_root) == before + len(files)
    cat = subprocess.run([sys.executable, "-m", "haybale", "catalog", "cat", f"file://{files[3]}", "--root",
                          str(warm_root)], cwd=REPO, capture_output=True, timeout=120, check=True)
    assert cat.stdout == files[3].read_bytes()


def test_a_warm_drivers_failure_is_the_commands_exit_status_and_stderr(warm_root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    code, _, err, report = _finish(_command(warm_root, tmp_path / "r.json", "ingest", "files", str(missing)),
                                   tmp_path / "r.json")
    assert not report["ray_imported"]
    assert code == 2
    assert f"haybale: error: input '{missing}' does not exist" in err


def test_a_command_with_other_import_settings_runs_in_its_own_process(warm_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    generate_files(src, 10, seed=3)
    before = _records(warm_root)
    code, _, err, report = _finish(_command(warm_root, tmp_path / "r.json", "ingest", "files", str(src), "--quiet",
                                            env={"HAYBALE_CHECKPOINTS_KEPT": "4"}), tmp_path / "r.json")
    assert code == 0, err[-2000:]
    assert report["ray_imported"], "a warm driver imported with other settings ran the command"
    assert _records(warm_root) == before + sum(1 for p in src.rglob("*") if p.is_file())


def test_two_commands_at_once_both_run_warm_and_every_file_is_registered_once(warm_root: Path, tmp_path: Path) -> None:
    inputs = [tmp_path / "a", tmp_path / "b"]
    for n, d in enumerate(inputs):
        generate_files(d, 40, seed=10 + n)
    before = _records(warm_root)
    procs = [(_command(warm_root, tmp_path / f"r{n}.json", "ingest", "files", str(d), "--json"), tmp_path / f"r{n}.json")
             for n, d in enumerate(inputs)]
    results = [_finish(p, r) for p, r in procs]
    for code, _out, err, report in results:
        assert code == 0, err[-2000:]
        assert not report["ray_imported"]
    runs = {json.loads(out)["run_id"] for _, out, _, _ in results}
    assert len(runs) == 2, "two forked commands got the same run id"
    total = sum(1 for d in inputs for p in d.rglob("*") if p.is_file())
    assert sum(json.loads(out)["added"] for _, out, _, _ in results) == total
    assert _records(warm_root) == before + total


def test_the_head_keeps_one_jobless_worker_per_cpu_between_jobs(warm_root: Path) -> None:
    state = read_state(state_dir_of(warm_root))
    # asked from a process with the head's environment (Ray's token authentication is read at import)
    ask = ("import sys; from ingest.warm_workers import RayletWorkers; "
           "print(RayletWorkers(sys.argv[1]).jobless())")
    deadline = time.monotonic() + 60
    seen = -1
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", ask, state["raylet_address"]], cwd=REPO, env=head_environment(),
                              capture_output=True, text=True, timeout=60, check=True)
        seen = int(done.stdout.split()[-1])
        if seen == state["num_cpus"]:
            break
        time.sleep(0.5)
    log = (state_dir_of(warm_root) / "head.log").read_text()
    assert seen == state["num_cpus"], (seen, log[-2000:])
    assert "warm Ray worker(s) for the next job" in log


def _caught_in_its_warm_driver(warm_root: Path, tmp_path: Path, src: Path,
                               argv: tuple[str, ...]) -> tuple[subprocess.Popen[str], Any] | None:
    """Start the command; return it and its warm driver while the driver runs, or None if the command
    ended first, having run in a warm driver. The driver is the new child of the head's warm-driver
    server (its process title names the command too, but under a full suite's load beside other work
    a poll over every process's title missed it twice, with jobs of 3,000 and 12,000 files)."""
    import psutil

    state = read_state(state_dir_of(warm_root))
    assert state is not None and state.get("driver_socket"), state
    servers = [p for p in psutil.process_iter(["cmdline"])
               if "haybale.cli.warm_drivers" in " ".join(p.info["cmdline"] or [])
               and state["driver_socket"] in " ".join(p.info["cmdline"] or [])]
    assert len(servers) == 1, f"the head's warm-driver server is not running: {servers}"
    server = servers[0]
    before = {child.pid for child in server.children()}
    proc = _command(warm_root, tmp_path / "r.json", *argv)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for child in server.children():
            if child.pid not in before:
                return proc, child
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=300)
    report = (tmp_path / "r.json").read_text() if (tmp_path / "r.json").exists() else "no report"
    if proc.returncode == 0 and json.loads(report).get("ray_imported") is False:
        return None  # a warm driver ran the whole job before this loop saw it
    pytest.fail(f"no warm driver ran the command (exit {proc.returncode}; report {report}; stderr "
                f"{err[-1500:]!r}; head log {(state_dir_of(warm_root) / 'head.log').read_text()[-1500:]!r})")


def test_a_killed_command_ends_its_warm_driver_and_a_rerun_registers_every_file_once(warm_root: Path,
                                                                                      tmp_path: Path) -> None:
    import psutil

    cut_short = False
    for attempt, count in enumerate((3000, 12000)):
        # a bigger job if the first one ended before its warm driver was seen, or before the kill could
        # reach it (a quiet machine finishes 3,000 files in about a second); every attempt must end its
        # driver, and one of them must show that the job stopped short
        src = tmp_path / f"many{attempt}"
        generate_files(src, count, seed=21 + attempt)
        files = sum(1 for p in src.rglob("*") if p.is_file())
        before = _records(warm_root)
        argv = ("ingest", "files", str(src), "--run-id", f"killed-client-{attempt}", "--split-files", "300",
                "--quiet")
        caught = _caught_in_its_warm_driver(warm_root, tmp_path, src, argv)
        if caught is None:
            continue
        proc, child = caught
        # SIGKILL to the command as soon as its warm driver runs, as a crashed shell or an OOM kill would
        proc.kill()
        proc.wait()
        psutil.wait_procs([child], timeout=30)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, \
            "the warm driver outlived its command"
        if _records(warm_root) < before + files:
            cut_short = True
            break
    assert cut_short, "every killed command's job ran to its end (or ended before its warm driver was seen)"
    code, out, err, report = _finish(_command(warm_root, tmp_path / "r2.json", *argv[:-1], "--json"),
                                     tmp_path / "r2.json")
    assert code == 0, err[-2000:]
    assert _records(warm_root) == before + files


def test_cluster_status_says_the_warm_drivers_listen(warm_root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "haybale", "cluster", "status", "--root", str(warm_root)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    assert "warm drivers: listening at " in done.stdout


def test_a_quiet_command_writes_nothing_to_stderr(warm_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    generate_files(src, 10, seed=31)
    code, out, err, _ = _finish(_command(warm_root, tmp_path / "r.json", "ingest", "files", str(src), "--quiet"),
                                tmp_path / "r.json")
    assert code == 0 and out.startswith("ingested ")
    assert err == "", err  # no Ray INFO lines ("Connecting to existing Ray cluster at ...")
