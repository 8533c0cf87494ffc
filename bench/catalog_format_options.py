"""Where the bytes of a catalog entry go with crawl-like URLs: one owner's location and listing SST
files written in the catalog's format and in alternative formats, side by side on the same entries.

    python -m bench.catalog_format_options                     # 300,000 entries
    python -m bench.catalog_format_options --entries 1000000

The entries are bench/growth_keys.py's (the growth benchmark's URLs and locations), prepared by
:func:`catalog.bulk.prepare_bulk` for one owner; every variant writes the same sorted entries into one
SST file with ``rd.SstFileWriter`` (as bulk registration does). The location variants that change
the stored bytes (a 12-byte key id, varint fields, reordered fields) are measurements of formats the
catalog does NOT use (deploy/SCALING.md says what each would cost and save). Writes
bench/results/catalog_format_options.json.
"""
from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rocksdict as rd

from bench.growth_keys import make_locations, make_urls
from catalog.bulk import prepare_bulk
from catalog.listing import full_listing_entry, key_of_listing_entry
from catalog.location import LOCATION_SIZE
from catalog.manifest import NUM_SLOTS
from catalog.sst_files import sorted_unique_order

RESULTS = Path(__file__).resolve().parent / "results"
Items = list[tuple[bytes, bytes]]


def sst_options(block: int = 16384, restart: int = 32, bloom: int = 10, level: int = 1,
                lz4: bool = False, dict_bytes: int = 0, fmt: int = 5) -> rd.Options:
    """Table options as catalog/column_families.py sets them, with the knobs the variants turn."""
    opts = rd.Options(raw_mode=True)
    table = rd.BlockBasedOptions()
    table.set_block_size(block)
    table.set_block_restart_interval(restart)
    if bloom:
        table.set_bloom_filter(bloom, False)
    table.set_format_version(fmt)
    opts.set_block_based_table_factory(table)
    opts.set_compression_type(rd.DBCompressionType.lz4())
    if lz4:  # what compaction writes above the bottommost level (column_families: LZ4 there)
        opts.set_bottommost_compression_type(rd.DBCompressionType.lz4())
    else:
        opts.set_bottommost_compression_type(rd.DBCompressionType.zstd())
        opts.set_bottommost_compression_options(-14, level, 0, dict_bytes, True)
        if dict_bytes:  # a dictionary trained by zstd on 100x its size of samples
            opts.set_bottommost_zstd_max_train_bytes(100 * dict_bytes, True)
    return opts


def sst_size(path: Path, items: Items, opts: rd.Options) -> tuple[float, float]:
    """(bytes per entry, seconds to write) of ``items`` written to one SST file."""
    t0 = time.perf_counter()
    writer = rd.SstFileWriter(opts)
    writer.open(str(path))
    for key, value in items:
        writer[key] = value
    writer.finish()
    seconds = time.perf_counter() - t0
    size = path.stat().st_size
    path.unlink()
    return size / len(items), seconds


