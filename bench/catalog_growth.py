"""Catalog growth: one owner's catalog grown through the registration path ingest uses, measured at
each size — bytes per entry of the whole directory, single-get latency, batched lookups.

    python -m bench.catalog_growth                            # quick: 10^5, 10^6
    python -m bench.catalog_growth --max-entries 100000000    # the full run: 10^5 ... 10^8 (hours)

The path: worker processes (as ingest's split tasks do) generate crawl-like URLs and locations
(:mod:`bench.growth_keys`) and run :func:`catalog.bulk.prepare_bulk` (canonicalize, hash, listing
entry, sort); the owner registers each batch with :meth:`catalog.owner_store.OwnerStore.register_batch`
(SST files + ingest for big batches, existence checks against what is there). One owner serves all
4096 slots: this is the size of one owner at the target scale (deploy/SCALING.md).

At each size, after RocksDB reports no pending or running compaction: bytes of the whole owner
directory (SST files of every column family, journal, manifest, logs) and per column family; the
filter and index block bytes (what must stay in memory); single ``Catalog.get`` latency of random
registered keys (warm-up pass, then three rounds of 20,000; median of the rounds' p50 / p99) and of
absent keys; ``OwnerStore.lookup`` of 80,000 random ids (sorted), keys/s. Results are written after every
size (bench/results/catalog_growth_1e8.json and .png for the full run, _1e6 for the quick one), so a
long run that is stopped keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bench.catalog_bench import single_latencies
from bench.growth_keys import make_locations, make_urls
from catalog.bulk import ShardBatch, prepare_bulk
from catalog.catalog_meta import CatalogMeta
from catalog.keys import canonical_key, key_id
from catalog.listing import key_of_listing_entry
from catalog.manifest import NUM_SLOTS
from catalog.owner_store import OwnerStore

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 500_000  # entries per registration batch (one split's batch to one owner)
SAMPLE_PER_CHUNK = 2_000
ONE_OWNER = [[[0, NUM_SLOTS]]]


def chunks_for(sizes: list[int]) -> list[tuple[int, int]]:
    """(start, count) batches that end exactly at every measured size."""
    out: list[tuple[int, int]] = []
    start = 0
    for size in sizes:
        while start < size:
            count = min(CHUNK, size - start)
            out.append((start, count))
            start += count
    return out


def prepare_chunk(start: int, count: int, host_pool: int) -> tuple[ShardBatch, list[str], float]:
    """Worker side: make a chunk's URLs and locations and prepare them as ingest workers do.
    Returns the one-owner batch, a sample of its keys, and the seconds prepare_bulk took."""
    keys = make_urls(start, count, host_pool)
    locations = make_locations(start, count)
    t0 = time.perf_counter()
    entries = prepare_bulk(keys, locations, [0] * NUM_SLOTS)
    seconds = time.perf_counter() - t0
    sample = random.Random(start).sample(keys, min(SAMPLE_PER_CHUNK, count))
    return entries.shards[0], sample, seconds


def settle(owner: OwnerStore, limit_s: float = 3600.0) -> float:
    """Wait until RocksDB has no pending or running compaction; returns the seconds waited."""
    db = owner.catalog.shards[0].db
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        busy = [int(cf.property_int_value(p) or 0) for cf in (db, owner.catalog.shards[0].listing)
                for p in ("rocksdb.compaction-pending", "rocksdb.num-running-compactions",
                          "rocksdb.num-running-flushes")]
        if not any(busy):
            break
        time.sleep(1.0)
    return time.perf_counter() - t0


def table_memory(owner: OwnerStore) -> dict[str, int]:
    """Filter and index block bytes of the live SST files, summed over column families."""
    shard = owner.catalog.shards[0]
    out = {"filter_bytes": 0, "index_bytes": 0}
    for cf in (shard.db, shard.listing):
        text = cf.property_value("rocksdb.aggregated-table-properties") or ""
        for part in text.split(";"):
            name, _, value = part.strip().partition("=")
            if name.strip() == "filter block size":
                out["filter_bytes"] += int(value)
            elif name.strip().startswith("index block size"):  # "index block size (user-key? 1, ...)"
                out["index_bytes"] += int(value)
    return out


def latencies(fn: Any, keys: list[str]) -> tuple[float, float]:
    """(p50, p99) in µs of ``fn(key)`` over ``keys`` (bench.catalog_bench's measurement)."""
    lat = single_latencies(fn, keys)
    return lat["p50_us"], lat["p99_us"]


def sample_from_listing(owner: OwnerStore, k: int, rng: random.Random) -> list[str]:
    """``k`` registered keys, a systematic sample of the listing index (for a catalog this process
    did not grow: ``--remeasure``)."""
    n = owner.catalog.shards[0].count()
    stride = max(1, n // k)
    first = rng.randrange(stride)
    out = [key_of_listing_entry(e) for i, e in enumerate(owner.catalog.shards[0].scan_listing(b"", None, chunk=1 << 16))
           if i % stride == first]
    rng.shuffle(out)
    return out[:k]


def measure(owner: OwnerStore, n: int, picks: list[str], rng: random.Random, gets: int = 20_000) -> dict[str, Any]:
    """The figures at one size (see the module docstring): ``picks`` are random registered keys
    (at least 7 × ``gets``), ``gets`` single gets per round.

    Cold: the owner as registration left it (its block cache holds what the writes and the
    existence checks touched; the files compaction just wrote may not be in the page cache): one
    round to warm up, then three. Warm: after ``Catalog.warm_cache()`` read the location index once
    (the block cache keeps what fits, the page cache the rest), as a serving owner would; three
    rounds. ``get_p50_us`` / ``get_p99_us`` are the warm figures, medians of the rounds."""
    settle_s = settle(owner)
    shard = owner.catalog.shards[0]
    count = shard.count()
    total = sum(f.stat().st_size for f in owner.directory.rglob("*") if f.is_file())
    per_cf = shard.disk_bytes()
    absent = [f"https://absent{rng.randrange(10**9)}.example.net/x/{i}" for i in range(gets)]
    get = owner.catalog.get
    latencies(get, picks[:gets])
    cold = [latencies(get, picks[gets * r:gets * (r + 1)]) for r in (1, 2, 3)]
    t0 = time.perf_counter()
    owner.catalog.warm_cache()
    warm_s = time.perf_counter() - t0
    warm = [latencies(get, picks[gets * r:gets * (r + 1)]) for r in (4, 5, 6)]
    miss_rounds = [latencies(owner.catalog.exists, absent) for _ in range(3)]
    ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in picks[:4 * gets]), np.uint8).reshape(-1, 16)
    ids = ids[np.lexsort(ids.T[::-1])]
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        found, _ = owner.lookup(ids, owner.epoch)
        rates.append(len(ids) / (time.perf_counter() - t0))
    if not found.all():
        raise AssertionError(f"{int((~found).sum())} registered keys not found at {n:,} entries")
    return {
        "entries": n, "catalog_count": count, "settle_seconds": round(settle_s, 1),
        "bytes_per_entry": total / count,
        "cf_bytes_per_entry": {k: v / count for k, v in per_cf.items()},
        "memory_bytes_per_entry": {k: v / count for k, v in table_memory(owner).items()},
        "cold_get_p50_us": statistics.median(r[0] for r in cold),
        "cold_get_p99_us": statistics.median(r[1] for r in cold),
        "cold_rounds_us": cold,
        "warm_cache_seconds": round(warm_s, 1),
        "get_p50_us": statistics.median(r[0] for r in warm),
        "get_p99_us": statistics.median(r[1] for r in warm),
        "get_rounds_us": warm,
        "miss_p50_us": statistics.median(r[0] for r in miss_rounds),
        "miss_p99_us": statistics.median(r[1] for r in miss_rounds),
        "lookup_keys_per_s": statistics.median(rates),
        "load_average": os.getloadavg()[0],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def plot(points: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [p["entries"] for p in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(ns, [p["bytes_per_entry"] for p in points], "o-", label="whole owner directory")
    a.plot(ns, [p["cf_bytes_per_entry"]["default"] for p in points], "s--", label="location index")
    a.plot(ns, [p["cf_bytes_per_entry"]["listing"] for p in points], "^--", label="listing index")
    a.axhline(40, color="grey", lw=0.8, ls=":", label="target 40 B")
    a.set(xscale="log", xlabel="entries", ylabel="bytes / entry", title="catalog size per entry")
    a.legend()
    # cold = after one warm-up round (what points of the first version called get_*); warm = after
    # warm_cache(), measured from the second version on
    b.plot(ns, [p.get("cold_get_p50_us", p["get_p50_us"]) for p in points], "o-", label="get p50, cold")
    b.plot(ns, [p.get("cold_get_p99_us", p["get_p99_us"]) for p in points], "s-", label="get p99, cold")
    warm = [p for p in points if "cold_get_p99_us" in p]
    if warm:
        b.plot([p["entries"] for p in warm], [p["get_p99_us"] for p in warm], "D:", label="get p99, warm")
    b.plot(ns, [p["miss_p99_us"] for p in points], "^--", label="absent key p99")
    b.set(xscale="log", yscale="log", xlabel="entries", ylabel="µs", title="single get latency (one owner)")
    b.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def remeasure(directory: Path, out: Path, gets: int) -> dict[str, Any]:
    """Measure an owner directory a growth run left (``--keep``, or a run stopped before its next
    size) and add the point to ``out``'s ``remeasured`` list: its keys are sampled from its listing."""
    result = json.loads(out.read_text()) if out.exists() else {"points": []}
    meta = CatalogMeta(catalog_id="growth-bench", epoch=1, owners=ONE_OWNER)
    owner = OwnerStore(directory, 0, meta, create=False)
    try:
        rng = random.Random(6)
        picks = sample_from_listing(owner, 7 * gets, rng)
        n = owner.catalog.shards[0].count()
        point = measure(owner, n, (picks * 7)[:7 * gets], rng, gets)
    finally:
        owner.close()
    point["sampled_from_listing"] = True
    result.setdefault("remeasured", []).append(point)
    out.write_text(json.dumps(result, indent=2))
    plot(sorted(result["points"] + result["remeasured"], key=lambda p: p["entries"]), out.with_suffix(".png"))
    print(json.dumps(point, indent=2), flush=True)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-entries", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2, help="processes preparing batches (ingest workers)")
    ap.add_argument("--workdir", default=None, help="where the owner directory grows (default: a temp dir)")
    ap.add_argument("--gets", type=int, default=20_000, help="single gets per measured round")
    ap.add_argument("--keep", action="store_true", help="keep the catalog directory afterwards")
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/catalog_growth_<max>.json; "
                    "the plot goes beside it as .png)")
    ap.add_argument("--remeasure", default=None, metavar="OWNER_DIR",
                    help="only measure this owner directory (left by a run) and add it to --out")
    args = ap.parse_args(argv)
    if args.remeasure:
        return remeasure(Path(args.remeasure), Path(args.out or RESULTS / "catalog_growth_1e8.json"), args.gets)
    sizes = [s for s in (100_000, 1_000_000, 10_000_000, 30_000_000, 100_000_000, 1_000_000_000)
             if s <= args.max_entries]
    if args.max_entries not in sizes:
        sizes.append(args.max_entries)  # a size between the decades is measured too (e.g. small test runs)
    host_pool = max(1000, args.max_entries // 25)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hb-bench-growth-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out or RESULTS / f"catalog_growth_{args.max_entries:.0e}.json".replace("+0", ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"max_entries": args.max_entries, "host_pool": host_pool, "chunk": CHUNK,
                              "workers": args.workers, "machine_cores": os.cpu_count(), "points": [],
                              "command": "python -m bench.catalog_growth --max-entries " + str(args.max_entries)}
    meta = CatalogMeta(catalog_id="growth-bench", epoch=1, owners=ONE_OWNER)
    owner = OwnerStore(work / "owner-0000", 0, meta)
    rng = random.Random(5)
    samples: list[tuple[int, list[str]]] = []
    register_s = prepare_s = 0.0
    t_start = time.perf_counter()
    try:
        plan = chunks_for(sizes)
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            pending: list[tuple[tuple[int, int], Future[Any]]] = []
            next_chunk = 0
            done = 0
            while done < len(plan):
                while next_chunk < len(plan) and len(pending) < args.workers + 1:
                    start, count = plan[next_chunk]
                    pending.append(((start, count), pool.submit(prepare_chunk, start, count, host_pool)))
                    next_chunk += 1
                (start, count), fut = pending.pop(0)
                batch, sample, seconds = fut.result()
                prepare_s += seconds
                t0 = time.perf_counter()
                added, updated, unchanged = owner.register_batch(batch, owner.epoch)
                register_s += time.perf_counter() - t0
                if added != count:
                    raise AssertionError(f"chunk at {start}: {added} added, {updated} updated, "
                                         f"{unchanged} unchanged of {count}")
                samples.append((count, sample))
                done += 1
                reached = start + count
                if reached in sizes:
                    weights = [c for c, _ in samples]
                    picks = [rng.choice(smp) for _, smp in rng.choices(samples, weights=weights, k=7 * args.gets)]
                    point = measure(owner, reached, picks, rng, args.gets)
                    point["register_entries_per_s_so_far"] = reached / register_s
                    point["prepare_entries_per_s_per_worker"] = reached / prepare_s
                    point["elapsed_s"] = round(time.perf_counter() - t_start, 1)
                    result["points"].append(point)
                    print(f"{reached:>12,} entries: {point['bytes_per_entry']:.2f} B/entry "
                          f"(location {point['cf_bytes_per_entry']['default']:.2f}, listing "
                          f"{point['cf_bytes_per_entry']['listing']:.2f}); get p50/p99 "
                          f"{point['get_p50_us']:.1f}/{point['get_p99_us']:.1f} µs; miss p99 "
                          f"{point['miss_p99_us']:.1f} µs; lookup {point['lookup_keys_per_s']:,.0f} keys/s; "
                          f"load {point['load_average']:.1f}", flush=True)
                    first = result["points"][0]
                    result["p99_ratio_last_to_first"] = point["get_p99_us"] / first["get_p99_us"]
                    out.write_text(json.dumps(result, indent=2))
                    plot(result["points"], out.with_suffix(".png"))
    finally:
        owner.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
