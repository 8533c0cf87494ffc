"""The catalog as its owners serve it: routes every call by slot to the owner that holds the slot.

:class:`OwnedCatalog` offers what commands, jobs and :class:`~catalog.store.Store` use of an embedded
:class:`~catalog.catalog.Catalog` (register, batched lookups, get, list, marks, deletes, stats, the
volume table), so no caller branches on where the owners run:

- **in this process** (:meth:`OwnedCatalog.local`): every owner directory opened here, writable
  (``--no-ray``, tests, benchmarks) or read-only (queries answer in well under a second without Ray,
  beside owners that keep writing: a read-only open is a snapshot as of opening that includes every
  acknowledged write, see :mod:`catalog.service_store`);
- **on Ray** (:meth:`OwnedCatalog.on_ray`): the owner actors of :mod:`catalog.owner_actor`, found by
  name or started; calls to all owners go out at once and are gathered.

Routing: key id -> slot (top 12 bits) -> owner, from the cached meta record. Every call carries the
client's epoch; an owner at another epoch answers :class:`~catalog.catalog_meta.WrongEpochError`, the
client reloads the meta record and routes the whole operation again (idempotent operations only).

Writes are atomic per owner, not across owners: a registration that fails half way is re-driven
whole (idempotent by key and digest), as the ingest runner does before writing a split's marker.
"""
from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta, WrongEpochError, load_meta, owner_dir, slots_of_ids
from catalog.catalog_writes import RegisterResult
from catalog.closing import closing_together
from catalog.errors import CatalogError, CatalogNotFoundError, KeyNotFoundError
from catalog.keys import canonical_key, key_id
from catalog.listing import key_of_listing_entry, listing_bounds
from catalog.location import LOCATION_SIZE, Location
from catalog.manifest import NUM_SLOTS
from catalog.owner_endpoints import VolumeTableClient, _gather, _LocalOwner, _RayOwner

T = TypeVar("T")
EPOCH_RETRIES = 3