def _varint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append(x & 0x7F | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def varint_value(v: bytes) -> bytes:
    """digest u64, then volume, offset and length as varints (what a variable-width value would be)."""
    vol, lo, hi, length, digest = struct.unpack("<IIHIQ", v)
    return struct.pack("<Q", digest) + _varint(vol) + _varint(lo | hi << 32) + _varint(length)


def big_endian_value(v: bytes) -> bytes:
    """The same 22 bytes with each field big-endian (high, mostly zero bytes first)."""
    return v[0:4][::-1] + v[4:10][::-1] + v[10:14][::-1] + v[14:22][::-1]


def _path_form(entry: bytes) -> bool:
    """True for an entry in the path form (a tag byte 5-8 and the URL's path after the NUL)."""
    tail = entry.partition(b"\0")[2]
    return len(tail) > 1 and 5 <= tail[0] <= 8


LOCATION_VARIANTS: list[tuple[str, dict[str, Any], Callable[[bytes, bytes], tuple[bytes, bytes]] | None]] = [
    ("catalog format: 16-byte id, 22-byte value, 16 KiB, restart 32, bloom 10, zstd 1", {}, None),
    ("zstd 6", {"level": 6}, None),
    ("LZ4 (levels above the bottommost, after compaction)", {"lz4": True}, None),
    ("32 KiB blocks", {"block": 32768}, None),
    ("no bloom filter (its share)", {"bloom": 0}, None),
    ("not used: value fields big-endian", {}, lambda k, v: (k, big_endian_value(v))),
    ("not used: value as digest + varints", {}, lambda k, v: (k, varint_value(v))),
    ("not used: 12-byte stored id", {}, lambda k, v: (k[:12], v)),
    ("not used: 12-byte stored id, varint value", {}, lambda k, v: (k[:12], varint_value(v))),
    ("zstd 3", {"level": 3}, None),
    ("zstd 1, 16 KiB dictionary", {"dict_bytes": 16384}, None),
    ("format_version 6", {"fmt": 6}, None),
    ("64 KiB blocks, restart 64", {"block": 65536, "restart": 64}, None),
    ("bloom 6 bits/key", {"bloom": 6}, None),
    ("not used: 8-byte stored id", {}, lambda k, v: (k[:8], v)),
    ("not used: 8-byte stored id, varint value", {}, lambda k, v: (k[:8], varint_value(v))),
]
LISTING_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("main's format before this change: 64 KiB, restart 128, zstd 3", {"block": 65536, "restart": 128, "bloom": 0, "level": 3}),
    ("zstd 6", {"block": 65536, "restart": 128, "bloom": 0, "level": 6}),
    ("zstd 9", {"block": 65536, "restart": 128, "bloom": 0, "level": 9}),
    ("restart 512", {"block": 65536, "restart": 512, "bloom": 0, "level": 3}),
    ("LZ4 (levels above the bottommost, after compaction)", {"block": 65536, "restart": 128, "bloom": 0, "lz4": True}),
    ("zstd 3, 16 KiB dictionary", {"block": 65536, "restart": 128, "bloom": 0, "level": 3, "dict_bytes": 16384}),
    ("zstd 3, 64 KiB dictionary", {"block": 65536, "restart": 128, "bloom": 0, "level": 3, "dict_bytes": 65536}),
    ("zstd 3, 256 KiB blocks", {"block": 262144, "restart": 128, "bloom": 0, "level": 3}),
    ("zstd 6, 16 KiB dictionary", {"block": 65536, "restart": 128, "bloom": 0, "level": 6, "dict_bytes": 16384}),
    ("zstd 9, 256 KiB blocks, 64 KiB dictionary", {"block": 262144, "restart": 128, "bloom": 0, "level": 9, "dict_bytes": 65536}),
    ("zstd 3, restart 16", {"block": 65536, "restart": 16, "bloom": 0, "level": 3}),
    ("zstd 3, 128 KiB blocks", {"block": 131072, "restart": 128, "bloom": 0, "level": 3}),
    ("catalog format: zstd 3, 1 MiB blocks, restart 128", {"block": 1 << 20, "restart": 128, "bloom": 0, "level": 3}),
    ("zstd 3, 256 KiB blocks, restart 256", {"block": 262144, "restart": 256, "bloom": 0, "level": 3}),
    ("zstd 4, 256 KiB blocks", {"block": 262144, "restart": 128, "bloom": 0, "level": 4}),
    ("zstd 5, 256 KiB blocks", {"block": 262144, "restart": 128, "bloom": 0, "level": 5}),
    ("zstd 3, 256 KiB blocks, 16 KiB dictionary", {"block": 262144, "restart": 128, "bloom": 0, "level": 3, "dict_bytes": 16384}),
]

