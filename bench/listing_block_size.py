"""The listing index's block size side by side: SST write time (what a bulk registration pays for the
listing) and the time of an ``ls`` page (seek to a random entry, read 100), 64 KiB (main's format
before) against 1 MiB (the catalog's format), alternated round by round on the same entries.

    python -m bench.listing_block_size --entries 1000000

Writes bench/results/listing_block_size.json. Medians of the rounds; the load average is recorded
(the machine is shared, which is why the variants alternate).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import rocksdict as rd

from bench.catalog_format_options import sst_options
from bench.growth_keys import make_locations, make_urls
from catalog.bulk_prepare import prepare_bulk_columns
from catalog.manifest import NUM_SLOTS

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"64 KiB (before)": 65536, "1 MiB (catalog format)": 1 << 20}


def write_seconds(path: Path, entries: list[bytes], block: int) -> float:
    t0 = time.perf_counter()
    writer = rd.SstFileWriter(sst_options(block=block, restart=128, bloom=0, level=3))
    writer.open(str(path))
    for e in entries:
        writer[e] = b""
    writer.finish()
    return time.perf_counter() - t0


def page_ms(db_dir: Path, sst: Path, starts: list[bytes], block: int) -> list[float]:
    """Milliseconds per ``ls`` page (seek + 100 entries) from a fresh 8 MiB block cache."""
    opts = sst_options(block=block, restart=128, bloom=0, level=3)
    opts.create_if_missing(True)
    db = rd.Rdict(str(db_dir), opts)
    db.ingest_external_file([str(sst)])
    out = []
    for s in starts:
        t0 = time.perf_counter()
        it = db.iter()
        it.seek(s)
        for _ in range(100):
            if not it.valid():
                break
            it.key()
            it.next()
        del it
        out.append((time.perf_counter() - t0) * 1e3)
    db.close()
    rd.Rdict.destroy(str(db_dir))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    n = args.entries
    batch = prepare_bulk_columns(make_urls(0, n, 4_000_000), make_locations(0, n), [0] * NUM_SLOTS).shards[0]
    bounds = [0, *batch.listing_ends.tolist()]
    entries = sorted({batch.listing_blob[bounds[i]:bounds[i + 1]] for i in range(n)})
    rng = random.Random(3)
    work = Path(tempfile.mkdtemp(prefix="hb-listing-block-"))
    rounds: dict[str, dict[str, list[float]]] = {v: {"write_s": [], "page_ms_p50": [], "page_ms_p99": [],
                                                     "bytes_per_entry": []} for v in VARIANTS}
    for _ in range(args.rounds):
        starts = rng.sample(entries, 2000)
        for name, block in VARIANTS.items():
            sst = work / "l.sst"
            rounds[name]["write_s"].append(write_seconds(sst, entries, block))
            rounds[name]["bytes_per_entry"].append(sst.stat().st_size / n)
            pages = sorted(page_ms(work / "db", sst, starts, block))
            rounds[name]["page_ms_p50"].append(pages[len(pages) // 2])
            rounds[name]["page_ms_p99"].append(pages[int(len(pages) * 0.99)])
            if sst.exists():
                sst.unlink()
    result: dict[str, Any] = {"entries": n, "rounds": args.rounds, "load_average": os.getloadavg()[0],
                              "command": f"python -m bench.listing_block_size --entries {n}", "variants": {}}
    for name, r in rounds.items():
        result["variants"][name] = {k: statistics.median(v) for k, v in r.items()} | {"rounds": r}
        print(name, {k: round(statistics.median(v), 3) for k, v in r.items()}, flush=True)
    base, new = (result["variants"][v] for v in VARIANTS)
    result["write_time_ratio_new_over_old"] = new["write_s"] / base["write_s"]
    print("write time 1 MiB / 64 KiB:", round(result["write_time_ratio_new_over_old"], 2), "load", result["load_average"])
    work.rmdir()
    (RESULTS / "listing_block_size.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
