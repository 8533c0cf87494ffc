"""An owner settles its location index by itself once writes stop: compacted into one sorted run.

A load leaves an owner's location index in several sorted runs (level-0 files from SST ingests and
memtable flushes beside the bottom level; RocksDB compacts level 0 only from 4 files on, so up to 3
stay there for good). Batched lookups must then multi-get every run; one sorted run is read by seeks
at about twice the rate (:mod:`catalog.owner_reads`; measured at 10^7 entries on 4 owners: 585,348
keys/s at rest against 1,173,032 after compacting, which took 1.84 s). ``haybale catalog compact``
does it on demand; this does it without anyone asking, once an owner has had no write for
``HAYBALE_OWNER_SETTLE_SECONDS`` (default 30; 0 = never by itself).

Contract:
- a settle runs as an ordinary call of the owner actor (a thread only *asks* for it through the
  actor's own handle), so it is serialized with writes and checkpoints like any call, and an owner
  that is written to keeps being written to: the settle re-checks the idle time when its turn comes;
- it runs at most once per burst of writes, and not at all when the index is already one sorted run
  or the owner is open read-only;
- contents and durability are unchanged (a compaction only rewrites files). The cost: it rewrites the
  owner's whole location index, so on a remote root the next checkpoint uploads it again.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

SETTLE_ENV = "HAYBALE_OWNER_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 30.0


def settle_seconds() -> float:
    """Idle seconds after the last write before an owner settles (0: never by itself)."""
    raw = os.environ.get(SETTLE_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_SETTLE_SECONDS
    except ValueError:
        print(f"{SETTLE_ENV}={raw!r} is not a number of seconds: using {DEFAULT_SETTLE_SECONDS:.0f}; "
              "set it to a number (0 turns settling off)", file=sys.stderr)
        return DEFAULT_SETTLE_SECONDS
    return max(0.0, value)


class SettleState:
    """When an owner last wrote, and whether it has settled since (one per owner actor)."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.last_write = clock()
        self.unsettled = False

    def wrote(self) -> None:
        """A write call was served: the index may hold new sorted runs."""
        self.last_write = self.clock()
        self.unsettled = True

    def due(self) -> bool:
        """True if writes happened and none for ``idle_seconds``."""
        return self.idle_seconds > 0 and self.unsettled and self.clock() - self.last_write >= self.idle_seconds

    def settle(self, store: Any) -> dict[str, Any] | None:
        """Compact ``store``'s location index if due and not one sorted run already; the read shape
        after it, or None if nothing was done."""
        if not self.due() or store.read_only:
            return None
        self.unsettled = False
        if store.read_shape().get("seeks"):
            return None
        started = time.perf_counter()
        shape = store.compact_index(store.epoch)
        return {**shape, "settle_seconds": round(time.perf_counter() - started, 3)}


def start_settler(state: SettleState, ask: Callable[[], Any]) -> threading.Thread | None:
    """A daemon thread that calls ``ask()`` (which must run the settle as an actor call and wait for it)
    whenever ``state`` is due; None when settling is off."""
    if state.idle_seconds <= 0:
        return None

    def loop() -> None:
        poll = min(state.idle_seconds, 5.0)
        while True:
            time.sleep(poll)
            if not state.due():
                continue
            try:
                ask()
            except Exception as exc:  # noqa: BLE001 - a failed settle leaves the index as it was; say so
                print(f"owner settle failed (the index stays as it is; `haybale catalog compact` "
                      f"does the same on demand): {exc!r}", file=sys.stderr)
                time.sleep(max(poll, 30.0))

    thread = threading.Thread(target=loop, name="owner-settle", daemon=True)
    thread.start()
    return thread
