"""The embedded catalog: sharded RocksDB mapping every key to its location.

Open one with :meth:`Catalog.open` (``root/catalog`` for a local deployment root). One process at a
time may open a catalog for writing (a lock file plus RocksDB's own lock per shard); others get
:class:`CatalogLockedError` at once. Readers that must run beside a writer open with ``read_only=True``
(a snapshot as of opening).

Guarantees:

- ``register_many`` is all-or-nothing across shards and durable when it returns (see
  :mod:`catalog.journal`); it is idempotent by key and content digest: the same key with the same digest
  changes nothing, the same key with a new digest points the key at the new location.
- ``list`` yields canonical keys in SURT order (URLs) and then key order (other keys), merged across
  shards.
- Counts in :meth:`stats` are exact.
"""
from __future__ import annotations

import fcntl
import heapq
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import rocksdict as rd

from catalog.catalog_writes import CatalogWrites, RegisterResult
from catalog.closing import after_collection, closing_together
from catalog.errors import CatalogLockedError, CatalogNotFoundError, KeyNotFoundError
from catalog.journal import Journal
from catalog.keys import canonical_key, key_id
from catalog.listing import key_of_listing_entry, listing_bounds
from catalog.location import LOCATION_SIZE, Location
from catalog.manifest import MANIFEST_NAME, SLOT_BITS, Manifest
from catalog.readers import ReaderPool, shard_paths
from catalog.shard import Shard, shard_dir
from catalog.volume_table import VolumeTable

__all__ = ["DEFAULT_CACHE_BYTES", "DEFAULT_SHARDS", "PARALLEL_LOOKUP_MIN", "Catalog", "RegisterResult"]
DEFAULT_SHARDS = 4
DEFAULT_CACHE_BYTES = 1 << 30
PARALLEL_LOOKUP_MIN = 20_000  # below this a batch is served in-process (reader round trip not worth it)


