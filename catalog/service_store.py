"""A read-only view of a deployment root that follows a live writer: what the catalog service reads.

The service must not take the catalog's write lock (ingest jobs keep registering into the same root),
so it opens the root's :class:`~catalog.store.Store` with ``read_only=True``. A read-only RocksDB
instance is a snapshot as of opening (it replays the writer's WAL then, so acknowledged writes are in
it), so to see later registrations :class:`RefreshingStore` reopens the store when the catalog's files
changed: a cheap *fingerprint* (names, sizes and mtimes of the WAL, SST, MANIFEST and journal files)
is compared at most every ``refresh_seconds`` by the service, and on demand (:meth:`refresh`).

Guarantees:

- Every read runs on one consistent snapshot; a reopen never closes a snapshot a read still uses
  (snapshots are leased; a replaced snapshot is closed when its last lease ends).
- A write the writer acknowledged before :meth:`refresh` began is visible to reads that start after
  :meth:`refresh` returns.
- If a reopen fails (e.g. the writer is compacting and removed a file mid-open), the old snapshot keeps
  serving and the error is kept in :meth:`status` until a later reopen succeeds.
- A read that fails because the writer deleted an SST file out from under an old snapshot (RocksDB
  reports an ``IO error``) is retried once on a fresh snapshot.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from catalog.errors import ServiceUnavailableError
from catalog.store import Store

T = TypeVar("T")
Fingerprint = tuple[tuple[str, str, int, int], ...]

# RocksDB files whose change means the data changed. LOG*, OPTIONS-*, LOCK, IDENTITY and
# rocksdict-config.json are left out: opening a database (even read-only) may rewrite them.
_DATA_SUFFIXES = (".log", ".sst")
_DATA_NAMES = ("CURRENT", "manifest.json")


def _is_data_file(name: str) -> bool:
    return name.endswith(_DATA_SUFFIXES) or name.startswith("MANIFEST-") or name in _DATA_NAMES


def catalog_fingerprint(catalog_dir: Path) -> Fingerprint:
    """(directory, file, size, mtime_ns) of every data file of the catalog: its owner directories and
    two levels below them (shards, the volume table, staging). Any acknowledged write changes it."""
    rows: list[tuple[str, str, int, int]] = []
    if not catalog_dir.is_dir():
        return ()
    dirs = [catalog_dir]
    level = [catalog_dir]
    for _ in range(2):
        below: list[Path] = []
        for d in level:
            try:
                with os.scandir(d) as it:
                    below += [Path(e.path) for e in it if e.is_dir()]
            except FileNotFoundError:  # removed by the writer while we looked
                continue
        dirs += below
        level = below
    for d in dirs:
        try:
            with os.scandir(d) as it:
                for e in it:
                    if _is_data_file(e.name):
                        try:
                            st = e.stat()
                        except FileNotFoundError:  # removed by the writer while we looked
                            continue
                        rows.append((str(d.relative_to(catalog_dir)), e.name, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            continue
    return tuple(sorted(rows))


@dataclass
class Snapshot:
    """One opened read-only store and the bookkeeping that decides when it may be closed."""

    store: Store
    generation: int
    opened_at: float
    fingerprint: Fingerprint
    leases: int = 0
    retired: bool = False
    closed: bool = field(default=False, repr=False)


def _is_vanished_file_error(exc: BaseException) -> bool:
    """rocksdict raises a bare ``Exception`` carrying RocksDB's status text; an old read-only snapshot
    whose SST file the writer compacted away reports an IO error naming the missing file."""
    if type(exc) is not Exception:
        return False
    text = str(exc)
    return "IO error" in text or "No such file" in text


class RefreshingStore:
    """The read-only :class:`Store` of ``root``, reopened when the writer changed the catalog.

    ``opener`` builds a store (default: ``Store(root, catalog_dir=..., read_only=True, create=False)``);
    opening raises :class:`~catalog.errors.CatalogNotFoundError` when the root has no catalog.
    Thread-safe: reads, refreshes and close may come from any thread.
    """

    def __init__(self, root: str | None, catalog_dir: str | None = None, *,
                 opener: Callable[[], Store] | None = None) -> None:
        self._opener = opener or (lambda: Store(root, catalog_dir=catalog_dir, read_only=True, create=False))
        self._state = threading.Lock()
        self._reopen = threading.Lock()  # one reopen at a time
        self._generation = 0
        self._shut = False
        self.last_error: str | None = None
        self.last_check = time.monotonic()
        self._current = self._open()
        self.catalog_dir = self._current.store.catalog.directory
        self.root = self._current.store.root
        self.volumes_url = self._current.store.volumes_url

    def _open(self) -> Snapshot:
        # fingerprint first: a write landing during the open makes the next check reopen again
        # rather than be missed
        directory = getattr(self, "catalog_dir", None)
        before = catalog_fingerprint(directory) if directory is not None else ()
        store = self._opener()
        if directory is None:
            before = catalog_fingerprint(store.catalog.directory)
        self._generation += 1
        return Snapshot(store, self._generation, time.time(), before)

    # -- reading ---------------------------------------------------------------------------------
    @contextmanager
    def lease(self) -> Iterator[Store]:
        """The current store, kept open until the ``with`` block ends (even if a reopen replaces it)."""
        with self._state:
            if self._shut:
                raise ServiceUnavailableError("the catalog service is shutting down: retry against a running service", 503)
            snap = self._current
            snap.leases += 1
        try:
            yield snap.store
        finally:
            self._release(snap)

    def _release(self, snap: Snapshot) -> None:
        with self._state:
            snap.leases -= 1
            close_now = snap.retired and snap.leases == 0 and not snap.closed
            if close_now:
                snap.closed = True
        if close_now:
            snap.store.close()

    def run(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on the current snapshot; retried once on a fresh snapshot if the writer
        removed a file the old snapshot needed. Blocking: call it from a worker thread."""
        try:
            with self.lease() as store:
                return fn(store)
        except Exception as exc:
            if not _is_vanished_file_error(exc):
                raise
        self.refresh(force=True)
        with self.lease() as store:
            return fn(store)

    # -- following the writer ---------------------------------------------------------------------
    def changed(self) -> bool:
        """True if the catalog's data files differ from when the current snapshot was opened."""
        return catalog_fingerprint(self.catalog_dir) != self._current.fingerprint

    def refresh(self, *, force: bool = False) -> bool:
        """Reopen the store if the catalog changed since the current snapshot (always, if ``force``).

        Returns True if a new snapshot now serves. On failure the old snapshot keeps serving, the
        error is kept in :attr:`last_error` and re-raised. Blocking (tens of ms to open the shards).
        """
        with self._reopen:
            self.last_check = time.monotonic()
            if self._shut:
                return False
            if not force and not self.changed():
                return False
            try:
                fresh = self._open()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.last_error = None
            with self._state:
                old, self._current = self._current, fresh
            self._retire(old)
            return True

    def _retire(self, snap: Snapshot) -> None:
        """Mark ``snap`` replaced and close it now if no read holds it (else its last lease does)."""
        with self._state:
            snap.retired = True
            close_now = snap.leases == 0 and not snap.closed
            if close_now:
                snap.closed = True
        if close_now:
            snap.store.close()

    def status(self) -> dict[str, Any]:
        snap = self._current
        return {
            "generation": snap.generation,
            "snapshot_opened_at": snap.opened_at,
            "snapshot_age_seconds": round(time.time() - snap.opened_at, 3),
            "last_refresh_error": self.last_error,
        }

    def close(self) -> None:
        """Close the current snapshot (waits for nothing: call it after in-flight reads finished)."""
        with self._reopen:
            with self._state:
                self._shut = True
                snap = self._current
            self._retire(snap)
