"""One owner's store: an embedded :class:`~catalog.catalog.Catalog` directory holding only the slots
the meta record gives that owner (issue 10, section 0).

The shard, journal and SST code run inside unchanged: an owner directory is a one-shard catalog.
What this layer adds is the owner's contract:

- Every call carries the caller's epoch; a call with another epoch than the owner's raises
  :class:`~catalog.catalog_meta.WrongEpochError` (the caller reloads the meta record and routes
  again). Ids outside the owner's slots are refused the same way: they were routed by a stale map.
- Writes are idempotent by key and digest (the catalog's rule), durable when the call returns.
- Owner 0 also keeps the catalog's volume table (volume number -> URL and metadata): numbers are
  allocated in one place, once per sealed volume (not per record).

Used in-process (a single process opens every owner: ``--no-ray``, tests, benchmarks, read-only
queries) and inside the owner actors (:mod:`catalog.owner_actor`).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catalog.bulk import BulkEntries, ShardBatch, register_bulk
from catalog.catalog import Catalog
from catalog.catalog_meta import CatalogMeta, WrongEpochError, slots_of_ids
from catalog.errors import CatalogError
from catalog.location import LOCATION_SIZE, Location
from catalog.owner_edit_log import EditLog
from catalog.owner_key_filter import KnownIds, prefixes_of
from catalog.owner_load_mode import LoadMode
from catalog.owner_reads import multi_get_sorted, seek_sorted, single_sorted_run
from catalog.owner_warm import CacheWarmer
from catalog.process_memory import process_memory

BULK_MIN = 20_000  # a batch at least this big goes in as SST files; smaller ones through the journal
# Level-0 files of the listing index before a compaction merges them (RocksDB's default: 4). Every
# registration batch ingests one listing SST overlapping the whole index (SURT order spreads a batch
# over it), so each compaction rewrites the whole index: 16 instead of 4 cut an owner's background
# CPU during a 2.5M-entry load from 1.50 to 1.20 us/entry (20 batches; issue 10). The listing index is
# only scanned (ls, exports), where more runs cost a merge, never read by point like the location
# index, which keeps RocksDB's default so batched lookups meet few runs.
LISTING_L0_COMPACTION_TRIGGER = 16


class OwnerStore:
    """Owner ``owner`` of the catalog described by ``meta``, stored in ``directory``."""

    def __init__(self, directory: Path, owner: int, meta: CatalogMeta, *, read_only: bool = False,
                 create: bool = True, cache_bytes: int = 256 << 20, durable: bool = True,
                 root: str | None = None, warm: bool = False) -> None:
        self.directory = Path(directory)
        self.root = root  # where to reload the meta record from when a request is at a newer epoch
        self.owner = owner
        self.read_only = read_only
        self.cache_bytes = cache_bytes
        self.catalog = Catalog.open(self.directory, num_shards=1, create=create and not read_only,
                                    read_only=read_only, cache_bytes=cache_bytes, durable=durable,
                                    parallel_readers=0)
        self.set_meta(meta)
        if not read_only:  # a tuning option, not part of the files' format (not persisted by haybale)
            self.catalog.shards[0].listing.set_options(
                {"level0_file_num_compaction_trigger": str(LISTING_L0_COMPACTION_TRIGGER)})
        # marks and deletes go to the root too on a remote root, so a restore can replay them
        self.edit_log = EditLog(root, meta.catalog_id, owner) if EditLog.wanted(root) and not read_only else None
        # the ids the location index may hold (catalog.owner_key_filter), kept in sync by every write
        # method below, which hold _writes from the filter's check to its update
        self._known = KnownIds()
        self._writes = threading.RLock()
        # fewer compactions of both indexes while SST batches keep coming (catalog.owner_load_mode)
        self._load_mode = None if read_only else LoadMode(
            self.catalog.shards[0].db, ((self.catalog.shards[0].listing, LISTING_L0_COMPACTION_TRIGGER),))
        self._warming = None if read_only else _warm_imports()
        # the location index read into the block cache in the background (catalog.owner_warm)
        self._cache_warmer = CacheWarmer(self.catalog) if warm else None

    def set_meta(self, meta: CatalogMeta) -> None:
        """Adopt a (newer) meta record: the epoch and the slots this owner serves."""
        self.meta = meta
        self.epoch = meta.epoch
        self._mine = meta.slots_of(self.owner)

    # -- checks --------------------------------------------------------------------------------
    def check(self, epoch: int, ids: np.ndarray | None = None) -> None:
        """Raise :class:`WrongEpochError` if ``epoch`` is not the owner's or an id is not its slot's."""
        if epoch > self.epoch and self.root is not None:
            from catalog.catalog_meta import load_meta

            fresh = load_meta(self.root)
            if fresh is not None and fresh.epoch > self.epoch:
                self.set_meta(fresh)
        if epoch != self.epoch:
            raise WrongEpochError(f"owner {self.owner} of catalog {self.meta.catalog_id} is at epoch {self.epoch}, "
                                  f"the request at {epoch}: reload the meta record and route again")
        if ids is not None and len(ids) and not self._mine[slots_of_ids(ids)].all():
            raise WrongEpochError(f"owner {self.owner} (epoch {self.epoch}) got keys of slots it does not serve: "
                                  "reload the meta record and route again")

    # -- reads ---------------------------------------------------------------------------------
    def lookup(self, ids: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(found, packed locations) for an (n, 16) uint8 array of ids (any order; answers in that
        order). Reads in id order (RocksDB's multi-get is fastest on sorted keys); the sort runs here,
        in each owner at once, not in the client."""
        ids = np.ascontiguousarray(ids, dtype=np.uint8).reshape(-1, 16)
        self.check(epoch, ids)
        n = len(ids)
        found = np.zeros(n, bool)
        values = np.zeros((n, LOCATION_SIZE), np.uint8)
        if not n:
            return found, values
        order = np.argsort(ids[:, :8].copy().view(">u8").ravel())
        shard = self.catalog.shards[0]
        read = seek_sorted if single_sorted_run(shard) else multi_get_sorted
        hit, got = read(shard, ids[order].tobytes())
        found[order] = hit
        if hit.any():
            values[order[hit]] = np.frombuffer(got, np.uint8).reshape(-1, LOCATION_SIZE)
        return found, values

    def lookup_for_write(self, ids: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`lookup` for a caller that decides a write on the answer and holds :meth:`writes_held`
        until it wrote: ids the in-memory filter proves absent (:mod:`catalog.owner_key_filter`) are
        answered without reading RocksDB."""
        ids = np.ascontiguousarray(ids, dtype=np.uint8).reshape(-1, 16)
        self.check(epoch, ids)
        if not len(ids) or self.read_only or not self._known.ready(self.catalog.shards[0], len(ids)):
            return self.lookup(ids, epoch)
        prefixes = prefixes_of(ids)
        order = np.argsort(prefixes, kind="stable")
        rows = order[self._known.maybe_present(prefixes[order])]
        found = np.zeros(len(ids), bool)
        values = np.zeros((len(ids), LOCATION_SIZE), np.uint8)
        if len(rows):
            found[rows], values[rows] = self.lookup(ids[rows], epoch)
        return found, values

    def writes_held(self) -> Any:
        """The lock every write method of this store holds (re-entrant): hold it from a check to the
        write it decides, so the in-memory filter's answers stay true in between."""
        return self._writes

    def mark_of(self, kid: bytes, epoch: int) -> bytes | None:
        self.check(epoch, np.frombuffer(kid, np.uint8).reshape(1, 16))
        return self.catalog.shards[0].mark_of(kid)

    def listing_chunk(self, start: bytes, upper: bytes | None, chunk: int, skip_start: bool) -> list[bytes]:
        """Up to ``chunk`` listing entries ``>= start`` (``> start`` with ``skip_start``) and ``< upper``."""
        return self.catalog.shards[0]._listing_chunk(start, upper, chunk, skip_start)

    def export_pieces(self, epoch: int, *args: Any) -> Any:
        """Write this owner's keys in a listing range as pieces (:func:`catalog.owner_export.export_pieces`)."""
        from catalog.owner_export import export_pieces

        self.check(epoch)
        return export_pieces(self, *args)

    def read_shape(self) -> dict[str, Any]:
        """The location index's shape as batched reads meet it (:func:`catalog.owner_reads.read_shape`)."""
        from catalog.owner_reads import read_shape

        return read_shape(self.catalog.shards[0])

    def compact_index(self, epoch: int) -> dict[str, Any]:
        """Compact this owner's location index into one sorted run (the memtable flushed, level-0 files
        merged into the bottom level), so batched lookups read it by seeks (:mod:`catalog.owner_reads`).
        It rewrites the whole index: for when a load is done, not between batches. Returns the read
        shape after it. Contents and durability are unchanged (a compaction only rewrites files)."""
        if self.read_only:
            raise CatalogError(f"owner {self.owner} at {self.directory} is open read-only: compact it from its writer")
        self.check(epoch)
        db = self.catalog.shards[0].db
        db.flush(wait=True)
        db.compact_range(None, None)
        return self.read_shape()

    def stats(self) -> dict[str, Any]:
        shard = self.catalog.shards[0]
        return {"owner": self.owner, "records": shard.count(), "disk_bytes": shard.disk_bytes(),
                "directory": str(self.directory), "epoch": self.epoch,
                "cache_bytes": self.cache_bytes}

    def memory(self) -> dict[str, Any]:
        """This owner's block cache (size, bytes it holds) and its process's resident and huge-page
        bytes (:mod:`catalog.process_memory`): figures that move from call to call, so not in
        :meth:`stats`, whose answer a served and an embedded catalog must give alike."""
        return {"owner": self.owner, "cache_bytes": self.cache_bytes,
                "cache_used_bytes": self.catalog.cache.get_usage(), "process": process_memory(),
                "cache_warm": self._cache_warmer.status() if self._cache_warmer else {"state": "off"}}

    # -- writes --------------------------------------------------------------------------------
    def register(self, entries: Sequence[tuple[str, bytes]], epoch: int) -> tuple[int, int, int]:
        """Register (canonical key, packed location) pairs; (added, updated, unchanged)."""
        ids = _ids_of(k for k, _ in entries) if entries else None
        self.check(epoch, ids)
        with self._writes:
            shard = self.catalog.shards[0]
            in_sync = self._known.in_sync(shard)
            r = self.catalog.register_many((k, Location.unpack(v)) for k, v in entries)
            self._known.added(shard, prefixes_of(ids) if ids is not None else np.zeros(0, np.uint64),
                              was_in_sync=in_sync)
        if self.edit_log is not None and ids is not None:
            self.edit_log.log_registrations(self.catalog, ids, lambda i: entries[i][0])
        return r.added, r.updated, r.unchanged

    def register_batch(self, batch: ShardBatch, epoch: int) -> tuple[int, int, int]:
        """Register a prepared, sorted batch (:func:`catalog.bulk.prepare_bulk` grouped by owner): SST
        ingest when it is big, the journal when it is small."""
        ids = np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)
        self.check(epoch, ids)
        from catalog.listing import key_of_listing_entry

        if len(batch) >= BULK_MIN:
            r = self.register_batch_sst(batch)
        else:
            with self._writes:
                shard = self.catalog.shards[0]
                in_sync = self._known.in_sync(shard)
                locs = batch.locations
                r = self.catalog.register_many(
                    (key_of_listing_entry(batch.listing_at(i)), Location.unpack(locs[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE]))
                    for i in range(len(batch)))
                self._known.added(shard, prefixes_of(ids), was_in_sync=in_sync)
        if self.edit_log is not None:  # keys registered again after a recent delete: catalog.owner_edit_log
            self.edit_log.log_registrations(self.catalog, ids, lambda i: key_of_listing_entry(batch.listing_at(i)))
        return r.added, r.updated, r.unchanged

    def register_batch_sst(self, batch: ShardBatch) -> Any:
        """Write a prepared, sorted batch as SST files (the caller checked the epoch and the ids); the
        existence checks read RocksDB only for ids the in-memory filter may hold
        (:mod:`catalog.owner_key_filter`). Returns the catalog's ``RegisterResult``."""
        with self._writes:
            shard = self.catalog.shards[0]
            in_sync = self._known.ready(shard, len(batch))
            if self._load_mode is not None:
                self._load_mode.batch_arrived()
            self._known.take_checked()  # nothing noted before this batch counts
            r = register_bulk(self.catalog, BulkEntries({0: batch}), workers=1,
                              known={0: self._known} if in_sync else None)
            # the existence check noted this batch's distinct prefixes, sorted (none when the shard was
            # empty: no check ran)
            checked = self._known.take_checked()
            self._known.added(shard, checked if checked is not None else
                              prefixes_of(np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)), was_in_sync=in_sync)
        return r

    def register_if_unchanged(self, entries: Sequence[tuple[str, bytes, bytes | None]], epoch: int) -> Any:
        """Write where the stored location is still the one the writer saw (:mod:`catalog.owner_captures`)."""
        from catalog.owner_captures import register_if_unchanged

        return register_if_unchanged(self, entries, epoch)

    def register_batch_if_absent(self, batch: ShardBatch, epoch: int) -> Any:
        """Write the batch's entries whose ids are absent; hand back the others (:mod:`catalog.owner_new_captures`)."""
        from catalog.owner_new_captures import register_batch_if_absent

        return register_batch_if_absent(self, batch, epoch)

    def mark_many(self, rows: Sequence[tuple[str, str, str]], epoch: int) -> int:
        self.check(epoch, _ids_of(k for k, _, _ in rows) if rows else None)
        with self._writes:  # adds no id: the filter stays in sync
            in_sync = self._known.in_sync(self.catalog.shards[0])
            try:
                # logged on the root after the catalog's checks, before it writes: see catalog.owner_edit_log
                return self.catalog.mark_many(rows, self.edit_log.log_marks if self.edit_log is not None else None)
            finally:
                self._known.unchanged_ids(self.catalog.shards[0], was_in_sync=in_sync)

    def delete_many(self, keys: Sequence[str], epoch: int) -> int:
        self.check(epoch, _ids_of(keys) if keys else None)
        with self._writes:  # a deleted id's prefix may stay in the filter: it then costs one read
            in_sync = self._known.in_sync(self.catalog.shards[0])
            try:
                return self.catalog.delete_many(keys, self.edit_log.log_deletes if self.edit_log is not None else None)
            finally:
                self._known.unchanged_ids(self.catalog.shards[0], was_in_sync=in_sync)

    def checkpoint(self) -> None:
        self.catalog.checkpoint()

    # -- the volume table (owner 0) ------------------------------------------------------------
    def volume_call(self, method: str, *args: Any) -> Any:
        if self.owner != 0:
            raise CatalogError(f"owner {self.owner} does not keep the volume table (owner 0 does)")
        if method == "rows":
            return list(self.catalog.volumes)
        if method == "next_number":
            return self.catalog.volumes.next_number()
        if method not in ("add", "update", "get", "number_of"):
            raise CatalogError(f"unknown volume-table call {method!r}")
        result = getattr(self.catalog.volumes, method)(*args)
        if method in ("add", "update") and self.root is not None:
            from catalog.owner_checkpoint import log_volume_row_of

            # the root keeps every row too, so a restored owner 0 gets back rows newer than its checkpoint
            log_volume_row_of(self.root, self.meta.catalog_id, self.catalog.volumes,
                              result if method == "add" else args[0])
        return result

    def close(self) -> None:
        try:
            if self._cache_warmer is not None:  # its iterators must be gone before the database closes
                self._cache_warmer.stop()
            if self._warming is not None:  # no import left running when the process goes on to exit
                self._warming.join()
            if self._load_mode is not None:
                self._load_mode.close()
        finally:  # the catalog closes (and releases its lock) whatever failed above
            self.catalog.close()


def _warm_imports() -> threading.Thread:
    """Import what the first registration batch needs (pyarrow.compute alone takes ~1 s of CPU) on a
    background thread now, so a writable owner's first batch does not wait for it; read-only opens
    (queries answering in well under a second) never pay it."""
    def run() -> None:
        import pyarrow.compute  # noqa: F401

        import catalog.bulk_prepare  # noqa: F401
    thread = threading.Thread(target=run, name="owner-warm-imports", daemon=True)
    thread.start()
    return thread


def _ids_of(keys: Any) -> np.ndarray:
    from catalog.keys import key_id

    raw = b"".join(key_id(k) for k in keys)
    return np.frombuffer(raw, np.uint8).reshape(-1, 16)
