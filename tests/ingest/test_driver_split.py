"""The last split worked on the driver while the root's local head starts (ingest/driver_split.py): the
runner waits for it like for a task, a failure there sends the split to the executor instead, and only
a command that starts the head itself does it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.layout import RootLayout
from ingest.driver_split import DriverSplit, WithDriverSplit, starts_local_head
from ingest.executors import LocalExecutor


@dataclass(frozen=True)
class _Split:
    index: int


def _work(split: _Split, payload: str) -> tuple[int, str, str]:
    return split.index, payload, threading.current_thread().name


def _fails_off_the_main_thread(split: _Split, payload: str) -> tuple[int, str, str]:
    if threading.current_thread() is not threading.main_thread():
        raise OSError(f"cannot read {payload}")
    return _work(split, payload)


def _drain(executor: WithDriverSplit, expected: int) -> list[tuple[_Split, object]]:
    done: list[tuple[_Split, object]] = []
    for _ in range(200):
        done += executor.wait(timeout=0.05)
        if len(done) >= expected and not executor.running():
            break
    return done


def test_the_driver_split_is_handed_back_like_a_finished_task() -> None:
    inner = LocalExecutor(_work, "run-1")
    executor = WithDriverSplit(inner, DriverSplit(_Split(0), "first", _work))
    assert _Split(0) in executor.running() or executor.driver.done()
    executor.submit(_Split(1), "second")
    done = _drain(executor, 2)
    executor.close()
    results = {split.index: result for split, result in done}
    assert results[0][:2] == (0, "first") and results[0][2] == "driver-split-0"  # worked on the driver's thread
    assert results[1] == (1, "second", threading.current_thread().name)
    assert len(done) == 2 and executor.driver.succeeded and not executor.running()


def test_a_split_that_fails_on_the_driver_goes_to_the_executor(capsys: pytest.CaptureFixture[str]) -> None:
    inner = LocalExecutor(_fails_off_the_main_thread, "run-2")
    executor = WithDriverSplit(inner, DriverSplit(_Split(3), "part-3.warc.gz", _fails_off_the_main_thread))
    done = _drain(executor, 1)
    executor.close()
    assert [(s.index, r[:2]) for s, r in done] == [(3, (3, "part-3.warc.gz"))]  # done once, by the executor
    assert not executor.driver.succeeded
    err = capsys.readouterr().err
    assert "split 3 failed on the driver" in err and "cannot read part-3.warc.gz" in err and "on Ray instead" in err


def test_only_a_command_that_starts_the_local_head_works_on_the_driver(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    layout = RootLayout.of(str(tmp_path / "root"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    if not ray.is_initialized():
        assert starts_local_head(layout, None)  # no Ray, no address, no head: this command starts it
    assert not starts_local_head(layout, "127.0.0.1:6379")  # a cluster: tasks start at once
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert not starts_local_head(layout, None)


def test_a_connected_driver_never_works_on_a_split(tmp_path: Path, ray_session: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not starts_local_head(RootLayout.of(str(tmp_path / "root")), None)
