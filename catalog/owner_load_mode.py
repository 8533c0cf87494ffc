"""While registration batches keep arriving, an owner lets its indexes gather more level-0 files before
compacting them, and goes back to its rest settings once the batches stop (issue 10).

Each SST batch ingests one location file and one listing file that overlap the whole index (ids are
hashes; SURT order spreads a batch over the listing), so every compaction rewrites the whole index:
a load of ``b`` ids per batch with a trigger of ``T`` level-0 files rewrites ~n²/(2Tb) entries to reach
n, and that background work was the largest part of an owner's CPU per registered entry. Between
batches both triggers are :data:`LOAD_TRIGGER` (RocksDB's default is 4):

- location index, 20 batches of 125k ids (the cluster bench's share of one owner at 10^7): at 16 it
  compacted 16 files during the load and 4 + those after it (4.5M entries rewritten, ~0.55 µs each);
  at 32 it compacts the 20 files once after the load (2.5M).
- RocksDB slows writes (ingestions too) from ``level0_slowdown_writes_trigger`` files and stops them
  at ``level0_stop_writes_trigger`` (defaults 20 and 36): during a load they are raised above the
  trigger, so a load is never throttled by files it means to gather.

:data:`IDLE_SECONDS` after the last batch every option goes back to its rest value, and RocksDB merges
what gathered at once (it re-plans compactions when an option changes), so batched lookups after a load
meet the usual few sorted runs again. During a load, lookups meet up to :data:`LOAD_TRIGGER` level-0
files (multi-get skips most by their bloom filters; registration's existence checks read only ids the
in-memory filter may hold, :mod:`catalog.owner_key_filter`).

The triggers are tuning options, not part of the files' format; a reopened owner starts at rest.
"""
from __future__ import annotations

import threading
from typing import Any

LOAD_TRIGGER = 32
REST_TRIGGER = 4  # RocksDB's default, what the catalog's table options leave
# a pause this long ends a load: 2 s before, which a loaded machine's workers (each preparing its next
# batch on a share of a core) exceeded between batches, so owners merged their files mid-load
IDLE_SECONDS = 5.0
_OPTION = "level0_file_num_compaction_trigger"
# RocksDB's defaults of the write-throttling triggers, and their values during a load (above LOAD_TRIGGER)
REST_THROTTLE = {"level0_slowdown_writes_trigger": "20", "level0_stop_writes_trigger": "36"}
LOAD_THROTTLE = {"level0_slowdown_writes_trigger": str(2 * LOAD_TRIGGER),
                 "level0_stop_writes_trigger": str(3 * LOAD_TRIGGER)}


def load_options() -> dict[str, str]:
    return {_OPTION: str(LOAD_TRIGGER), **LOAD_THROTTLE}


class LoadMode:
    """The compaction triggers of one owner store's indexes (module docstring): ``db`` (the location
    index, at rest :data:`REST_TRIGGER`) and ``others``: (column family, its rest trigger) pairs."""

    def __init__(self, db: Any, others: tuple[tuple[Any, int], ...] = ()) -> None:
        self._db = db
        self._indexes: list[tuple[Any, int]] = [(db, REST_TRIGGER), *others]
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._loading = False
        self._closed = False

    def batch_arrived(self) -> None:
        """An SST batch is about to be ingested: load mode, and rest again :data:`IDLE_SECONDS` after
        the last such call."""
        with self._lock:
            if self._closed:
                return
            if not self._loading:
                for index, _ in self._indexes:
                    index.set_options(load_options())
                self._loading = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(IDLE_SECONDS, self._rest)
            self._timer.daemon = True
            self._timer.start()

    def _rest(self) -> None:
        with self._lock:
            if self._loading and not self._closed:
                for index, rest in self._indexes:
                    index.set_options({_OPTION: str(rest), **REST_THROTTLE})
                self._loading = False
            self._timer = None

    @property
    def loading(self) -> bool:
        return self._loading

    def close(self) -> None:
        """Stop the timer (before the database closes) and drop the column families: a column-family
        object kept alive keeps the database open (catalog.shard.Shard.close). The options are not
        persisted by haybale."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._db = None
            self._indexes = []
