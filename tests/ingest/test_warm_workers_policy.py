"""WarmWorkerKeeper's policy: top up job-less workers only while no command uses the head, after a
settle time, then at most once per recheck period; any failure to ask the raylet turns it off with
one log line. The raylet here is a recording stand-in (the real one: tests/cluster/test_warm_drivers.py)."""
from __future__ import annotations

import pytest

from ingest.warm_workers import WarmWorkerKeeper, warm_size


class Raylet:
    def __init__(self, jobless: int) -> None:
        self.count = jobless
        self.asked: list[int] = []

    def jobless(self) -> int:
        return self.count

    def prestart(self, count: int) -> None:
        self.asked.append(count)
        self.count += count


def keeper(raylet: Raylet, size: int = 2) -> tuple[WarmWorkerKeeper, list[str]]:
    log: list[str] = []
    return WarmWorkerKeeper(size, lambda: raylet, log.append, settle=1.0, recheck=60.0), log


def test_it_tops_up_once_idle_for_the_settle_time_and_never_while_busy() -> None:
    raylet = Raylet(jobless=0)
    k, log = keeper(raylet)
    k.tick(busy=True, now=0.0)
    k.tick(busy=False, now=10.0)  # idle from now: waits for the settle time
    assert raylet.asked == []
    k.tick(busy=False, now=10.5)
    assert raylet.asked == []
    k.tick(busy=False, now=11.0)
    assert raylet.asked == [2] and k.started == 2 and len(log) == 1
    raylet.count = 0  # a job took both
    k.tick(busy=True, now=12.0)
    k.tick(busy=True, now=100.0)
    assert raylet.asked == [2]
    k.tick(busy=False, now=101.0)
    k.tick(busy=False, now=102.0)
    assert raylet.asked == [2, 2]


def test_it_starts_only_the_missing_ones_and_rechecks_after_the_period() -> None:
    raylet = Raylet(jobless=1)
    k, _ = keeper(raylet, size=3)
    k.tick(busy=False, now=0.0)
    k.tick(busy=False, now=1.0)
    assert raylet.asked == [2]
    raylet.count = 1  # the raylet ended some (keep-alive expired)
    k.tick(busy=False, now=30.0)
    assert raylet.asked == [2]
    k.tick(busy=False, now=61.0)
    assert raylet.asked == [2, 2]


def test_a_failing_raylet_turns_it_off_with_one_line() -> None:
    class Broken(Raylet):
        def jobless(self) -> int:
            raise OSError("no such RPC")
    raylet = Broken(0)
    k, log = keeper(raylet)
    k.tick(busy=False, now=0.0)
    k.tick(busy=False, now=1.0)
    assert k.off and len(log) == 1 and "warm Ray workers off" in log[0] and "no such RPC" in log[0]
    k.tick(busy=False, now=100.0)
    assert len(log) == 1


def test_size_zero_is_off_and_the_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAYBALE_WARM_WORKERS", raising=False)
    assert warm_size(4) == 4
    monkeypatch.setenv("HAYBALE_WARM_WORKERS", "0")
    assert warm_size(4) == 0
    assert WarmWorkerKeeper(0, lambda: None).off
    monkeypatch.setenv("HAYBALE_WARM_WORKERS", "lots")
    with pytest.raises(ValueError, match="HAYBALE_WARM_WORKERS='lots' is not a whole number"):
        warm_size(4)
