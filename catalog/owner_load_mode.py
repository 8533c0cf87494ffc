"""While registration batches keep arriving, an owner lets its location index gather more level-0 files
before compacting them, and goes back to RocksDB's default once the batches stop (issue 10).

Each SST batch ingests one location file that overlaps the whole index (ids are hashes), so every
compaction rewrites the whole index; with RocksDB's default trigger (4 level-0 files) a load of ``b``
ids per batch rewrites ~n²/(8b) entries to reach n, and that background work was the largest part of an
owner's CPU per registered entry. Between batches the trigger is :data:`LOAD_TRIGGER`: 4x fewer
merges during a load. :data:`IDLE_SECONDS` after the last batch it goes back to :data:`REST_TRIGGER`,
and RocksDB merges what gathered at once (it re-plans compactions when an option changes), so batched
lookups after a load meet the usual few sorted runs again. During a load, lookups meet up to
:data:`LOAD_TRIGGER` level-0 files (multi-get skips most by their bloom filters).

The trigger is a tuning option, not part of the files' format; a reopened owner starts at the rest value.
"""
from __future__ import annotations

import threading
from typing import Any

LOAD_TRIGGER = 16
REST_TRIGGER = 4  # RocksDB's default, what the catalog's table options leave
IDLE_SECONDS = 2.0
_OPTION = "level0_file_num_compaction_trigger"


class LoadMode:
    """The location index's compaction trigger of one owner store (module docstring)."""

    def __init__(self, db: Any) -> None:
        self._db = db
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
                self._db.set_options({_OPTION: str(LOAD_TRIGGER)})
                self._loading = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(IDLE_SECONDS, self._rest)
            self._timer.daemon = True
            self._timer.start()

    def _rest(self) -> None:
        with self._lock:
            if self._loading and not self._closed:
                self._db.set_options({_OPTION: str(REST_TRIGGER)})
                self._loading = False
            self._timer = None

    @property
    def loading(self) -> bool:
        return self._loading

    def close(self) -> None:
        """Stop the timer (before the database closes); the option is not persisted by haybale."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
