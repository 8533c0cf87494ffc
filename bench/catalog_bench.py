"""Catalog benchmark: bulk registration, batched and single lookups, disk use, growth, retrieval.

Side by side in one run with plain rocksdict doing the same puts (one sorted SST, default options,
ingested) and the same gets (``Rdict.get(list)``), so the ratios hold on a noisy shared machine.

    python -m bench.catalog_bench                  # 10^7 entries, growth at 10^5, 10^6, 10^7
    python -m bench.catalog_bench --entries 1000000 --growth 100000,1000000   # quicker

Writes bench/results/catalog.json and bench/results/catalog_growth.png.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rocksdict as rd

from catalog import sst_files
from catalog.bulk import BulkEntries, prepare_bulk, register_bulk
from catalog.catalog import DEFAULT_SHARDS, Catalog
from catalog.keys import canonical_key, key_id
from catalog.location import LOCATION_SIZE, pack_many, split_fixed
from catalog.manifest import Manifest
from catalog.sst_files import listing_keys, sorted_unique_order

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 100_000


def make_keys(n: int, seed: int = 7) -> list[str]:
    """URL keys over ~n/40 hosts, like a crawl: many pages per host, paths of varying depth."""
    rng = random.Random(seed)
    hosts = max(1, n // 40)
    return [f"https://h{rng.randrange(hosts)}.example{i % 17}.org/a/{rng.randrange(10**6)}/p{i}.html"
            for i in range(n)]


def synthetic_locations(n: int) -> np.ndarray:
    """Packed locations as a packer makes them: 1 GB volumes of ~8 KB records."""
    idx = np.arange(n, dtype=np.uint64)
    return pack_many((idx // 125_000 + 1).astype(np.uint32), (idx % 125_000) * np.uint64(8000),
                     np.full(n, 7900, np.uint32), idx * np.uint64(0x9E3779B97F4A7C15))


def prepare(keys: list[str]) -> tuple[BulkEntries, float]:
    """Canonicalize + hash + SURT + group by shard (the per-key work ingest workers do, one core);
    returns the entries and the seconds it took."""
    locs = synthetic_locations(len(keys))
    t0 = time.perf_counter()
    entries = prepare_bulk(keys, locs, Manifest.new(DEFAULT_SHARDS).slot_map)
    return entries, time.perf_counter() - t0


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def plain_rocksdict_load(path: Path, entries: BulkEntries) -> tuple[rd.Rdict, float, float]:
    """The same puts with plain rocksdict, default options, one process: the locations sorted into one
    SST and the listing keys sorted into another, both ingested. Returns the db, the seconds for the
    whole load, and the seconds for the location part alone."""
    t0 = time.perf_counter()
    flat_ids = b"".join(bytes(b.ids) for b in entries.shards.values())
    flat_locs = b"".join(bytes(b.locations) for b in entries.shards.values())
    raw = np.frombuffer(flat_ids, dtype=np.uint8).reshape(-1, 16)
    order = sorted_unique_order(raw)
    ids = split_fixed(raw[order].tobytes(), 16)
    vals = split_fixed(np.frombuffer(flat_locs, np.uint8).reshape(-1, LOCATION_SIZE)[order].tobytes(),
                       LOCATION_SIZE)
    opts = rd.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    writer = rd.SstFileWriter(opts)
    sst = str(path) + ".sst"
    writer.open(sst)
    for k, v in zip(ids, vals):
        writer[k] = v
    writer.finish()
    db = rd.Rdict(str(path), opts, column_families={"listing": rd.Options(raw_mode=True)})
    db.ingest_external_file([sst])
    loc_seconds = time.perf_counter() - t0
    listing = sorted(k for b in entries.shards.values() for k in listing_keys(b.listing_blob, b.listing_ends))
    lw = rd.SstFileWriter(opts)
    lw.open(sst + ".list")
    for k in listing:
        lw[k] = b""
    lw.finish()
    db.get_column_family("listing").ingest_external_file([sst + ".list"])
    seconds = time.perf_counter() - t0
    os.unlink(sst)
    os.unlink(sst + ".list")
    return db, seconds, loc_seconds


def batched_rate(fn: Any, batches: list[list[bytes]], repeats: int = 3) -> float:
    """Median keys/s over ``repeats`` passes of all batches."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = 0
        for b in batches:
            res = fn(b)
            n += len(res)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def single_latencies(fn: Any, keys: list[Any]) -> dict[str, float]:
    lat = []
    for k in keys:
        t0 = time.perf_counter_ns()
        fn(k)
        lat.append(time.perf_counter_ns() - t0)
    lat.sort()
    return {"p50_us": lat[len(lat) // 2] / 1000, "p99_us": lat[int(len(lat) * 0.99)] / 1000}


def lookup_profile(cat: Catalog, keys: list[str], id_list: list[bytes], rng: random.Random) -> dict[str, Any]:
    n = len(keys)
    pick = [rng.randrange(n) for _ in range(5 * BATCH)]
    batches = [[id_list[i] for i in pick[j:j + BATCH]] for j in range(0, len(pick), BATCH)]
    singles = [keys[rng.randrange(n)] for _ in range(20_000)]
    return {
        "batched_keys_per_s": batched_rate(cat.get_many_ids, batches),
        "single_get": single_latencies(cat.get, singles),
    }


def lookup_batch_sizes(cat: Catalog, id_list: list[bytes], rng: random.Random,
                       sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> dict[str, float]:
    """``lookup_ids`` keys/s by batch size (random keys, ~2M per size). A sorted batch's seeks land
    closer together the larger it is relative to the catalog, so bigger batches read fewer blocks."""
    n = len(id_list)
    rates: dict[str, float] = {}
    for size in sizes:
        if size > n:
            continue
        count = max(1, 2_000_000 // size)
        arrays = [np.frombuffer(b"".join(id_list[rng.randrange(n)] for _ in range(size)), dtype=np.uint8)
                  .reshape(-1, 16) for _ in range(count)]
        batched_rate(lambda a: cat.lookup_ids(a)[0], arrays[:1], repeats=1)  # warm
        rates[str(size)] = batched_rate(lambda a: cat.lookup_ids(a)[0], arrays)
    return rates


def growth_point(n: int, keys: list[str], work: Path, rng: random.Random,
                 existing: Path | None = None) -> dict[str, Any]:
    """Lookups on a catalog of ``n`` entries: cold (fresh block cache), then warm (location index
    read into the block cache first: 20,000 random single gets at 10^7 would otherwise still miss)."""
    path = existing or work / f"growth-{n}"
    if existing is None:
        entries, _ = prepare(keys[:n])
        with Catalog.open(path) as cat:
            register_bulk(cat, entries)
    id_list = [key_id(canonical_key(k)) for k in keys[:n]]
    # cold: a fresh process-level block cache (the OS page cache stays warm; we cannot drop it here);
    # warm: after Catalog.warm_cache() read the location index into it, as a serving process would
    with Catalog.open(path) as cat:
        cold = lookup_profile(cat, keys[:n], id_list, rng)
        cat.warm_cache()
        warm = lookup_profile(cat, keys[:n], id_list, rng)
    if existing is None:
        shutil.rmtree(path)
    return {"entries": n, "cold": cold, "warm": warm}


def retrieval(work: Path, rng: random.Random, records: int = 50_000, reads: int = 10_000) -> dict[str, Any]:
    """``cat`` of random records packed from 1-16 KB files (local volumes)."""
    from catalog.store import Store
    from catalog.warc_records import resource_record

    words = [w.encode() for w in "the quick brown fox jumps over a lazy dog while hay bales sit".split()]
    with Store(str(work / "retrieval")) as store:
        writer = store.writer(max_bytes=256 << 20)
        sealed = []
        for i in range(records):
            size = rng.randrange(1024, 16384)
            body = b" ".join(rng.choice(words) for _ in range(size // 4))[:size]
            key = f"file:///corpus/{i:06d}.txt"
            sealed += writer.append(key, resource_record(key, body))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s, bulk=True)
        picks = [f"file:///corpus/{rng.randrange(records):06d}.txt" for _ in range(reads)]
        lat = single_latencies(store.cat, picks)
    shutil.rmtree(work / "retrieval")
    return {"records": records, "reads": reads, "cat": lat}


def plot_growth(points: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [p["entries"] for p in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for phase, style in (("cold", "--"), ("warm", "-")):
        a.plot(ns, [p[phase]["single_get"]["p50_us"] for p in points], "o" + style, label=f"p50 {phase}")
        a.plot(ns, [p[phase]["single_get"]["p99_us"] for p in points], "s" + style, label=f"p99 {phase}")
        b.plot(ns, [p[phase]["batched_keys_per_s"] / 1e6 for p in points], "o" + style, label=phase)
    a.set(xscale="log", xlabel="entries", ylabel="single get latency (µs)", title="catalog.get latency")
    b.set(xscale="log", xlabel="entries", ylabel="M keys/s", title="batched get_many (100k keys)")
    a.legend()
    b.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--growth", default="100000,1000000,10000000")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    n = args.entries
    growth = [int(x) for x in args.growth.split(",") if int(x) <= n]
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hb-bench-catalog-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    result: dict[str, Any] = {"entries": n, "machine_cores": os.cpu_count()}
    try:
        print(f"generating {n:,} keys ...", flush=True)
        keys = make_keys(n)
        entries, prep_s = prepare(keys)
        result["prepare_entries_per_s"] = n / prep_s

        print("plain rocksdict load ...", flush=True)
        plain, plain_s, plain_loc_s = plain_rocksdict_load(work / "plain", entries)
        result["plain_register_locations_only_entries_per_s"] = n / plain_loc_s
        sst_files.warm_up(os.cpu_count() or 2)  # a long-running catalog has its writer processes started
        result["plain_register_entries_per_s"] = n / plain_s
        print("haybale bulk register ...", flush=True)
        t0 = time.perf_counter()
        with Catalog.open(work / "haybale") as cat:
            register_bulk(cat, entries)
            reg_s = time.perf_counter() - t0
            result["register_entries_per_s"] = n / reg_s
            per_cf: dict[str, int] = {}
            for shard in cat.shards:
                for cf, size in shard.disk_bytes().items():
                    per_cf[cf] = per_cf.get(cf, 0) + size
        result["disk"] = {
            "location_index_bytes_per_entry": per_cf.get("default", 0) / n,
            "listing_index_bytes_per_entry": per_cf.get("listing", 0) / n,
            "total_catalog_bytes_per_entry": dir_bytes(work / "haybale") / n,
            "plain_rocksdict_bytes_per_entry": dir_bytes(work / "plain") / n,
        }
        print("lookups ...", flush=True)
        id_list = [key_id(canonical_key(k)) for k in keys]
        pick = [rng.randrange(n) for _ in range(5 * BATCH)]
        batches = [[id_list[i] for i in pick[j:j + BATCH]] for j in range(0, len(pick), BATCH)]
        with Catalog.open(work / "haybale") as cat:
            batched_rate(cat.get_many_ids, batches[:1], repeats=1)  # warm both equally
            batched_rate(plain.get, batches[:1], repeats=1)
            hb_rate = batched_rate(cat.get_many_ids, batches)
            plain_rate = batched_rate(plain.get, batches)
            arrays = [np.frombuffer(b"".join(b), dtype=np.uint8).reshape(-1, 16) for b in batches]
            array_rate = batched_rate(lambda a: cat.lookup_ids(a)[0], arrays)
            by_batch_size = lookup_batch_sizes(cat, id_list, rng)
            str_batches = [[keys[i] for i in pick[j:j + BATCH]] for j in range(0, 2 * BATCH, BATCH)]
            str_rate = batched_rate(cat.get_many, str_batches, repeats=1)
            singles = [rng.randrange(n) for _ in range(20_000)]
            hb_single = single_latencies(cat.get, [keys[i] for i in singles])
            plain_single = single_latencies(plain.get, [id_list[i] for i in singles])
        plain.close()
        del plain
        gc.collect()
        result["lookup"] = {
            "batched_get_many_ids_keys_per_s": hb_rate,
            "batched_lookup_ids_array_keys_per_s": array_rate,
            "plain_rocksdict_get_list_keys_per_s": plain_rate,
            "ratio_vs_plain": hb_rate / plain_rate,
            "batched_get_many_str_keys_per_s": str_rate,
            "lookup_ids_keys_per_s_by_batch_size": by_batch_size,
            "single_get": hb_single,
            "plain_single_get": plain_single,
        }
        result["register_ratio_vs_plain"] = result["register_entries_per_s"] / result["plain_register_entries_per_s"]
        shutil.rmtree(work / "plain", ignore_errors=True)
        del entries, id_list
        gc.collect()

        print("growth ...", flush=True)
        points = [growth_point(g, keys, work, rng, existing=(work / "haybale" if g == n else None))
                  for g in growth]
        shutil.rmtree(work / "haybale", ignore_errors=True)
        result["growth"] = points
        if len(points) >= 2:
            result["growth_p99_ratio_last_vs_first_warm"] = (
                points[-1]["warm"]["single_get"]["p99_us"] / points[0]["warm"]["single_get"]["p99_us"])
            plot_growth(points, RESULTS / "catalog_growth.png")
        del keys
        gc.collect()
        print("retrieval ...", flush=True)
        result["retrieval"] = retrieval(work, rng)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (RESULTS / "catalog.json").write_text(json.dumps(result, indent=2))
    print_table(result)
    return result


def print_table(r: dict[str, Any]) -> None:
    lk = r["lookup"]
    rows = [
        ("entries", f"{r['entries']:,}"),
        ("prepare (canonicalize+hash+SURT, 1 core)", f"{r['prepare_entries_per_s']:,.0f} entries/s"),
        ("haybale bulk register (locations + SURT listing)", f"{r['register_entries_per_s']:,.0f} entries/s"),
        ("plain rocksdict, same puts (locations + listing)", f"{r['plain_register_entries_per_s']:,.0f} entries/s"),
        ("plain rocksdict, locations only", f"{r['plain_register_locations_only_entries_per_s']:,.0f} entries/s"),
        ("  ratio haybale / plain", f"{r['register_ratio_vs_plain']:.2f}x"),
        ("haybale batched get_many (ids, 100k batch)", f"{lk['batched_get_many_ids_keys_per_s']:,.0f} keys/s"),
        ("haybale lookup_ids (numpy array API)", f"{lk['batched_lookup_ids_array_keys_per_s']:,.0f} keys/s"),
        *((f"haybale lookup_ids, batches of {int(size):,}", f"{rate:,.0f} keys/s")
          for size, rate in lk.get("lookup_ids_keys_per_s_by_batch_size", {}).items()),
        ("plain rocksdict get(list)", f"{lk['plain_rocksdict_get_list_keys_per_s']:,.0f} keys/s"),
        ("  ratio haybale / plain", f"{lk['ratio_vs_plain']:.2f}x"),
        ("haybale get_many (URL strings, canonicalized)", f"{lk['batched_get_many_str_keys_per_s']:,.0f} keys/s"),
        ("single get p50 / p99 (haybale)", f"{lk['single_get']['p50_us']:.1f} / {lk['single_get']['p99_us']:.1f} µs"),
        ("single get p50 / p99 (plain)", f"{lk['plain_single_get']['p50_us']:.1f} / {lk['plain_single_get']['p99_us']:.1f} µs"),
        ("disk: location index", f"{r['disk']['location_index_bytes_per_entry']:.1f} B/entry"),
        ("disk: SURT listing index", f"{r['disk']['listing_index_bytes_per_entry']:.1f} B/entry"),
        ("disk: whole catalog dir", f"{r['disk']['total_catalog_bytes_per_entry']:.1f} B/entry"),
        ("disk: plain rocksdict", f"{r['disk']['plain_rocksdict_bytes_per_entry']:.1f} B/entry"),
    ]
    for p in r.get("growth", []):
        for phase in ("cold", "warm"):
            g = p[phase]
            rows.append((f"growth {p['entries']:,} {phase}",
                         f"p50 {g['single_get']['p50_us']:.1f} µs, p99 {g['single_get']['p99_us']:.1f} µs, "
                         f"{g['batched_keys_per_s']:,.0f} keys/s"))
    if "growth_p99_ratio_last_vs_first_warm" in r:
        rows.append(("p99 ratio largest / smallest (warm)", f"{r['growth_p99_ratio_last_vs_first_warm']:.2f}x"))
    rt = r["retrieval"]["cat"]
    rows.append((f"cat of {r['retrieval']['reads']:,} random records", f"p50 {rt['p50_us'] / 1000:.3f} ms, p99 {rt['p99_us'] / 1000:.3f} ms"))
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()
