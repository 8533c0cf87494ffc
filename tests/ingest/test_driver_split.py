"""Splits worked on the driver, from the tail of the plan, while the root's local head starts
(ingest/driver_split.py): the runner waits for them like for tasks, the driver and the executor take
splits from opposite ends and never the same one, a failure on the driver sends the split to the
executor, and only a command that starts the head itself does it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.layout import RootLayout
from ingest.driver_split import DriverWorker, WithDriverWorker, starts_local_head
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


def _payload(split: _Split) -> str:
    return f"part-{split.index}.warc.gz"


def _drive(executor: WithDriverWorker, queue_lock: threading.RLock, queue: list[_Split]) -> dict[int, tuple]:
    """What the runner does: submit from the front while there is room, collect what finishes."""
    results: dict[int, tuple] = {}
    for _ in range(400):
        while executor.room(0):
            with queue_lock:  # as the runner: it asks what runs while it holds the lock
                if not queue or executor.running() is None:
                    break
                split = queue.pop(0)
            executor.submit(split, _payload(split))
        for split, result in executor.wait(timeout=0.05):
            assert split.index not in results, f"split {split.index} done twice"
            results[split.index] = result
        if not queue and not executor.running():
            results.update({s.index: r for s, r in executor.wait(timeout=0)})
            break
    return results


def test_the_driver_takes_splits_from_the_tail_and_the_executor_from_the_front() -> None:
    splits = [_Split(i) for i in range(8)]
    driver = DriverWorker(list(splits), _payload, _work)
    executor = WithDriverWorker(LocalExecutor(_work, "run-1"), driver, slots=1)
    results = _drive(executor, driver.lock, driver.queue)
    executor.close()
    assert sorted(results) == list(range(8))  # every split once
    on_driver = sorted(i for i, r in results.items() if r[2] == "driver-splits")
    on_executor = sorted(i for i, r in results.items() if r[2] != "driver-splits")
    assert on_driver and on_driver == list(range(8 - len(on_driver), 8))  # a tail of the plan
    assert on_executor == list(range(8 - len(on_driver)))  # the front
    assert all(results[i][1] == f"part-{i}.warc.gz" for i in range(8))
    assert driver.succeeded == len(on_driver) and not driver.working()


def test_splits_the_driver_finished_before_the_runner_started_are_all_handed_over() -> None:
    splits = [_Split(i) for i in range(5)]
    driver = DriverWorker(list(splits), _payload, _work)
    assert driver.join(10) and not driver.queue  # it took every split while "the head started"
    executor = WithDriverWorker(LocalExecutor(_work, "run-0"), driver, slots=2)
    assert sorted(s.index for s in executor.running()) == list(range(5))  # held until handed over
    results = _drive(executor, driver.lock, driver.queue)
    executor.close()
    assert sorted(results) == list(range(5)) and not executor.running()


def test_a_split_that_fails_on_the_driver_goes_to_the_executor(capsys: pytest.CaptureFixture[str]) -> None:
    driver = DriverWorker([_Split(3)], _payload, _fails_off_the_main_thread)
    executor = WithDriverWorker(LocalExecutor(_fails_off_the_main_thread, "run-2"), driver, slots=2)
    results = _drive(executor, driver.lock, driver.queue)
    executor.close()
    assert {i: r[:2] for i, r in results.items()} == {3: (3, "part-3.warc.gz")}  # done once, by the executor
    assert driver.succeeded == 0
    err = capsys.readouterr().err
    assert "split 3 failed on the driver" in err and "cannot read part-3.warc.gz" in err and "on Ray instead" in err


class _HeldTasks(LocalExecutor):
    """A LocalExecutor whose submitted splits count as running until released (a task in flight)."""

    def __init__(self) -> None:
        super().__init__(_work, "run-3")
        self.in_flight: list[_Split] = []

    def room(self, waiting: int = 0) -> bool:
        return True

    def submit(self, split: _Split, payload: str) -> None:
        self.in_flight.append(split)

    def running(self) -> list[_Split]:
        return list(self.in_flight)


def test_while_the_driver_works_no_more_tasks_than_slots_are_in_flight() -> None:
    release = threading.Event()

    def slow(split: _Split, payload: str) -> tuple[int, str, str]:
        release.wait(10)
        return _work(split, payload)

    inner = _HeldTasks()
    driver = DriverWorker([_Split(9)], _payload, slow)
    executor = WithDriverWorker(inner, driver, slots=1)
    assert executor.room(0)  # no task in flight yet
    executor.submit(_Split(0), "first")
    assert not executor.room(0)  # one slot, one task: the rest stays in the queue for the driver
    assert executor.running() == [_Split(9), _Split(0)]  # the driver's split counts as running
    release.set()
    assert driver.join(10)
    assert executor.room(0)  # the driver is done: back to the inner executor's own limit
    executor.close()
    assert driver.succeeded == 1


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
