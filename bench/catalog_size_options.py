"""Where a catalog entry's bytes go: one shard's location and listing SST files written with table
options side by side (the options catalog/column_families.py chose, and the alternatives measured).

    python -m bench.catalog_size_options                      # 2*10^6 keys -> one ~500k-entry shard
    python -m bench.catalog_size_options --entries 4000000

The keys are bench/catalog_bench.py's synthetic crawl URLs; each variant writes the same sorted entries
of shard 0 into one SST file with ``rd.SstFileWriter`` (as bulk registration does) and reports its
size per entry. Writes bench/results/catalog_size_options.json.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rocksdict as rd

from bench.catalog_bench import RESULTS, make_keys, prepare
from catalog.location import LOCATION_SIZE
from catalog.sst_files import sorted_unique_order

LOCATION_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("before: 16 KiB, hash index, restart 16, bloom 10, zstd 1", {}),
    ("no hash index", {"hash_index": False}),
    ("restart 32", {"restart": 32}),
    ("chosen: no hash index, restart 32", {"hash_index": False, "restart": 32}),
    ("no hash index, restart 64", {"hash_index": False, "restart": 64}),
    ("no hash index, 64 KiB, restart 64, zstd 3", {"hash_index": False, "block": 65536, "restart": 64, "level": 3}),
    ("no hash index, restart 32, zstd 6", {"hash_index": False, "restart": 32, "level": 6}),
    ("no hash index, restart 32, bloom 8", {"hash_index": False, "restart": 32, "bloom": 8}),
    ("no bloom (for scale: the filter's share)", {"bloom": 0}),
]
LISTING_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("before: 16 KiB, restart 16, zstd 1", {}),
    ("restart 64", {"restart": 64}),
    ("64 KiB", {"block": 65536}),
    ("64 KiB, restart 64", {"block": 65536, "restart": 64}),
    ("chosen: 64 KiB, restart 128, zstd 3", {"block": 65536, "restart": 128, "level": 3}),
    ("zstd 3", {"level": 3}),
    ("zstd dictionary 16 KiB", {"dict_bytes": 16384}),
    ("64 KiB, restart 128, zstd 6", {"block": 65536, "restart": 128, "level": 6}),
]


def options(block: int = 16384, restart: int = 16, hash_index: bool = True, bloom: int = 10, level: int = 1,
            dict_bytes: int = 0) -> rd.Options:
    opts = rd.Options(raw_mode=True)
    table = rd.BlockBasedOptions()
    table.set_block_size(block)
    table.set_block_restart_interval(restart)
    if hash_index:
        table.set_data_block_index_type(rd.DataBlockIndexType.binary_and_hash())
        table.set_data_block_hash_ratio(0.75)
    if bloom:
        table.set_bloom_filter(bloom, False)
    table.set_format_version(5)
    opts.set_block_based_table_factory(table)
    opts.set_compression_type(rd.DBCompressionType.lz4())
    opts.set_bottommost_compression_type(rd.DBCompressionType.zstd())  # what SstFileWriter uses
    opts.set_bottommost_compression_options(-14, level, 0, dict_bytes, True)
    if dict_bytes:
        opts.set_bottommost_zstd_max_train_bytes(dict_bytes * 100, True)
    return opts


def sst_bytes_per_entry(path: Path, items: list[tuple[bytes, bytes]], opts: rd.Options) -> float:
    writer = rd.SstFileWriter(opts)
    writer.open(str(path))
    for key, value in items:
        writer[key] = value
    writer.finish()
    size = path.stat().st_size
    path.unlink()
    return size / len(items)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=2_000_000)
    args = ap.parse_args(argv)
    entries, _ = prepare(make_keys(args.entries))
    batch = entries.shards[0]
    ids = np.frombuffer(batch.ids, dtype=np.uint8).reshape(-1, 16)
    values = np.frombuffer(batch.locations, dtype=np.uint8).reshape(-1, LOCATION_SIZE)
    order = sorted_unique_order(ids)
    locations = [(ids[i].tobytes(), values[i].tobytes()) for i in order]
    bounds = [0, *batch.listing_ends.tolist()]
    listing = [(k, b"") for k in sorted({batch.listing_blob[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)})]
    work = Path(tempfile.mkdtemp(prefix="hb-size-"))
    result: dict[str, Any] = {"entries": args.entries, "shard_entries": len(locations),
                              "listing_key_bytes_raw": sum(len(k) for k, _ in listing) / len(listing),
                              "location": {}, "listing": {}}
    for name, kw in LOCATION_VARIANTS:
        result["location"][name] = sst_bytes_per_entry(work / "loc.sst", locations, options(**kw))
        print(f"location  {result['location'][name]:6.2f} B/entry  {name}", flush=True)
    for name, kw in LISTING_VARIANTS:
        result["listing"][name] = sst_bytes_per_entry(work / "list.sst", listing, options(bloom=0, hash_index=False, **kw))
        print(f"listing   {result['listing'][name]:6.2f} B/entry  {name}", flush=True)
    os.rmdir(work)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalog_size_options.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
