"""Bulk registration: sorted SST files written outside RocksDB, then ingested.

Writing SST files with ``SstFileWriter`` and ingesting them skips the memtable, the WAL and most
compaction, which makes a first load several times faster than puts. Atomicity across shards uses the
journal like ordinary batches: the staged SST files are written and fsynced first, then one journal
record names them, then each shard ingests its files and records the sequence number. After a crash,
recovery re-ingests the files of every shard that had not recorded the sequence yet (ingesting the same
file twice writes the same values), then deletes the staged files.

Idempotency matches :meth:`Catalog.register_many`: keys already registered with the same digest are
skipped; keys already registered with another digest are overwritten. Within one call the last
occurrence of a key wins.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from catalog.catalog import Catalog, RegisterResult, listing_entry
from catalog.keys import canonical_key, key_id
from catalog.location import LOCATION_DTYPE, LOCATION_SIZE, Location, split_fixed

STAGING = "staging"


@dataclass
class BulkEntries:
    """Prepared entries: key ids (``S16``), packed locations (``S22``), listing keys (bytes)."""

    ids: np.ndarray
    locations: np.ndarray
    listing: list[bytes]

    def __len__(self) -> int:
        return len(self.ids)


def prepare_bulk(keys: Sequence[str], locations: np.ndarray | Sequence[Location]) -> BulkEntries:
    """Canonicalize and hash keys for :func:`register_bulk`; this is the per-key Python work, meant to
    run on the workers that produced the entries, so the catalog process only sorts and writes."""
    canon = [canonical_key(k) for k in keys]
    ids = np.array([key_id(k) for k in canon], dtype="S16")
    if not isinstance(locations, np.ndarray):
        locations = np.array([loc.pack() for loc in locations], dtype=f"S{LOCATION_SIZE}")
    return BulkEntries(ids, locations, [listing_entry(k) for k in canon])


def _sort_ids(ids: np.ndarray) -> np.ndarray:
    raw = ids.view(np.uint8).reshape(-1, 16)
    hi = raw[:, :8].copy().view(">u8").ravel()
    lo = raw[:, 8:].copy().view(">u8").ravel()
    return np.lexsort((lo, hi))


def register_bulk(catalog: Catalog, entries: BulkEntries) -> RegisterResult:
    """Register prepared entries through SST files + ingest. Durable and atomic when it returns."""
    catalog._require_writable()
    n = len(entries)
    if n == 0:
        return RegisterResult(0, 0, 0)
    order = _sort_ids(entries.ids)
    ids = entries.ids[order]
    locs = entries.locations[order]
    # Last occurrence of a duplicate key wins: keep positions whose next id differs.
    keep = np.ones(n, dtype=bool)
    if n > 1:
        same_as_next = ids[:-1] == ids[1:]
        # stable lexsort keeps input order among equal ids, so the later one comes last
        keep[:-1] = ~same_as_next
    ids, locs, order = ids[keep], locs[keep], order[keep]
    raw = ids.view(np.uint8).reshape(-1, 16)
    slots = (raw[:, 0].astype(np.int32) << 4) | (raw[:, 1].astype(np.int32) >> 4)
    shard_of = catalog._slot_to_shard[slots]

    seq = catalog.next_seq()
    stage = catalog.directory / STAGING
    stage.mkdir(exist_ok=True)
    files: dict[str, list[Any]] = {}
    added = updated = unchanged = 0
    for shard_index in range(len(catalog.shards)):
        sel = np.flatnonzero(shard_of == shard_index)
        if not len(sel):
            continue
        shard = catalog.shards[shard_index]
        s_ids = split_fixed(ids[sel], 16)
        s_locs = locs[sel]
        is_new = np.ones(len(sel), dtype=bool)
        write = np.ones(len(sel), dtype=bool)
        if shard.count() > 0:
            current = shard.get_many(s_ids)
            digests = s_locs.view(LOCATION_DTYPE)["digest"]
            for i, old in enumerate(current):
                if old is not None:
                    is_new[i] = False
                    if Location.unpack(old).digest == int(digests[i]):
                        write[i] = False
        n_new = int(is_new.sum())
        n_write = int(write.sum())
        added += n_new
        updated += n_write - n_new
        unchanged += len(sel) - n_write
        if n_write == 0:
            continue
        loc_path = str(stage / f"{seq}-{shard_index}-loc.sst")
        writer = shard.sst_writer(loc_path)
        loc_list = split_fixed(s_locs, LOCATION_SIZE)
        for i in np.flatnonzero(write).tolist():
            writer[s_ids[i]] = loc_list[i]
        writer.finish()
        list_path = None
        if n_new:
            new_listing = sorted(entries.listing[j] for j in order[sel[is_new]].tolist())
            list_path = str(stage / f"{seq}-{shard_index}-list.sst")
            lw = shard.sst_writer(list_path, listing=True)
            for key in new_listing:
                lw[key] = b""
            lw.finish()
        _fsync_file(loc_path)
        if list_path:
            _fsync_file(list_path)
        files[str(shard_index)] = [loc_path, list_path, n_new]
    if files:
        _fsync_dir(stage)
        record = {"t": "bulk", "f": files}
        assert catalog.journal is not None
        catalog.journal.append(seq, record)
        apply_bulk_record(catalog, seq, record)
        for loc_path, list_path, _ in files.values():
            os.unlink(loc_path)
            if list_path:
                os.unlink(list_path)
    return RegisterResult(added, updated, unchanged)


def apply_bulk_record(catalog: Catalog, seq: int, record: dict[str, Any]) -> None:
    """Ingest a bulk record's files into every shard that has not applied ``seq`` yet."""
    for shard_str, (loc_path, list_path, n_new) in record["f"].items():
        shard = catalog.shards[int(shard_str)]
        if shard.applied_seq() >= seq:
            continue
        shard.ingest_ssts(loc_path, list_path, int(n_new), seq)


def drop_staged_files(catalog: Catalog) -> None:
    """Remove staged SST files once recovery has applied everything (they are never needed again)."""
    stage = catalog.directory / STAGING
    if stage.is_dir():
        shutil.rmtree(stage, ignore_errors=True)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: os.PathLike[str] | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
