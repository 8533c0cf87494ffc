"""`haybale down` stops the root's local head even while it is still starting (ingest/local_head.py):
the starting command fails with a message saying so, and no process of that head is left."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

from ingest.errors import IngestJobError
from ingest.local_head import STARTING_NAME, _starting, local_head_address, read_state, state_dir_of, stop_head


@pytest.mark.parametrize("when", ["before ray start", "while ray starts"])
def test_down_stops_a_head_that_is_still_starting(tmp_path: Path, when: str) -> None:
    root = tmp_path / "root"
    outcome: dict[str, object] = {}

    def start() -> None:
        try:
            outcome["address"] = local_head_address(root, 1)
        except IngestJobError as exc:
            outcome["error"] = str(exc)

    starter = threading.Thread(target=start)
    starter.start()
    state_dir = state_dir_of(root)
    supervisor = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and supervisor is None:
        supervisor = _starting(state_dir)
        time.sleep(0.01)
    assert supervisor is not None, "the supervisor never recorded that it is starting"
    assert read_state(state_dir) is None  # not up yet: only the starting record names it
    pid = int(supervisor["pid"])
    descendants: set[int] = set()
    try:
        while when == "while ray starts" and not descendants and time.monotonic() < deadline:
            descendants = {p.pid for p in psutil.Process(pid).children(recursive=True)}
            time.sleep(0.01)
        assert when == "before ray start" or (descendants and read_state(state_dir) is None)
        assert stop_head(root) is True
        starter.join(timeout=120)
        assert not starter.is_alive()
        assert "address" not in outcome, outcome
        assert "stopped while it started" in str(outcome["error"]) and str(root) in str(outcome["error"])
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        left = [p for p in descendants if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not left, f"processes of the stopped head still running: {left}"
        assert not (state_dir / STARTING_NAME).exists() and read_state(state_dir) is None
        assert stop_head(root) is False  # nothing left to stop
    finally:
        if starter.is_alive() or read_state(state_dir) is not None:
            stop_head(root)
        starter.join(timeout=120)


def test_a_head_that_does_not_start_in_time_is_stopped_and_the_error_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A head slower than the wait (a busy machine: Ray's own raylet wait is 30 s) is stopped, leaving no
    process, and the message says it timed out and what the load was, not only a log tail."""
    import ingest.local_head as local_head

    monkeypatch.setattr(local_head, "START_TIMEOUT", 1.0)
    root = tmp_path / "root"
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(IngestJobError) as caught:
        local_head_address(root, 1)
    message = str(caught.value)
    assert f"the local Ray head for {root} did not start within 1 s (load average " in message
    assert "run the command again when the machine is less busy" in message
    started = [p for p in psutil.Process().children() if p.pid not in before]
    gone, alive = psutil.wait_procs(started, timeout=60)
    assert not alive, f"the timed-out head's supervisor still runs: {alive}"
    assert read_state(state_dir_of(root)) is None and not (state_dir_of(root) / STARTING_NAME).exists()
