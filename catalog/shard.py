"""One catalog shard: a RocksDB instance (rocksdict, raw mode) owning a range of slots.

Its column families and their options are listed in :mod:`catalog.column_families`; ``meta`` holds
``count`` (exact number of keys) and ``applied_seq`` (the last journal sequence applied, see
:mod:`catalog.journal`), written in the same atomic batch as the data.

RocksDB allows one writer per directory: opening a shard another process holds raises
:class:`CatalogLockedError`. Never fork after opening a shard.
"""
from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import rocksdict as rd

from catalog import column_families as cfs
from catalog.closing import after_collection
from catalog.errors import CatalogError, CatalogLockedError

_META_COUNT = b"count"
_META_APPLIED = b"applied_seq"
WARM_SEEK_EVERY = 64  # entries per seek of warm_blocks: several seeks land in each ~350-entry block
WARM_HOLD = 16  # seeks of warm_blocks between two releases of the GIL (17 µs a seek on average at 10^8)
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


class Shard:
    """A RocksDB shard opened for reading and writing by this process."""

    def __init__(self, path: Path, cache: rd.Cache, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.cache = cache
        self.options = cfs.table_options(cache)
        access = rd.AccessType.read_only() if read_only else rd.AccessType.read_write()
        try:
            self.db = rd.Rdict(str(path), self.options, column_families=cfs.column_family_options(cache),
                               access_type=access)
        except Exception as exc:  # rocksdict raises a bare Exception with RocksDB's message
            text = str(exc)
            if "lock" in text.lower():
                raise CatalogLockedError(f"catalog shard {path}", f"stop that writer, or query it through the "
                                         f"catalog service instead ({text.strip()})") from exc
            raise CatalogError(f"cannot open catalog shard {path}: {text}") from exc
        self.listing = self.db.get_column_family(cfs.LISTING.name)
        self.marks = self.db.get_column_family(cfs.MARKS.name)
        self.meta = self.db.get_column_family(cfs.META.name)
        # write-batch handles by column-family code (how journal records name them)
        self._handles: dict[int, Any] = {cf.code: self.db.get_column_family_handle(cf.name) for cf in cfs.ALL}
        self.h_meta = self._handles[cfs.META.code]
        self._read_opts = rd.ReadOptions()
        self._read_opts.set_verify_checksums(False)  # block checksums cost ~15% per get; SSTs are verified at ingest

    # -- bookkeeping ---------------------------------------------------------------------------
    def count(self) -> int:
        """Exact number of keys in this shard (maintained atomically with every write)."""
        raw = self.meta.get(_META_COUNT)
        return _I64.unpack(raw)[0] if raw else 0

    def applied_seq(self) -> int:
        raw = self.meta.get(_META_APPLIED)
        return _U64.unpack(raw)[0] if raw else 0

    # -- reads -----------------------------------------------------------------------------------
    def get_many(self, ids: Sequence[bytes]) -> list[bytes | None]:
        """Values for ``ids`` in the same order (None where absent). Sorted input reads fastest."""
        if not ids:
            return []
        return self.db.get(list(ids), read_opt=self._read_opts)

    def get(self, key_id: bytes) -> bytes | None:
        return self.db.get(key_id, read_opt=self._read_opts)

    def mark_of(self, key_id: bytes) -> bytes | None:
        return self.marks.get(key_id)

    def scan_listing(self, lower: bytes, upper: bytes | None, chunk: int = 4096) -> Iterator[bytes]:
        """Listing keys ``k`` with ``lower <= k < upper`` (``upper`` None = to the end), in order.

        Reads in chunks and holds no RocksDB iterator between yields, so an abandoned generator never
        keeps the shard open. Only the first chunk fills the block cache (see :meth:`_listing_chunk`).
        """
        start = lower
        first = True
        while True:
            keys = self._listing_chunk(start, upper, chunk, skip_start=not first)
            yield from keys
            if len(keys) < chunk:
                return
            start, first = keys[-1], False

    def _listing_chunk(self, start: bytes, upper: bytes | None, chunk: int,
                       skip_start: bool) -> list[bytes]:
        """Up to ``chunk`` listing keys from ``start`` (after it when ``skip_start``) below ``upper``.

        ``skip_start`` marks a walk's continuation: such a chunk reads through the block cache but
        does not fill it. A walk over a whole range (an export, ``ls`` of everything, dedup's catalog
        input) reads every listing block once; letting it fill the cache evicts the location blocks
        that point gets need (a 10^8-entry owner's listing is ~6 GB uncompressed: one walk through a
        7 GiB cache would push out most of its ~4.5 GB of location blocks). A walk's first chunk, and
        every page a cursor starts, still fills it, so repeated small ``ls`` pages stay cached.
        """
        ropts = rd.ReadOptions()
        ropts.fill_cache(not skip_start)
        if upper is not None:
            ropts.set_iterate_upper_bound(upper)
        it = self.listing.iter(ropts)
        if start:
            it.seek(start)
        else:  # an empty seek target is mishandled by rocksdict; start at the first key instead
            it.seek_to_first()
        out: list[bytes] = []
        if skip_start and it.valid() and it.key() == start:
            it.next()
        while it.valid() and len(out) < chunk:
            out.append(it.key())
            it.next()
        del it
        return out

    def warm_blocks(self, stop: threading.Event | None = None) -> int:
        """Read every data block of the location index into the block cache, at every level, by seeking
        an iterator to evenly spaced ids: one seek per :data:`WARM_SEEK_EVERY` entries. Ids are uniform
        hashes and a 16 KiB block holds ~350 locations, so every block is reached several times over,
        with ~1/64 of the calls of reading every location (10^8 entries: 1.6M seeks).

        Meant to run beside an owner's calls: it lets go of the GIL every :data:`WARM_HOLD` seeks, so
        a call waits for it at most ~1 ms instead of the interpreter's 5 ms switch interval, and it
        takes a new iterator every 4,096 seeks, so files that compactions replace are not held.
        ``stop``, once set, ends it there. Returns the number of seeks made."""
        seeks = self.count() // WARM_SEEK_EVERY + 1
        step = (1 << 128) // seeks
        done = 0
        while done < seeks and not (stop is not None and stop.is_set()):
            it = self.db.iter(self._read_opts)
            seek = it.seek
            try:
                for i in range(done, min(seeks, done + 4096)):
                    seek((i * step).to_bytes(16, "big"))
                    if i % WARM_HOLD == 0:
                        time.sleep(0)  # lets a waiting thread (an owner's call) take the GIL now
            finally:
                del it, seek  # an iterator keeps the database open: drop it now
            done = min(seeks, done + 4096)
        return done

    def load_filters(self) -> int:
        """Bring the bloom filter block of every location SST file into the block cache (each is read
        by the first get that reaches its file; a scan never reads them): one get per file, of a key
        just after the file's first key, which no 16-byte id equals. Returns the number of probes.

        Measured: after a whole-index scan of the growth bench's 10^8-entry owner, the first 20,000
        gets still read 17 filter blocks of ~2 MB each (34.7 MB) from its files."""
        probes = [f["start_key"] + b"\x00" for f in self.db.live_files() if len(f["start_key"]) == 16]
        # listing files start with a URL entry; one that happens to be 16 bytes long costs a harmless probe
        for key in probes:
            self.db.get(key, read_opt=self._read_opts)
        return len(probes)

    # -- writes ----------------------------------------------------------------------------------
    def write(self, batch: rd.WriteBatch, count_delta: int, seq: int | None) -> None:
        """Apply ``batch`` plus the count/applied-seq bookkeeping atomically (one RocksDB batch)."""
        if count_delta:
            batch.put(_META_COUNT, _I64.pack(self.count() + count_delta), self.h_meta)
        if seq is not None:
            batch.put(_META_APPLIED, _U64.pack(seq), self.h_meta)
        self.db.write(batch)

    def new_batch(self) -> rd.WriteBatch:
        return rd.WriteBatch(raw_mode=True)

    def handle(self, code: int) -> Any:
        """The write-batch handle of the column family with journal ``code``."""
        return self._handles[code]

    def ingest_ssts(self, location_sst: str | None, listing_sst: str | None, count_delta: int,
                    seq: int) -> None:
        """Ingest bulk SST files by moving them into the shard, then record the count and sequence.

        A file that no longer exists was moved in by an earlier attempt (crash recovery) and is
        skipped; ingesting a file that is still there again is harmless (same keys, same values).
        """
        ingest = rd.IngestExternalFileOptions()
        ingest.set_move_files(True)
        if location_sst and os.path.exists(location_sst):
            self.db.ingest_external_file([location_sst], ingest)
        if listing_sst and os.path.exists(listing_sst):
            self.listing.ingest_external_file([listing_sst], ingest)
        self.write(self.new_batch(), count_delta, seq)

    def flush(self) -> None:
        """Persist memtables to SST files (after which the journal can be truncated)."""
        self.db.flush(wait=True)
        for cf in (self.listing, self.marks, self.meta):
            cf.flush(wait=True)

    def disk_bytes(self) -> dict[str, int]:
        """Bytes of live SST files per column family, plus WAL, manifest and logs under 'other'."""
        sizes: dict[str, int] = {}
        for name, cf in ((cfs.LOCATIONS.name, self.db), (cfs.LISTING.name, self.listing),
                         (cfs.MARKS.name, self.marks), (cfs.META.name, self.meta)):
            sizes[name] = int(cf.property_int_value("rocksdb.total-sst-files-size") or 0)
        total = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        sizes["other"] = max(0, total - sum(sizes.values()))
        return sizes

    def close(self) -> None:
        """Close the shard and release its RocksDB lock.

        Column-family objects, handles and live iterators keep the database open, so every reference
        is dropped and collected before closing; otherwise a reopen in this process finds the lock held.
        """
        self.listing = self.marks = self.meta = None  # type: ignore[assignment]
        self._handles = {}
        self.h_meta = None
        db, self.db = self.db, None  # type: ignore[assignment]
        # a read-only instance holds no lock: skip the (~50 ms) collections; several shards closed in
        # one closing_together block share two collections
        after_collection(db.close, collect=not self.read_only)


def shard_dir(catalog_dir: Path, index: int) -> Path:
    return catalog_dir / f"shard-{index:04d}"