SINGLE_INDEX_VARIANTS: list[tuple[str, dict[str, Any], bool]] = [
    ("not used: listing entry -> 22-byte location, 16 KiB, restart 32, bloom 10, zstd 3",
     {"block": 16384, "restart": 32, "bloom": 10, "level": 3}, False),
    ("not used: listing entry -> varint location, 16 KiB, restart 32, bloom 10, zstd 3",
     {"block": 16384, "restart": 32, "bloom": 10, "level": 3}, True),
    ("not used: listing entry -> varint location, 64 KiB, restart 64, bloom 10, zstd 3",
     {"block": 65536, "restart": 64, "bloom": 10, "level": 3}, True),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=300_000)
    ap.add_argument("--only", choices=("location", "listing"), default=None)
    ap.add_argument("--host-pool", type=int, default=4_000_000,
                    help="hosts the URLs are drawn from (the growth run's pool at 10^8 entries)")
    args = ap.parse_args(argv)
    n = args.entries
    batch = prepare_bulk(make_urls(0, n, args.host_pool), make_locations(0, n), [0] * NUM_SLOTS).shards[0]
    ids = np.frombuffer(batch.ids, np.uint8).reshape(-1, 16)
    values = np.frombuffer(batch.locations, np.uint8).reshape(-1, LOCATION_SIZE)
    locations = [(ids[i].tobytes(), values[i].tobytes()) for i in sorted_unique_order(ids)]
    bounds = [0, *batch.listing_ends.tolist()]
    entries = sorted({batch.listing_blob[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)})
    listing = [(e, b"") for e in entries]
    long_form = sorted((full_listing_entry(key_of_listing_entry(e)) if _path_form(e) else e, b"") for e in entries)
    result: dict[str, Any] = {
        "entries": n, "host_pool": args.host_pool,
        "listing_entry_raw_bytes": sum(map(len, entries)) / len(entries),
        "listing_entry_raw_bytes_without_path_form": sum(len(k) for k, _ in long_form) / len(long_form),
        "share_in_path_form": sum(map(_path_form, entries)) / len(entries),
        "location": {}, "listing": {}}
    work = Path(tempfile.mkdtemp(prefix="hb-format-"))
    for name, kw, transform in LOCATION_VARIANTS if args.only != "listing" else []:
        items = [transform(k, v) for k, v in locations] if transform else locations
        if transform:
            items.sort()
        per_entry, seconds = sst_size(work / "loc.sst", items, sst_options(**kw))
        result["location"][name] = {"bytes_per_entry": per_entry, "write_seconds": seconds}
        print(f"location {per_entry:6.2f} B/entry {seconds:5.1f} s  {name}", flush=True)
    for name, kw in LISTING_VARIANTS if args.only != "location" else []:
        per_entry, seconds = sst_size(work / "list.sst", listing, sst_options(**kw))
        result["listing"][name] = {"bytes_per_entry": per_entry, "write_seconds": seconds}
        print(f"listing  {per_entry:6.2f} B/entry {seconds:5.1f} s  {name}", flush=True)
    # not used: ONE index per entry, the listing entry holding the location as its value (a get would
    # compute the key's listing entry and read it by point: so the location index's 16 KiB blocks
    # and bloom filter); what dropping the id-keyed location index would leave
    if args.only != "location":
        values = np.frombuffer(batch.locations, np.uint8).reshape(-1, LOCATION_SIZE)
        by_entry = {batch.listing_blob[bounds[i]:bounds[i + 1]]: values[i].tobytes() for i in range(len(bounds) - 1)}
        single = sorted(by_entry.items())
        for name, kw, varint in SINGLE_INDEX_VARIANTS:
            items = [(k, varint_value(v)) for k, v in single] if varint else single
            per_entry, seconds = sst_size(work / "single.sst", items, sst_options(**kw))
            result.setdefault("single_index", {})[name] = {"bytes_per_entry": per_entry, "write_seconds": seconds}
            print(f"single   {per_entry:6.2f} B/entry {seconds:5.1f} s  {name}", flush=True)
    name = "before the path form (the whole URL when SURT rewrites the path)"
    per_entry, seconds = sst_size(work / "list.sst", long_form, sst_options(**LISTING_VARIANTS[0][1]))
    result["listing"][name] = {"bytes_per_entry": per_entry, "write_seconds": seconds}
    print(f"listing  {per_entry:6.2f} B/entry {seconds:5.1f} s  {name}", flush=True)
    work.rmdir()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalog_format_options.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