class Catalog(CatalogWrites):
    """A sharded catalog opened in this process. Use as a context manager or call :meth:`close`.

    Opening, routing and reads are here; writes (registration, deletes, marks, the journal) come from
    :class:`~catalog.catalog_writes.CatalogWrites`."""

    def __init__(self, directory: Path, manifest: Manifest, *, read_only: bool,
                 cache_bytes: int, durable: bool, parallel_readers: int | None = None) -> None:
        self.directory = directory
        self.manifest = manifest
        self.read_only = read_only
        self._lock_fd: int | None = None
        if not read_only:
            self._lock_fd = _take_lock(directory)
        self.cache = rd.Cache(cache_bytes)
        try:
            self.shards = [Shard(shard_dir(directory, i), self.cache, read_only=read_only)
                           for i in range(manifest.num_shards)]
            self.volumes = VolumeTable(directory / "volumes", read_only=read_only)
        except Exception:
            self._release_lock()
            raise
        self._slot_to_shard = np.asarray(manifest.slot_map, dtype=np.int32)
        self._slot_list = list(manifest.slot_map)  # scalar lookups: a list is faster than numpy
        self._pool = ThreadPoolExecutor(max_workers=min(manifest.num_shards, os.cpu_count() or 2))
        workers = (os.cpu_count() or 1) if parallel_readers is None else parallel_readers
        # Each reader gets a block cache as large as the catalog's own (filled lazily): with a smaller one
        # the location blocks of 10^7 entries (~110 MB uncompressed per shard) no longer fit, and every
        # lookup pays a block read plus ZSTD decompression (measured ~2.7 vs ~1.1 µs per key).
        self._readers = (ReaderPool(shard_paths(directory, manifest.num_shards), workers, cache_bytes)
                         if workers > 1 else None)
        self.journal: Journal | None = None
        self._seq = max(s.applied_seq() for s in self.shards)
        # Counts writes applied to the shards by this process (after they are applied, unlike _seq):
        # reader processes catch up with the shards only when it moved.
        self.writes_applied = 0
        if not read_only:
            self.journal = Journal(directory, durable=durable)
            self._recover()

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, num_shards: int = DEFAULT_SHARDS,
             create: bool = True, read_only: bool = False,
             cache_bytes: int = DEFAULT_CACHE_BYTES, durable: bool = True,
             parallel_readers: int | None = None) -> "Catalog":
        """Open (or create) the catalog stored in ``directory`` (a local directory).

        ``num_shards`` applies only when creating. ``parallel_readers`` is the number of reader
        processes serving large batched lookups (default: one per core; 0 or 1 = none); each has a block
        cache of ``cache_bytes``, like the catalog itself. Raises :class:`CatalogNotFoundError` when there is
        no catalog and ``create`` is false or ``read_only`` is true, :class:`SchemaVersionError` for a
        catalog of another schema version, :class:`CatalogLockedError` if another process writes it.
        """
        path = Path(directory)
        if (path / MANIFEST_NAME).exists():
            manifest = Manifest.load(path)
        elif create and not read_only:
            path.mkdir(parents=True, exist_ok=True)
            manifest = Manifest.new(num_shards)
            manifest.save(path)
        else:
            raise CatalogNotFoundError(
                f"no catalog at {path}: register something first (e.g. `haybale ingest files DIR`) "
                "or point --root at an existing deployment"
            )
        return cls(path, manifest, read_only=read_only, cache_bytes=cache_bytes, durable=durable,
                   parallel_readers=parallel_readers)

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self._pool.shutdown(wait=True)
            if self._readers is not None:
                self._readers.close()
            if self.journal is not None:
                self.journal.close()
        finally:  # the shards close and the lock is released whatever failed above (a full disk)
            with closing_together():
                for shard in self.shards:
                    shard.close()
                # after the shards' databases are closed, not before: the lock says they are free
                after_collection(self._close_volumes_and_release, collect=False)

    def _close_volumes_and_release(self) -> None:
        try:
            self.volumes.close()
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- routing ---------------------------------------------------------------------------------
    def shard_of(self, kid: bytes) -> int:
        return self._slot_list[((kid[0] << 8) | kid[1]) >> (16 - SLOT_BITS)]

    def _group_ids(self, ids: Sequence[bytes]) -> list[tuple[int, np.ndarray, list[bytes]]]:
        """Split ids by shard; each group's ids are sorted (sorted multi-get reads fewer blocks)."""
        arr = np.frombuffer(b"".join(ids), dtype=np.uint8).reshape(-1, 16) if ids else np.empty((0, 16), np.uint8)
        slots = (arr[:, 0].astype(np.int32) << 4) | (arr[:, 1].astype(np.int32) >> 4)
        shard_idx = self._slot_to_shard[slots]
        hi = arr[:, :8].copy().view(">u8").ravel()
        lo = arr[:, 8:].copy().view(">u8").ravel()
        order = np.lexsort((lo, hi, shard_idx))
        groups = []
        sorted_shards = shard_idx[order]
        bounds = np.flatnonzero(np.diff(sorted_shards)) + 1
        for part in np.split(order, bounds):
            if len(part):
                groups.append((int(shard_idx[part[0]]), part, [ids[i] for i in part]))
        return groups

    # -- reads -----------------------------------------------------------------------------------
    def lookup_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched lookup without per-key Python objects: ``ids`` is an (n, 16) uint8 array; returns
        (found: bool array, values: (n, 22) uint8 array of packed locations, zero where not found).

        Batches of at least :data:`PARALLEL_LOOKUP_MIN` keys go to the reader processes (see
        :mod:`catalog.readers`), smaller ones to threads over the shards in this process.
        """
        ids = np.ascontiguousarray(ids, dtype=np.uint8).reshape(-1, 16)
        n = len(ids)
        found = np.zeros(n, dtype=bool)
        values = np.zeros((n, LOCATION_SIZE), dtype=np.uint8)
        if n == 0:
            return found, values
        slots = (ids[:, 0].astype(np.int32) << 4) | (ids[:, 1].astype(np.int32) >> 4)
        shard_idx = self._slot_to_shard[slots]
        # Sorted by shard, then by the ids' first 8 bytes (a tie on those, vanishingly rare between
        # hashes, only costs the reader an extra seek). Shards own contiguous slot ranges
        # (Manifest.new), so id order is already shard order; a re-sort by shard is needed only when
        # a slot map is not monotone.
        order = np.argsort(ids[:, :8].copy().view(">u8").ravel().astype(np.uint64))
        in_order = shard_idx[order]
        if (in_order[1:] < in_order[:-1]).any():
            order = order[np.argsort(in_order, kind="stable")]
            in_order = shard_idx[order]
        bounds = np.flatnonzero(np.diff(in_order)) + 1
        groups = [part for part in np.split(order, bounds) if len(part)]
        jobs = [(int(shard_idx[part[0]]), ids[part]) for part in groups]
        if self._readers is not None and n >= PARALLEL_LOOKUP_MIN:
            try:
                for part, (positions, got) in zip(groups, self._readers.lookup(jobs, self.writes_applied)):
                    hit = part[positions]
                    found[hit] = True
                    values[hit] = got
                return found, values
            except (OSError, EOFError) as exc:
                # a reader died or could not start: serve this and later batches in-process
                warnings.warn(f"catalog {self.directory}: parallel readers failed ({exc!r}); "
                              "falling back to in-process lookups", RuntimeWarning, stacklevel=2)
                self._readers.close()
                self._readers = None
        for part, (f, v) in zip(groups, self._pool.map(self._lookup_in_process, jobs)):
            found[part] = f
            values[part] = v
        return found, values

    def _lookup_in_process(self, job: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        shard, ids = job
        raw = ids.tobytes()
        got = self.shards[shard].get_many([raw[i:i + 16] for i in range(0, len(raw), 16)])
        found = np.fromiter((v is not None for v in got), dtype=bool, count=len(got))
        values = np.zeros((len(got), LOCATION_SIZE), dtype=np.uint8)
        if found.any():
            values[found] = np.frombuffer(b"".join(v for v in got if v is not None), dtype=np.uint8).reshape(-1, LOCATION_SIZE)
        return found, values

    def get_many_ids(self, ids: Sequence[bytes]) -> list[bytes | None]:
        """Packed locations for key ids, in input order (None where absent); shards read in parallel."""
        if len(ids) >= PARALLEL_LOOKUP_MIN and self._readers is not None:
            found, values = self.lookup_ids(np.frombuffer(b"".join(ids), dtype=np.uint8))
            buf = values.tobytes()
            w = LOCATION_SIZE
            return [buf[i * w:(i + 1) * w] if f else None for i, f in enumerate(found.tolist())]
        out: list[bytes | None] = [None] * len(ids)
        groups = self._group_ids(ids)
        results = self._pool.map(lambda g: self.shards[g[0]].get_many(g[2]), groups)
        for (_, positions, _), values in zip(groups, results):
            for pos, value in zip(positions.tolist(), values):
                out[pos] = value
        return out

    def get_many(self, keys: Sequence[str]) -> list[Location | None]:
        """Locations of ``keys`` in input order, None for keys not registered."""
        ids = [key_id(canonical_key(k)) for k in keys]
        return [Location.unpack(v) if v is not None else None for v in self.get_many_ids(ids)]

    def get(self, key: str) -> Location:
        """Location of ``key``; raises :class:`KeyNotFoundError` (a ``KeyError``) if absent."""
        kid = key_id(canonical_key(key))
        value = self.shards[self.shard_of(kid)].get(kid)
        if value is None:
            raise KeyNotFoundError(f"key {key!r} is not in the catalog at {self.directory}: "
                                   "check the spelling, or list nearby keys with `haybale catalog ls`", key=key)
        return Location.unpack(value)

    def exists(self, key: str) -> bool:
        kid = key_id(canonical_key(key))
        return self.shards[self.shard_of(kid)].get(kid) is not None

    def exists_many(self, keys: Sequence[str]) -> list[bool]:
        return [v is not None for v in self.get_many(keys)]

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]:
        """Canonical keys starting with ``prefix`` (URL, SURT or plain prefix), merged across shards."""
        lower, upper = listing_bounds(prefix)
        for n, entry in enumerate(self.listing_entries(lower, upper)):
            if limit is not None and n >= limit:
                return
            yield key_of_listing_entry(entry)

    def listing_entries(self, start: bytes, upper: bytes | None, chunk: int = 4096) -> Iterator[bytes]:
        """Listing entries ``start <= e < upper`` (``upper`` None: to the end) of every shard, merged
        into one sorted stream; each shard is read ``chunk`` entries at a time."""
        return heapq.merge(*(shard.scan_listing(start, upper, chunk=chunk) for shard in self.shards))

    def items(self, prefix: str = "") -> Iterator[tuple[str, Location]]:
        """(canonical key, location) for every key under ``prefix``, in listing order, batched reads."""
        batch: list[str] = []
        for key in self.list(prefix):
            batch.append(key)
            if len(batch) >= 4096:
                yield from self._located(batch)
                batch = []
        yield from self._located(batch)

    def _located(self, keys: list[str]) -> Iterator[tuple[str, Location]]:
        for key, loc in zip(keys, self.get_many(keys)):
            if loc is not None:
                yield key, loc

    def mark_of(self, key: str) -> tuple[str, str] | None:
        """The (status, reason) mark of a key, or None."""
        kid = key_id(canonical_key(key))
        raw = self.shards[self.shard_of(kid)].mark_of(kid)
        if raw is None:
            return None
        status, _, reason = raw.decode().partition("\t")
        return status, reason

    def warm_cache(self, stop: threading.Event | None = None) -> int:
        """Bring the location index into this process's block cache, for a process about to serve
        point lookups: every data block (:meth:`Shard.warm_blocks`, seeks at evenly spaced ids), then
        the filter block of every location SST file, which neither seeks nor scans read
        (:meth:`Shard.load_filters`). Only what fits in ``cache_bytes`` stays. ``stop``, once set, ends
        it within 4,096 seeks. Returns the number of seeks made."""
        seeks = 0
        for shard in self.shards:
            seeks += shard.warm_blocks(stop)
            if stop is not None and stop.is_set():
                return seeks
            shard.load_filters()
        return seeks

    def stats(self) -> dict[str, Any]:
        """Exact record count, volumes and their bytes, shards and their disk use."""
        shard_stats = []
        for i, shard in enumerate(self.shards):
            disk = shard.disk_bytes()
            shard_stats.append({"shard": i, "records": shard.count(), "disk_bytes": disk})
        volumes = list(self.volumes)
        return {
            "catalog": str(self.directory),
            "schema_version": self.manifest.schema_version,
            "records": sum(s["records"] for s in shard_stats),
            "shards": len(self.shards),
            "slots": len(self.manifest.slot_map),
            "volumes": len(volumes),
            "volume_bytes": sum(int(v.get("bytes", 0)) for v in volumes),
            "catalog_disk_bytes": sum(sum(s["disk_bytes"].values()) for s in shard_stats),
            "per_shard": shard_stats,
        }


def _take_lock(directory: Path) -> int:
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CatalogLockedError(f"catalog {directory}", "wait for it to finish, or open read-only "
                                 "(Catalog.open(..., read_only=True))") from None
    return fd
