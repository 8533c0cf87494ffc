"""Bulk registration: sorted SST files written outside RocksDB, then ingested.

Writing SST files with ``SstFileWriter`` and ingesting them skips the memtable, the WAL and most
compaction, which makes a load several times faster than puts. The per-key work is split so that it
spreads: :func:`prepare_bulk` (canonicalize, hash, SURT, group by shard) runs where entries are made —
ingest workers — and each shard's sorting and SST writing runs in its own process.

Atomicity across shards uses the journal like ordinary batches: the staged SST files are written and
fsynced first, then one journal record names them, then each shard ingests its files and records the
sequence number. After a crash, recovery re-ingests the files of every shard that had not recorded the
sequence (ingesting the same file twice writes the same values), then deletes the staged files.

Idempotency matches :meth:`Catalog.register_many`: keys already registered with the same digest are
skipped; keys already registered with another digest are overwritten. Within one call the last
occurrence of a key wins.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from catalog.catalog import Catalog, RegisterResult, listing_entry
from catalog.keys import canonical_key, key_id
from catalog.location import LOCATION_SIZE, Location
from catalog.manifest import SLOT_BITS
from haybale.failpoints import failpoint
from catalog.sst_files import ShardSstJob, run_jobs

STAGING = "staging"
PARALLEL_THRESHOLD = 200_000


@dataclass
class ShardBatch:
    """One shard's share of a bulk load: concatenated 16-byte ids and 22-byte locations (input
    order) and the listing keys."""

    ids: bytearray = field(default_factory=bytearray)
    locations: bytearray = field(default_factory=bytearray)
    listing: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids) // 16


@dataclass
class BulkEntries:
    """Entries prepared for :func:`register_bulk`, grouped by shard."""

    shards: dict[int, ShardBatch]

    def __len__(self) -> int:
        return sum(len(b) for b in self.shards.values())


def prepare_bulk(keys: Sequence[str], locations: np.ndarray | Sequence[Location],
                 slot_map: Sequence[int]) -> BulkEntries:
    """Canonicalize and hash ``keys``, and group them with their locations by shard.

    ``locations`` is a sequence of :class:`Location` or an array of packed 22-byte values.
    ``slot_map`` is the catalog's (``catalog.manifest.slot_map``); this is the per-key Python work,
    meant to run on the workers that produced the entries.
    """
    if len(keys) != len(locations):
        raise ValueError(f"{len(keys)} keys but {len(locations)} locations")
    packed = (locations.tobytes() if isinstance(locations, np.ndarray)
              else b"".join(loc.pack() for loc in locations))
    shards: dict[int, ShardBatch] = {}
    shift = 16 - SLOT_BITS
    for i, key in enumerate(keys):
        canon = canonical_key(key)
        kid = key_id(canon)
        shard = slot_map[((kid[0] << 8) | kid[1]) >> shift]
        batch = shards.get(shard)
        if batch is None:
            batch = shards[shard] = ShardBatch()
        batch.ids += kid
        batch.locations += packed[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE]
        batch.listing.append(listing_entry(canon))
    for batch in shards.values():
        # Sorted runs make the shard writer's sort nearly linear (timsort merges runs), so the
        # n log n part of a load is paid here, on the many workers that prepare entries.
        batch.listing.sort()
    return BulkEntries(shards)


def _existing_filter(catalog: Catalog, shard_index: int, batch: ShardBatch
                     ) -> tuple[ShardBatch, int, int, int]:
    """For a non-empty shard: drop keys registered with the same digest; listing only for new keys.
    Returns (batch to write, added, updated, unchanged)."""
    shard = catalog.shards[shard_index]
    latest: dict[bytes, tuple[bytes, bytes]] = {}
    for i in range(len(batch)):
        latest[bytes(batch.ids[i * 16:(i + 1) * 16])] = (
            bytes(batch.locations[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE]), batch.listing[i])
    ids = list(latest)
    current = shard.get_many(ids)
    out = ShardBatch()
    added = updated = unchanged = 0
    for kid, old in zip(ids, current):
        value, list_key = latest[kid]
        if old is not None:
            if old[-8:] == value[-8:]:  # same digest (the last 8 bytes of a location)
                unchanged += 1
                continue
            updated += 1
        else:
            added += 1
            out.listing.append(list_key)
        out.ids += kid
        out.locations += value
    return out, added, updated, unchanged


def register_bulk(catalog: Catalog, entries: BulkEntries, *, workers: int | None = None) -> RegisterResult:
    """Register prepared entries through SST files + ingest. Durable and atomic when it returns.

    Shards' SST files are written by ``workers`` spawned processes (default: one per core for loads of
    at least :data:`PARALLEL_THRESHOLD` entries, else in this process).
    """
    catalog._require_writable()
    seq = catalog.next_seq()
    stage = catalog.directory / STAGING
    stage.mkdir(exist_ok=True)
    jobs: list[ShardSstJob] = []
    added = updated = unchanged = 0
    fresh: set[int] = set()
    new_keys: dict[int, int] = {}
    for shard_index, batch in sorted(entries.shards.items()):
        if not len(batch):
            continue
        if catalog.shards[shard_index].count() > 0:
            batch, a, u, n = _existing_filter(catalog, shard_index, batch)
            added, updated, unchanged = added + a, updated + u, unchanged + n
            new_keys[shard_index] = a
            if not len(batch):
                continue
        else:  # an empty shard needs no existence checks (a first load): every distinct id is new
            fresh.add(shard_index)
        jobs.append(ShardSstJob(
            shard=shard_index, loc_path=str(stage / f"{seq}-{shard_index}-loc.sst"),
            list_path=str(stage / f"{seq}-{shard_index}-list.sst") if batch.listing else None,
            ids=bytes(batch.ids), values=bytes(batch.locations), value_size=LOCATION_SIZE,
            listing=batch.listing))
    if workers is None:
        workers = min(len(jobs), os.cpu_count() or 1) if len(entries) >= PARALLEL_THRESHOLD else 1
    done = run_jobs(jobs, workers)
    if not done:
        return RegisterResult(added, updated, unchanged)
    for job in done:
        if job.shard in fresh:
            new_keys[job.shard] = job.written
            added += job.written
    _fsync_dir(stage)
    files = {str(job.shard): [job.loc_path, job.list_path, new_keys[job.shard]] for job in done}
    record = {"t": "bulk", "f": files}
    assert catalog.journal is not None
    catalog.journal.append(seq, record)
    failpoint("catalog.after_journal")
    apply_bulk_record(catalog, seq, record)
    for job in done:
        os.unlink(job.loc_path)
        if job.list_path:
            os.unlink(job.list_path)
    return RegisterResult(added, updated, unchanged)


def apply_bulk_record(catalog: Catalog, seq: int, record: dict[str, Any]) -> None:
    """Ingest a bulk record's files into every shard that has not applied ``seq`` yet."""
    for shard_str, (loc_path, list_path, n_new) in record["f"].items():
        shard = catalog.shards[int(shard_str)]
        if shard.applied_seq() >= seq:
            continue
        shard.ingest_ssts(loc_path, list_path, int(n_new), seq)
        failpoint("catalog.mid_apply")


def drop_staged_files(catalog: Catalog) -> None:
    """Remove staged SST files once recovery has applied everything (they are never needed again)."""
    stage = catalog.directory / STAGING
    if stage.is_dir():
        shutil.rmtree(stage, ignore_errors=True)


def _fsync_dir(path: os.PathLike[str] | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
