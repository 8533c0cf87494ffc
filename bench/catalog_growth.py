"""Catalog growth: one owner's catalog grown through the registration path ingest uses, measured at
each size — bytes per entry of the whole directory, single-get latency, batched lookups.

    python -m bench.catalog_growth                            # quick: 10^5, 10^6
    python -m bench.catalog_growth --max-entries 100000000    # the full run: 10^5 ... 10^8 (hours)

The path: worker processes (as ingest's split tasks do) generate crawl-like URLs and locations
(:mod:`bench.growth_keys`) and run :func:`catalog.bulk_prepare.prepare_bulk_columns` (canonicalize,
hash, listing entry, sort, on whole columns: what the workers' registration uses); the owner registers each batch with :meth:`catalog.owner_store.OwnerStore.register_batch`
(SST files + ingest for big batches, existence checks against what is there). One owner serves all
4096 slots: this is the size of one owner at the target scale (deploy/SCALING.md).

The owners are measured as they serve: the process runs as owner actors do (malloc in huge pages,
:func:`catalog.owner_cache.owner_process_env`; the bench re-runs itself so), and at each size the
location index is first compacted into one sorted run, as an owner does by itself once writes stop
(:mod:`catalog.owner_settle`; ``--no-owner-settle`` measures it as registration left it).

At each size, after RocksDB reports no pending or running compaction: bytes of the whole owner
directory (SST files of every column family, journal, manifest, logs) and per column family; the
filter and index block bytes (what must stay in memory); single ``Catalog.get`` latency of random
registered keys (warm-up pass, then three rounds of 20,000; median of the rounds' p50 / p99) and of
absent keys; ``OwnerStore.lookup`` of 80,000 random ids (sorted), keys/s; and warm gets alternated
round by round with a reference owner holding the first 10^5 entries (:func:`back_to_back`: the p99
target's ratio, measured in the same process state). Results are written after every
size (bench/results/catalog_growth_1e8.json and .png for the full run, _1e6 for the quick one), so a
long run that is stopped keeps what it measured; a stopped run's directory (``--keep``, or left by a
killed run) is measured with ``--remeasure DIR`` (``--cache-bytes`` sets the owners' block cache);
a remeasure also alternates rounds of keys no round read before, each after 5 s idle
(``back_to_back_fresh_idle``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bench.catalog_bench import single_latencies
from bench.growth_keys import make_locations, make_urls
from catalog.bulk import ShardBatch
from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta
from catalog.keys import canonical_key, key_id
from catalog.listing import key_of_listing_entry
from catalog.manifest import NUM_SLOTS
from catalog.owner_cache import CACHE_ENV, owner_process_env
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
    """Worker side: make a chunk's URLs and locations and prepare them as ingest workers do
    (:func:`catalog.bulk_prepare.prepare_bulk_columns`, what ``OwnedCatalog.register_bulk_entries``
    and the workers' ``register_on_worker`` use; same result as ``prepare_bulk``). Returns the
    one-owner batch, a sample of its keys, and the seconds the preparation took."""
    keys = make_urls(start, count, host_pool)
    locations = make_locations(start, count)
    t0 = time.perf_counter()
    entries = prepare_bulk_columns(keys, locations, [0] * NUM_SLOTS)
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


def measure(owner: OwnerStore, n: int, picks: list[str], rng: random.Random, gets: int = 20_000,
            owner_settles: bool = True) -> dict[str, Any]:
    """The figures at one size (see the module docstring): ``picks`` are random registered keys
    (at least 7 × ``gets``), ``gets`` single gets per round. With ``owner_settles`` the location index
    is first compacted into one sorted run, as an owner actor does by itself once no write came for
    ``HAYBALE_OWNER_SETTLE_SECONDS`` (:mod:`catalog.owner_settle`): the state a serving owner is read in.

    Cold: the owner as registration left it (its block cache holds what the writes and the
    existence checks touched; the files compaction just wrote may not be in the page cache): one
    round to warm up, then three. Warm: after ``Catalog.warm_cache()`` read the location index once
    (the block cache keeps what fits, the page cache the rest), as a serving owner would; three
    rounds. ``get_p50_us`` / ``get_p99_us`` are the warm figures, medians of the rounds."""
    settle_s = settle(owner)
    owner_settle_s = None
    # what a serving owner does by itself once writes stop, if its index is not one sorted run already
    # (catalog/owner_settle.py)
    if owner_settles and not owner.read_shape().get("seeks"):
        t0 = time.perf_counter()
        owner.compact_index(owner.epoch)
        owner_settle_s = round(time.perf_counter() - t0, 1)
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
        "owner_settle_seconds": owner_settle_s, "read_shape": owner.read_shape(),
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


def back_to_back(ref: OwnerStore, ref_keys: list[str], owner: OwnerStore, picks: list[str],
                 gets: int, rounds: int = 5, pause_s: float = 0.0, fresh: bool = False) -> dict[str, Any]:
    """Warm single gets on the reference 10^5-entry owner and on the grown owner, alternated round by
    round in the same process state (the machine is shared: a ratio of runs minutes apart measures
    the load more than the catalog). Both owners' location indexes were read by ``warm_cache``
    before. Returns every round's (p50, p99) and the medians, and the p99 ratio grown / reference.

    By default each round samples ``picks``, which earlier rounds have mostly read already. With
    ``fresh`` each round of the grown owner takes the next ``gets`` keys of ``picks`` (no key read
    twice), and ``pause_s`` idles before every round: how an owner serving few gets meets its cache
    (on this VM, memory idle for seconds reads slowly the first time: ``bench.vm_memory_reads``)."""
    rng = random.Random(11)
    ref_rounds, big_rounds = [], []
    for r in range(rounds):
        time.sleep(pause_s)
        ref_rounds.append(latencies(ref.catalog.get, rng.sample(ref_keys, gets)))
        time.sleep(pause_s)
        keys = picks[r * gets:(r + 1) * gets] if fresh else rng.sample(picks, gets)
        big_rounds.append(latencies(owner.catalog.get, keys))
    ref_p99 = statistics.median(p for _, p in ref_rounds)
    big_p99 = statistics.median(p for _, p in big_rounds)
    return {"rounds": rounds, "gets_per_round": gets,
            "reference_rounds_us": ref_rounds, "grown_rounds_us": big_rounds,
            "reference_p50_us": statistics.median(p for p, _ in ref_rounds), "reference_p99_us": ref_p99,
            "grown_p50_us": statistics.median(p for p, _ in big_rounds), "grown_p99_us": big_p99,
            "p99_ratio": big_p99 / ref_p99,
            "p99_ratio_of_rounds_median": statistics.median(b[1] / a[1] for a, b in zip(ref_rounds, big_rounds)),
            "pause_seconds": pause_s, "fresh_keys": fresh, "load_average": os.getloadavg()[0]}


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
    b2b = [p for p in points if "back_to_back_with_1e5" in p]
    if b2b:  # the target's comparison: the 10^5 reference owner measured in the same rounds
        b.plot([p["entries"] for p in b2b], [p["back_to_back_with_1e5"]["grown_p99_us"] for p in b2b],
               "P-", label="get p99, warm, alternated with 10^5")
        b.plot([p["entries"] for p in b2b], [p["back_to_back_with_1e5"]["reference_p99_us"] for p in b2b],
               "x:", label="10^5 reference p99 in those rounds")
    for p in points:  # a point measured again with another block cache than the run's
        if p.get("cache_bytes") and p["cache_bytes"] != 256 << 20:
            b.annotate(f"{p['cache_bytes'] >> 20} MiB block cache", (p["entries"], p["get_p99_us"]),
                       textcoords="offset points", xytext=(-60, 20), fontsize=8, arrowprops={"arrowstyle": "->"})
    b.set(xscale="log", yscale="log", xlabel="entries", ylabel="µs",
          title="single get latency (one owner, 256 MiB block cache unless marked)")
    b.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def reference_owner(directory: Path, meta: CatalogMeta, n: int, host_pool: int,
                    cache_bytes: int, owner_settles: bool = True) -> tuple[OwnerStore, list[str]]:
    """The p99 target's reference: the first ``n`` (10^5) entries of the run in an owner of their
    own, settled and read once by ``warm_cache``; returns it and its keys."""
    ref = OwnerStore(directory, 0, meta, cache_bytes=cache_bytes)
    keys = make_urls(0, n, host_pool)
    batch, _, _ = prepare_chunk(0, n, host_pool)
    ref.register_batch(batch, ref.epoch)
    settle(ref)
    if owner_settles:
        ref.compact_index(ref.epoch)
    ref.catalog.warm_cache()
    return ref, keys


def remeasure(directory: Path, out: Path, gets: int, cache_bytes: int, owner_settles: bool = True) -> dict[str, Any]:
    """Measure an owner directory a growth run left (``--keep``, or a run stopped before its next
    size) and add the point to ``out``'s ``remeasured`` list: its keys are sampled from its listing;
    the 10^5 reference owner is built beside it (in a temp dir) for the back-to-back rounds."""
    result = json.loads(out.read_text()) if out.exists() else {"points": []}
    meta = CatalogMeta(catalog_id="growth-bench", epoch=1, owners=ONE_OWNER)
    owner = OwnerStore(directory, 0, meta, create=False, cache_bytes=cache_bytes)
    ref_dir = Path(tempfile.mkdtemp(prefix="hb-bench-growth-ref-"))
    ref, ref_keys = reference_owner(ref_dir / "owner-ref-1e5", meta, 100_000,
                                    int(result.get("host_pool", 4_000_000)), cache_bytes, owner_settles)
    try:
        rng = random.Random(6)
        sample = sample_from_listing(owner, 12 * gets, rng)
        picks, unread = sample[:7 * gets], sample[7 * gets:]
        n = owner.catalog.shards[0].count()
        point = measure(owner, n, (picks * 7)[:7 * gets], rng, gets, owner_settles)
        point["back_to_back_with_1e5"] = back_to_back(ref, ref_keys, owner, picks, gets)
        # keys no round read before, 5 s idle before each round (see back_to_back)
        point["back_to_back_fresh_idle"] = back_to_back(ref, ref_keys, owner, unread, gets, pause_s=5.0, fresh=True)
    finally:
        owner.close()
        ref.close()
        shutil.rmtree(ref_dir, ignore_errors=True)
    point["sampled_from_listing"] = True
    point["cache_bytes"] = cache_bytes
    point["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    result.setdefault("remeasured", []).append(point)
    out.write_text(json.dumps(result, indent=2))
    plot(sorted(result["points"] + result["remeasured"], key=lambda p: p["entries"]), out.with_suffix(".png"))
    print(json.dumps(point, indent=2), flush=True)
    return result


def as_owner_process(argv: list[str] | None, cache_bytes: int) -> None:
    """Re-run this bench in a process started as owner actors given this block cache are
    (:func:`catalog.owner_cache.owner_process_env`: malloc in huge pages from 1 GiB of cache), unless
    it already is; both the grown and the reference owner live in it."""
    env = owner_process_env({**os.environ, CACHE_ENV: str(cache_bytes >> 20)})
    if env and os.environ.get("GLIBC_TUNABLES") != env["GLIBC_TUNABLES"]:
        args = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, "-m", "bench.catalog_growth", *args], {**os.environ, **env})


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
    ap.add_argument("--cache-bytes", type=int, default=256 << 20,
                    help="each owner's block cache (OwnerStore's default 256 MiB; a serving owner sized for "
                         "warm gets holds its whole location index, deploy/SCALING.md)")
    ap.add_argument("--no-owner-settle", dest="owner_settles", action="store_false",
                    help="measure the index as registration and RocksDB's own compactions leave it, not "
                         "compacted into one run as an owner does once writes stop (the default)")
    args = ap.parse_args(argv)
    as_owner_process(argv, args.cache_bytes)
    if args.remeasure:
        return remeasure(Path(args.remeasure), Path(args.out or RESULTS / "catalog_growth_1e8.json"), args.gets,
                         args.cache_bytes, args.owner_settles)
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
                              "cache_bytes": args.cache_bytes, "owner_settles": args.owner_settles,
                              "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                              "command": " ".join(["python -m bench.catalog_growth", *(sys.argv[1:] if argv is None else argv)])}
    meta = CatalogMeta(catalog_id="growth-bench", epoch=1, owners=ONE_OWNER)
    owner = OwnerStore(work / "owner-0000", 0, meta, cache_bytes=args.cache_bytes)
    # the reference for the p99 target: the first 10^5 entries in an owner of their own, kept open
    # and measured back to back with the grown owner at every size (back_to_back)
    ref, ref_keys = reference_owner(work / "owner-ref-1e5", meta, min(100_000, args.max_entries), host_pool,
                                    args.cache_bytes, args.owner_settles)
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
                    point = measure(owner, reached, picks, rng, args.gets, args.owner_settles)
                    point["register_entries_per_s_so_far"] = reached / register_s
                    point["prepare_entries_per_s_per_worker"] = reached / prepare_s
                    point["elapsed_s"] = round(time.perf_counter() - t_start, 1)
                    point["back_to_back_with_1e5"] = back_to_back(ref, ref_keys, owner, picks, args.gets)
                    result["points"].append(point)
                    print(f"{reached:>12,} entries: {point['bytes_per_entry']:.2f} B/entry "
                          f"(location {point['cf_bytes_per_entry']['default']:.2f}, listing "
                          f"{point['cf_bytes_per_entry']['listing']:.2f}); get p50/p99 "
                          f"{point['get_p50_us']:.1f}/{point['get_p99_us']:.1f} µs; miss p99 "
                          f"{point['miss_p99_us']:.1f} µs; lookup {point['lookup_keys_per_s']:,.0f} keys/s; "
                          f"p99 / 10^5 back to back {point['back_to_back_with_1e5']['p99_ratio']:.2f}; "
                          f"load {point['load_average']:.1f}", flush=True)
                    first = result["points"][0]
                    result["p99_ratio_last_to_first"] = point["get_p99_us"] / first["get_p99_us"]
                    out.write_text(json.dumps(result, indent=2))
                    plot(result["points"], out.with_suffix(".png"))
    finally:
        owner.close()
        ref.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
