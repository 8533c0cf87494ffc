"""CPU per entry of registration through one owner, in one process, on the batches the cluster bench
sends (issue 10): the worker's share (columns from sealed-volume records, packing, columnar
preparation, pickling the batches) and one owner's share (``OwnerStore.register_batch`` on its batch
of every call, RocksDB's background compactions included), with no Ray in between::

    .venv/bin/python -m bench.owner_register_profile [--entries 2000000] [--per-volume 500000]
        [--if-absent] [--split 2500] [--profile FILE]

The keys are the cluster bench's (``https://host{i % 9973}.example/p/{i}``), grouped for 4 owners;
owner 0's batches are registered here. CPU is ``time.process_time`` of this process (every thread:
RocksDB's compaction threads too) per entry of owner 0, measured until the compactions of both its
indexes are done (``owners_rest``) and up to the last batch (``owners``, what the cluster bench's window counts).
``--if-absent``: the ``ingest warc`` path (``register_batch_if_absent`` on split-sized batches of
``--split`` records) instead of ``register_batch``.
"""
from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from operator import itemgetter
from pathlib import Path

import numpy as np


def _records(lo: int, hi: int) -> list[tuple[str, int, int, int]]:
    return [(f"https://host{i % 9973}.example/p/{i}", (i - lo) * 300, 300, i) for i in range(lo, hi)]


def _worker_share(records: list[tuple[str, int, int, int]], slot_owner: np.ndarray):
    """What :func:`ingest.packing.register_on_worker` does per volume before the owner calls."""
    from catalog.bulk_prepare import prepare_bulk_columns
    from catalog.location import pack_many

    n = len(records)
    keys = list(map(itemgetter(0), records))
    offsets, sizes, digests = (np.fromiter(map(itemgetter(j), records), np.uint64, count=n) for j in (1, 2, 3))
    packed = pack_many(np.full(n, 1, np.uint32), offsets, sizes.astype(np.uint32), digests)
    return keys, packed, prepare_bulk_columns(keys, packed, slot_owner)


def _compacting(store) -> bool:
    """Whether either index of the owner has a compaction pending or running."""
    shard = store.catalog.shards[0]
    return any(int(cf.property_int_value("rocksdb.compaction-pending") or 0)
               or int(cf.property_int_value("rocksdb.num-running-compactions") or 0)
               for cf in (shard.db, shard.listing))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=2_000_000)
    ap.add_argument("--per-volume", type=int, default=500_000)
    ap.add_argument("--if-absent", action="store_true")
    ap.add_argument("--split", type=int, default=2500, help="records per ingest split (--if-absent)")
    ap.add_argument("--profile", help="cProfile (CPU time) of the owner's calls, written here")
    args = ap.parse_args(argv)

    from catalog.catalog_meta import CatalogMeta, even_owners
    from catalog.owner_load_mode import IDLE_SECONDS
    from catalog.owner_store import OwnerStore

    meta = CatalogMeta("c-profile", 1, even_owners(4))
    slot_owner = np.zeros(4096, dtype=np.int64)
    for owner, ranges in enumerate(even_owners(4)):
        for lo, hi in ranges:
            slot_owner[lo:hi] = owner
    step = args.split if args.if_absent else args.per_volume
    worker_cpu = pickle_cpu = 0.0
    batches = []
    for at in range(0, args.entries, step):
        records = _records(at, min(args.entries, at + step))
        t = time.process_time()
        _, _, prepared = _worker_share(records, slot_owner)
        t1 = time.process_time()
        blobs = [pickle.dumps(b, protocol=5) for b in prepared.shards.values()]
        pickle_cpu += time.process_time() - t1
        worker_cpu += t1 - t
        del blobs
        batches.append(prepared.shards[0])
    owner_entries = sum(len(b) for b in batches)
    result: dict[str, object] = {"entries": args.entries, "owner0_entries": owner_entries,
                                 "path": "register_batch_if_absent" if args.if_absent else "register_batch",
                                 "worker_cpu_us_per_entry": round(1e6 * worker_cpu / args.entries, 3),
                                 "pickle_cpu_us_per_entry": round(1e6 * pickle_cpu / args.entries, 3)}
    with tempfile.TemporaryDirectory(prefix="hb-owner-profile-") as tmp:
        store = OwnerStore(Path(tmp) / "o0", 0, meta)
        store._warming.join()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
        t0, w0 = time.process_time(), time.perf_counter()
        call_cpu = 0.0
        for batch in batches:
            c = time.process_time()
            if profiler is not None:
                profiler.enable()
            if args.if_absent:
                store.register_batch_if_absent(batch, meta.epoch)
            else:
                store.register_batch(batch, meta.epoch)
            if profiler is not None:
                profiler.disable()
            call_cpu += time.process_time() - c
        t1, w1 = time.process_time(), time.perf_counter()
        time.sleep(IDLE_SECONDS + 1)  # the load mode's idle time: the triggers go back to rest
        shape = store.read_shape()
        waited = 0.0
        while _compacting(store) and waited < 300:
            time.sleep(0.5)
            waited += 0.5
        t2 = time.process_time()
        assert store.stats()["records"] == owner_entries, store.stats()
        store.close()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    result.update({"owner_calls_cpu_us_per_entry": round(1e6 * call_cpu / owner_entries, 3),
                   "owners_cpu_us_per_entry": round(1e6 * (t1 - t0) / owner_entries, 3),
                   "owners_rest_cpu_us_per_entry": round(1e6 * (t2 - t0) / owner_entries, 3),
                   "owner_wall_s": round(w1 - w0, 2), "shape_after_load": shape})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