class OwnedCatalog:
    """Client of a catalog's owners. Build it with :meth:`local` or :meth:`on_ray`."""

    def __init__(self, root: str, directory: Path, meta: CatalogMeta | None, endpoints: list[Any], *,
                 read_only: bool, reload: Callable[[CatalogMeta], list[Any]] | None = None,
                 closers: Sequence[Callable[[], None]] = (),
                 connect: Callable[[], tuple[CatalogMeta, list[Any]]] | None = None) -> None:
        self.root, self.directory, self.read_only = root, Path(directory), read_only
        self._eps = endpoints
        self._reload = reload
        self._closers = list(closers)
        self._connect = connect  # lazy: run on first use (a command refusing bad input never starts Ray)
        if meta is not None:
            self._adopt(meta)
        self.volumes = VolumeTableClient(self)
        self.writes_applied = 0
        self.closed = False

    def _adopt(self, meta: CatalogMeta) -> None:
        self._meta = meta
        self._slot_owner = meta.slot_owner()

    def ensure(self) -> None:
        """Connect to the owners now (on Ray: find or start them) if that has not happened yet."""
        if self._connect is not None:
            # cleared only once connected: a failed connection leaves the catalog "never connected",
            # so the command's clean-up knows nothing was written through it
            meta, self._eps = self._connect()
            self._connect = None
            self._adopt(meta)

    @property
    def meta(self) -> CatalogMeta:
        self.ensure()
        return self._meta

    @property
    def _endpoints(self) -> list[Any]:
        self.ensure()
        return self._eps

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def local(cls, root: str, directory: Path, meta: CatalogMeta, *, read_only: bool = False,
              create: bool = True, durable: bool = True) -> "OwnedCatalog":
        """Every owner directory opened in this process."""
        from catalog.owner_actor import open_or_restore
        from catalog.owner_store import OwnerStore

        stores: list[Any] = []
        try:
            for i in range(meta.num_owners):
                path = owner_dir(directory, i)
                if read_only and not path.exists():
                    raise CatalogNotFoundError(f"no catalog at {path}: register something first "
                                               "(e.g. `haybale ingest files DIR`) or point --root at a deployment")
                if read_only:
                    stores.append(OwnerStore(path, i, meta, read_only=True, create=create, durable=durable,
                                             root=root))
                else:  # a directory lost with its node's disk comes back from the owner's checkpoint
                    stores.append(open_or_restore(root, meta, i, path, create=create, durable=durable)[0])
        except BaseException:
            for s in stores:
                s.close()
            raise
        pool = ThreadPoolExecutor(max_workers=max(1, min(meta.num_owners, 4)))
        endpoints = [_LocalOwner(s, pool) for s in stores]

        def close() -> None:
            pool.shutdown(wait=True)
            with closing_together():  # two garbage collections for all owners, not two per owner
                for s in stores:
                    s.close()
        return cls(root, directory, meta, endpoints, read_only=read_only, closers=[close])

    @classmethod
    def on_ray(cls, root: str, directory: Path, num_owners: int,
               connect_ray: Callable[[], None] | None = None) -> "OwnedCatalog":
        """The catalog's owner actors, found or started on first use, after ``connect_ray()`` (which
        connects this process to Ray; None: Ray is connected already). The meta record is created then
        too (with ``num_owners`` owners) if the root has none."""
        from catalog.catalog_meta import ensure_meta
        from catalog.owner_actor import owner_handles

        def endpoints(m: CatalogMeta) -> list[Any]:
            return [_RayOwner(h) for h in owner_handles(root, directory, m.catalog_id, m.num_owners)]

        def connect() -> tuple[CatalogMeta, list[Any]]:
            if connect_ray is not None:
                connect_ray()
            meta = ensure_meta(root, num_owners)
            return meta, endpoints(meta)
        return cls(root, directory, None, [], read_only=False, reload=endpoints, connect=connect)

    # -- plumbing ------------------------------------------------------------------------------
    def owner_of_ids(self, ids: np.ndarray) -> np.ndarray:
        self.ensure()
        return self._slot_owner[slots_of_ids(ids)]

    def _call(self, owner: int, method: str, *args: Any) -> Any:
        return self._endpoints[owner].call(method, *args)

    def _routed(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (which routes with the current map); after a WrongEpochError reload the meta
        record (and the owners, on Ray) and run it again."""
        for attempt in range(EPOCH_RETRIES + 1):
            try:
                return operation()
            except WrongEpochError:
                if attempt == EPOCH_RETRIES:
                    raise
                fresh = load_meta(self.root)
                if fresh is None:
                    raise CatalogError(f"catalog meta record of {self.root} disappeared: restore it") from None
                if self._reload is not None and fresh.num_owners != self.meta.num_owners:
                    self._eps = self._reload(fresh)
                self._adopt(fresh)
                for endpoint in self._endpoints:
                    endpoint.adopt(fresh)
        raise AssertionError("unreachable")

    def _require_writable(self) -> None:
        if self.read_only:
            raise CatalogError(f"catalog {self.directory} is open read-only: open it without read_only to write")

    # -- reads ---------------------------------------------------------------------------------
    def lookup_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, (n, 22) packed locations) for an (n, 16) uint8 array of key ids, in input order."""
        ids = np.ascontiguousarray(ids, dtype=np.uint8).reshape(-1, 16)
        n = len(ids)
        found = np.zeros(n, dtype=bool)
        values = np.zeros((n, LOCATION_SIZE), dtype=np.uint8)
        if n == 0:
            return found, values
        def run() -> None:
            # group by owner only (a stable sort of small integers); each owner sorts its own share, so
            # the sorting runs in the owners at once rather than here
            owners = self.owner_of_ids(ids)
            by_owner = np.argsort(owners, kind="stable")
            bounds = np.flatnonzero(np.diff(owners[by_owner])) + 1
            parts = [p for p in np.split(by_owner, bounds) if len(p)]
            calls = [self._call(int(owners[p[0]]), "lookup", ids[p], self.meta.epoch) for p in parts]
            for p, (f, v) in zip(parts, _gather(calls)):
                found[p] = f
                values[p] = v
        self._routed(run)
        return found, values

    def get_many_ids(self, ids: Sequence[bytes]) -> list[bytes | None]:
        if not ids:
            return []
        found, values = self.lookup_ids(np.frombuffer(b"".join(ids), dtype=np.uint8))
        buf = values.tobytes()
        return [buf[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE] if f else None for i, f in enumerate(found.tolist())]

    def get_many(self, keys: Sequence[str]) -> list[Location | None]:
        raw = self.get_many_ids([key_id(canonical_key(k)) for k in keys])
        return [Location.unpack(v) if v is not None else None for v in raw]

    def get(self, key: str) -> Location:
        loc = self.get_many([key])[0]
        if loc is None:
            raise KeyNotFoundError(f"key {key!r} is not in the catalog at {self.directory}: "
                                   "check the spelling, or list nearby keys with `haybale catalog ls`", key=key)
        return loc

    def exists(self, key: str) -> bool:
        return self.get_many([key])[0] is not None

    def exists_many(self, keys: Sequence[str]) -> list[bool]:
        return [v is not None for v in self.get_many(keys)]

    def mark_of(self, key: str) -> tuple[str, str] | None:
        kid = key_id(canonical_key(key))
        owner = int(self.owner_of_ids(np.frombuffer(kid, np.uint8).reshape(1, 16))[0])
        raw = self._routed(lambda: _gather([self._call(owner, "mark_of", kid, self.meta.epoch)])[0])
        if raw is None:
            return None
        status, _, reason = raw.decode().partition("\t")
        return status, reason

    def listing_entries(self, start: bytes, upper: bytes | None, chunk: int = 4096) -> Iterator[bytes]:
        """Listing entries ``start <= e < upper`` of every owner, merged into one sorted stream; each
        owner is read ``chunk`` entries at a time (a cursor per owner, nothing held between chunks)."""
        return heapq.merge(*(self._owner_listing(i, start, upper, chunk) for i in range(len(self._endpoints))))

    def _owner_listing(self, owner: int, start: bytes, upper: bytes | None, chunk: int) -> Iterator[bytes]:
        first = True
        while True:
            keys = _gather([self._call(owner, "listing_chunk", start, upper, chunk, not first)])[0]
            yield from keys
            if len(keys) < chunk:
                return
            start, first = keys[-1], False

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]:
        lower, upper = listing_bounds(prefix)
        for n, entry in enumerate(self.listing_entries(lower, upper)):
            if limit is not None and n >= limit:
                return
            yield key_of_listing_entry(entry)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Location]]:
        batch: list[str] = []
        for key in self.list(prefix):
            batch.append(key)
            if len(batch) >= 4096:
                yield from ((k, v) for k, v in zip(batch, self.get_many(batch)) if v is not None)
                batch = []
        yield from ((k, v) for k, v in zip(batch, self.get_many(batch)) if v is not None)

    def stats(self) -> dict[str, Any]:
        per_owner = _gather([self._call(i, "stats") for i in range(len(self._endpoints))])
        volumes = list(self.volumes)
        return {
            "catalog": str(self.directory), "catalog_id": self.meta.catalog_id, "epoch": self.meta.epoch,
            "schema_version": self.meta.schema_version, "records": sum(s["records"] for s in per_owner), "shards": len(per_owner), "owners": len(per_owner),
            "slots": NUM_SLOTS, "volumes": len(volumes),
            "volume_bytes": sum(int(v.get("bytes", 0)) for v in volumes),
            "catalog_disk_bytes": sum(sum(s["disk_bytes"].values()) for s in per_owner),
            "per_shard": [{"shard": s["owner"], "records": s["records"], "disk_bytes": s["disk_bytes"],
                           **({"block_cache_bytes": s["cache_bytes"]} if "cache_bytes" in s else {})}
                          for s in per_owner],
        }

    def owner_memory(self) -> list[dict[str, Any]]:
        """Per owner: its block cache's size and use, and its process's resident and huge-page bytes
        (:meth:`catalog.owner_store.OwnerStore.memory`)."""
        return _gather([self._call(i, "memory") for i in range(len(self._endpoints))])

    # -- writes --------------------------------------------------------------------------------
    def _by_owner(self, keys: Sequence[str]) -> dict[int, list[int]]:
        ids = np.frombuffer(b"".join(key_id(k) for k in keys), np.uint8).reshape(-1, 16)
        groups: dict[int, list[int]] = {}
        for i, owner in enumerate(self.owner_of_ids(ids).tolist()):
            groups.setdefault(owner, []).append(i)
        return groups

    def register_many(self, entries: Iterable[tuple[str, Location]]) -> RegisterResult:
        """Register (key, location) pairs: one call per owner, all at once; the last occurrence of a
        key wins. Durable on every owner when it returns; idempotent by key and digest."""
        self._require_writable()
        latest: dict[str, bytes] = {}
        for key, loc in entries:
            latest[canonical_key(key)] = loc.pack()
        if not latest:
            return RegisterResult(0, 0, 0)
        keys = list(latest)

        def run() -> RegisterResult:
            groups = self._by_owner(keys)
            calls = [self._call(o, "register", [(keys[i], latest[keys[i]]) for i in rows], self.meta.epoch)
                     for o, rows in groups.items()]
            return _sum_results(_gather(calls))
        result = self._routed(run)
        self.writes_applied += 1
        return result

    def register_bulk_entries(self, keys: Sequence[str], locations: Sequence[Location] | np.ndarray) -> RegisterResult:
        """Prepare (canonicalize, hash, group by owner, sort: on whole columns, see
        :mod:`catalog.bulk_prepare`) here, then one batch per owner, all owners at once (SST ingest for
        big batches). ``locations``: :class:`Location` objects or an array of packed locations."""
        self._require_writable()

        def run() -> RegisterResult:
            self.ensure()
            prepared = prepare_bulk_columns(keys, locations, self._slot_owner)
            calls = [self._call(o, "register_batch", batch, self.meta.epoch)
                     for o, batch in prepared.shards.items() if len(batch)]
            return _sum_results(_gather(calls))
        result = self._routed(run)
        self.writes_applied += 1
        return result

    def mark_many(self, marks: Iterable[tuple[str, str, str]]) -> int:
        """Set (key, status, reason) marks, one call per owner; KeyNotFoundError for an unknown key."""
        self._require_writable()
        rows = [(canonical_key(k), s, r) for k, s, r in marks]
        if not rows:
            return 0

        def run() -> int:
            groups = self._by_owner([k for k, _, _ in rows])
            return sum(_gather([self._call(o, "mark_many", [rows[i] for i in idx], self.meta.epoch)
                                for o, idx in groups.items()]))
        return self._routed(run)

    def delete_many(self, keys: Iterable[str]) -> int:
        self._require_writable()
        canon = list(dict.fromkeys(canonical_key(k) for k in keys))
        if not canon:
            return 0

        def run() -> int:
            groups = self._by_owner(canon)
            return sum(_gather([self._call(o, "delete_many", [canon[i] for i in idx], self.meta.epoch)
                                for o, idx in groups.items()]))
        return self._routed(run)

    def checkpoint(self) -> None:
        _gather([self._call(i, "checkpoint") for i in range(len(self._endpoints))])

    def read_shapes(self) -> list[dict[str, Any]]:
        """Every owner's location index as batched reads meet it (:func:`catalog.owner_reads.read_shape`)."""
        return self._routed(lambda: _gather([self._call(i, "read_shape") for i in range(len(self._endpoints))]))

    def compact_index(self) -> list[dict[str, Any]]:
        """Every owner compacts its location index into one sorted run, all at once
        (:meth:`catalog.owner_store.OwnerStore.compact_index`); their read shapes after it."""
        self._require_writable()
        return self._routed(lambda: _gather([self._call(i, "compact_index", self.meta.epoch)
                                             for i in range(len(self._endpoints))]))

    def close(self) -> None:
        self.closed = True
        closers, self._closers = self._closers, []
        for close in closers:
            close()

    def __enter__(self) -> "OwnedCatalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sum_results(parts: list[tuple[int, int, int]]) -> RegisterResult:
    return RegisterResult(sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))
