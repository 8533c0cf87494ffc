"""Registering a batch of new captures at the owners in one round trip: written where the key is absent,
handed back where it is not (issue 10: ``ingest warc`` registering from its workers).

:mod:`catalog.owner_captures` writes each key only if the catalog still holds the location the writer
decided against, which needs a lookup first (one round trip) and a per-key check and write (Python per
key at the owner). Most captures of an ingest are of URLs the catalog does not hold yet; for those the
decision needs no lookup — absent means "write it" — so the writer sends them as prepared, sorted
per-owner batches (:func:`catalog.bulk_prepare.prepare_bulk_columns`), and each owner, in one step,
looks the batch's ids up, writes the absent ones (:meth:`OwnerStore.register_batch`: SST ingest for
big batches, the journal for small ones) and returns the ids it found with their stored locations. The
writer decides those few against what the catalog holds, as before, with conditional writes.

The check and the write are one step at the owner (owner actor calls run one at a time; in this process
:data:`catalog.owner_captures._IN_PROCESS` serializes them), so a capture another job registered
meanwhile is never overwritten blindly: it comes back as found.

Owner side: :func:`register_batch_if_absent` (the owner method of the same name). Client side:
:func:`register_if_absent`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from catalog.bulk import ShardBatch
from catalog.catalog_writes import RegisterResult
from catalog.location import LOCATION_SIZE, Location

SST_MIN = 2048  # absent keys written as SST files from this many on (fewer: the owner's journal)


def subset_batch(batch: ShardBatch, keep: np.ndarray) -> ShardBatch:
    """The rows of ``batch`` where ``keep`` (a bool mask) is true, in the same (sorted) order."""
    rows = np.flatnonzero(keep)
    ids = np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)[rows]
    locations = np.frombuffer(batch.locations, np.uint8).reshape(-1, LOCATION_SIZE)[rows]
    ends = np.asarray(batch.listing_ends, dtype=np.int64)
    begins = np.concatenate([np.zeros(1, np.int64), ends[:-1]])
    sizes = (ends - begins)[rows]
    blob = np.frombuffer(batch.listing_blob, np.uint8)
    if len(rows):
        # gather the kept listing entries: one index per byte (entries are short keys)
        starts = np.repeat(begins[rows] - np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)[:-1]]), sizes)
        picked = blob[np.arange(int(sizes.sum()), dtype=np.int64) + starts].tobytes()
    else:
        picked = b""
    return ShardBatch(ids=ids.tobytes(), locations=locations.tobytes(), listing_blob=picked,
                      listing_ends=np.cumsum(sizes))


def register_batch_if_absent(store: Any, batch: ShardBatch, epoch: int
                             ) -> tuple[tuple[int, int, int], bytes, bytes]:
    """Owner side: write the entries of ``batch`` whose ids the owner does not hold; return ((added,
    updated, unchanged) of what was written, the ids found (16 bytes each, concatenated), their stored
    locations (packed, concatenated, same order)). ``store``: an :class:`~catalog.owner_store.OwnerStore`."""
    from catalog.owner_captures import _IN_PROCESS

    ids = np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)
    # the owner's write lock after _IN_PROCESS (always this order): the filter that answers for absent
    # ids stays true until they are written
    with _IN_PROCESS, store.writes_held():
        found, values = store.lookup_for_write(ids, epoch)  # checks the epoch and that the ids are this owner's
        absent = ~found
        counts = _write(store, batch if absent.all() else subset_batch(batch, absent), epoch) if absent.any() \
            else (0, 0, 0)
    return counts, ids[found].tobytes(), np.ascontiguousarray(values[found]).tobytes()


def _write(store: Any, batch: ShardBatch, epoch: int) -> tuple[int, int, int]:
    """Write a batch of absent keys: as SST files from :data:`SST_MIN` entries (an ingest split's share
    of an owner is thousands of keys: the journal path costs Python per key), else through the owner's
    :meth:`register_batch`."""
    if len(batch) < SST_MIN:
        return store.register_batch(batch, epoch)
    ids = np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)
    store.check(epoch, ids)
    r = store.register_batch_sst(batch)
    if getattr(store, "edit_log", None) is not None:  # keys registered again after a recent delete
        from catalog.listing import key_of_listing_entry

        store.edit_log.log_registrations(store.catalog, ids, lambda i: key_of_listing_entry(batch.listing_at(i)))
    return r.added, r.updated, r.unchanged


def register_if_absent(catalog: Any, keys: Sequence[str], locations: np.ndarray
                       ) -> tuple[RegisterResult, dict[bytes, Location]]:
    """Client side: register (canonical key, packed location) pairs whose keys are all different
    through ``catalog``'s owners (an :class:`~catalog.owned_catalog.OwnedCatalog`), one prepared batch
    per owner, all at once; each key is written only if its owner does not hold it. Returns what was
    written and, for the keys found instead (not written), their stored locations by key id."""
    from catalog.bulk_prepare import prepare_bulk_columns
    from catalog.owner_endpoints import _gather

    catalog._require_writable()
    if not len(keys):
        return RegisterResult(0, 0, 0), {}

    def run() -> tuple[RegisterResult, dict[bytes, Location]]:
        catalog.ensure()
        prepared = prepare_bulk_columns(keys, locations, catalog._slot_owner)
        answers = _gather([catalog._call(o, "register_batch_if_absent", batch, catalog.meta.epoch)
                           for o, batch in prepared.shards.items() if len(batch)])
        found: dict[bytes, Location] = {}
        for _, ids, values in answers:
            for i in range(len(ids) // 16):
                found[ids[i * 16:(i + 1) * 16]] = Location.unpack(values[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE])
        return RegisterResult(sum(a[0][0] for a in answers), sum(a[0][1] for a in answers),
                              sum(a[0][2] for a in answers)), found
    out = catalog._routed(run)
    catalog.writes_applied += 1
    return out
