"""Bulk registration: sorted SST files written outside RocksDB, then ingested.

Writing SST files with ``SstFileWriter`` and ingesting them skips the memtable, the WAL and most
compaction, which makes a load several times faster than puts. The per-key work is split so that it
spreads: :func:`prepare_bulk` (canonicalize, hash, SURT, group by shard) runs where entries are made —
ingest workers — and each shard's sorting and SST writing runs in its own process.

Atomicity across shards uses the journal like ordinary batches: the staged SST files are written and
fsynced first, then one journal record names them, then each shard ingests its files (moving them in,
so the bytes are written once) and records the sequence number. After a crash, recovery ingests the
files still staged for every shard that had not recorded the sequence (a file ingested twice writes the
same values; a file already moved in is no longer staged), then deletes what is left of the stage.

Idempotency matches :meth:`Catalog.register_many`: keys already registered with the same digest are
skipped; keys already registered with another digest are overwritten. Within one call the last
occurrence of a key wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from catalog.catalog import Catalog, RegisterResult
from catalog.failpoints import failpoint
from catalog.journal_records import STAGING, apply_record, bulk_record
from catalog.keys import canonical_key, key_id
from catalog.listing import listing_entry
from catalog.location import LOCATION_SIZE, Location
from catalog.manifest import SLOT_BITS
from catalog.sst_files import ShardSstJob, run_jobs
from catalog.storage import fsync_dir

PARALLEL_THRESHOLD = 200_000


@dataclass
class ShardBatch:
    """One shard's share of a bulk load, three aligned columns sorted by listing key: 16-byte ids,
    22-byte locations and listing keys (concatenated in ``listing_blob``, entry ``i`` ending at
    ``listing_ends[i]``). Repeats of a key stay in input order."""

    ids: bytes = b""
    locations: bytes = b""
    listing_blob: bytes = b""
    listing_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids) // 16

    def listing_at(self, i: int) -> bytes:
        begin = int(self.listing_ends[i - 1]) if i else 0
        return self.listing_blob[begin:int(self.listing_ends[i])]


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
    meant to run on the workers that produced the entries. Each shard's entries come out sorted by
    listing key (a stable sort), so the shard writer's sort is linear: the n log n part of a load is
    paid here, on the many workers that prepare entries.
    """
    if len(keys) != len(locations):
        raise ValueError(f"{len(keys)} keys but {len(locations)} locations")
    packed = np.frombuffer(
        locations.tobytes() if isinstance(locations, np.ndarray) else b"".join(loc.pack() for loc in locations),
        dtype=np.uint8).reshape(-1, LOCATION_SIZE)
    columns: dict[int, tuple[list[bytes], list[bytes], list[int]]] = {}
    shift = 16 - SLOT_BITS
    for i, key in enumerate(keys):
        canon = canonical_key(key)
        kid = key_id(canon)
        shard = slot_map[((kid[0] << 8) | kid[1]) >> shift]
        column = columns.get(shard)
        if column is None:
            column = columns[shard] = ([], [], [])
        column[0].append(listing_entry(canon))
        column[1].append(kid)
        column[2].append(i)
    shards: dict[int, ShardBatch] = {}
    for shard, (listing, kids, rows) in columns.items():
        order = sorted(range(len(listing)), key=listing.__getitem__)
        ordered = [listing[j] for j in order]
        shards[shard] = ShardBatch(
            ids=b"".join([kids[j] for j in order]),
            locations=packed[np.asarray(rows, dtype=np.int64)[order]].tobytes(),
            listing_blob=b"".join(ordered),
            listing_ends=np.cumsum(np.fromiter(map(len, ordered), dtype=np.int64, count=len(ordered))))
    return BulkEntries(shards)


@dataclass
class _Filtered:
    """What is left of a batch to write after the existence checks."""

    ids: bytes
    locations: bytes
    listing_blob: bytes
    listing_ends: np.ndarray
    added: int
    updated: int
    unchanged: int


def _existing_filter(catalog: Catalog, shard_index: int, batch: ShardBatch) -> _Filtered:
    """For a non-empty shard: drop keys registered with the same digest; listing keys only for keys
    not registered yet (a key keeps its listing entry when its location changes)."""
    shard = catalog.shards[shard_index]
    latest: dict[bytes, int] = {}
    for i in range(len(batch)):
        latest[batch.ids[i * 16:(i + 1) * 16]] = i  # a repeated key: the last occurrence wins
    ids = list(latest)
    current = shard.get_many(ids)
    out_ids: list[bytes] = []
    out_locations: list[bytes] = []
    new_listing: list[bytes] = []
    added = updated = unchanged = 0
    for kid, old in zip(ids, current):
        i = latest[kid]
        value = batch.locations[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE]
        if old is not None:
            if old[-8:] == value[-8:]:  # same digest (the last 8 bytes of a location)
                unchanged += 1
                continue
            updated += 1
        else:
            added += 1
            new_listing.append(batch.listing_at(i))
        out_ids.append(kid)
        out_locations.append(value)
    ends = np.cumsum(np.fromiter(map(len, new_listing), dtype=np.int64, count=len(new_listing)))
    return _Filtered(b"".join(out_ids), b"".join(out_locations), b"".join(new_listing), ends,
                     added, updated, unchanged)


def register_bulk(catalog: Catalog, entries: BulkEntries, *, workers: int | None = None,
                  known: dict[int, object] | None = None) -> RegisterResult:
    """Register prepared entries through SST files + ingest. Durable and atomic when it returns.

    ``known``: per shard, a :class:`catalog.owner_key_filter.KnownIds` in sync with it (the caller
    holds the shard's writes), so the existence checks read only the ids it may hold.

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
            # on whole columns (issue 10: owners run this for every registration batch); _existing_filter
            # below is the per-key reference it is tested against
            from catalog.bulk_filter import existing_filter_columns
            kept = _Filtered(*existing_filter_columns(catalog.shards[shard_index], batch,
                                                      (known or {}).get(shard_index)))
            added, updated, unchanged = added + kept.added, updated + kept.updated, unchanged + kept.unchanged
            new_keys[shard_index] = kept.added
            if not kept.ids:
                continue
            ids, values, blob, ends = kept.ids, kept.locations, kept.listing_blob, kept.listing_ends
        else:  # an empty shard needs no existence checks (a first load): every distinct id is new
            fresh.add(shard_index)
            ids, values, blob, ends = batch.ids, batch.locations, batch.listing_blob, batch.listing_ends
        jobs.append(ShardSstJob(
            shard=shard_index, loc_path=str(stage / f"{seq}-{shard_index}-loc.sst"),
            list_path=str(stage / f"{seq}-{shard_index}-list.sst") if len(ends) else None,
            ids=ids, values=values, value_size=LOCATION_SIZE, listing_blob=blob, listing_ends=ends,
            level0=shard_index not in fresh))
    if workers is None:
        workers = min(len(jobs), os.cpu_count() or 1) if len(entries) >= PARALLEL_THRESHOLD else 1
    done = run_jobs(jobs, workers)
    if not done:
        return RegisterResult(added, updated, unchanged)
    for job in done:
        if job.shard in fresh:
            new_keys[job.shard] = job.written
            added += job.written
    fsync_dir(str(stage))
    files = {job.shard: (job.loc_path, job.list_path, new_keys[job.shard]) for job in done}
    record = bulk_record(files)
    assert catalog.journal is not None
    catalog.journal.append(seq, record)
    failpoint("catalog.after_journal")
    apply_record(catalog.shards, seq, record, catalog.directory)
    catalog.writes_applied += 1
    return RegisterResult(added, updated, unchanged)
