"""What a catalog entry would take in a storage format of our own: one index in listing order, each
block's columns compressed apart. A measurement for issue 10's ≤ 40 B/entry, NOT a format the catalog
uses: side by side in one run with the smallest single-index RocksDB layout measured
(bench/catalog_format_options.py: the listing entry holding a varint location, one SST file).

    python -m bench.catalog_columnar_estimate                      # 1,000,000 entries
    python -m bench.catalog_columnar_estimate --entries 300000
    python -m bench.catalog_columnar_estimate --spread-over 100000000   # volume numbers as at 10^8

The entries are the growth benchmark's (bench/growth_keys.py: its URLs and 1 GiB-volume locations,
hosts from the 10^8 run's pool of 4×10^6), prepared for one owner as bulk registration prepares
them, sorted by listing entry (SURT order, what ``ls`` reads). Blocks of ``K`` consecutive entries;
each block holds five streams:

- the listing entries, front-coded (bytes shared with the previous entry, then the rest), zstd;
- volume numbers, offsets and lengths as little-endian ``u32``/``u64`` columns split into byte
  planes (the high, mostly-equal bytes of every value together), each column zstd;
- the 64-bit digests, raw (random bytes do not compress).

Counted per entry: every block's bytes and a 15-byte header, the block index a reader keeps in
memory (each block's first entry + an 8-byte file offset) and a 10 bits/key bloom filter (what the
location index keeps today, so an absent key is answered without a block read). Nothing is dropped:
a decoder gives back every entry and location; the bench decodes every block and checks it. The
timing columns are Python's (numpy + zstandard), an upper bound for a reader in native code.

Writes bench/results/catalog_columnar_estimate.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from bench.catalog_format_options import SINGLE_INDEX_VARIANTS, sst_options, sst_size, varint_value
from bench.growth_keys import make_locations, make_urls
from catalog.bulk import prepare_bulk
from catalog.location import LOCATION_DTYPE, LOCATION_SIZE
from catalog.manifest import NUM_SLOTS

RESULTS = Path(__file__).resolve().parent / "results"
BLOOM_BITS_PER_KEY = 10
BLOCK_HEADER_BYTES = 15  # five stream lengths as varints (~3 bytes each)
INDEX_OFFSET_BYTES = 8
STREAMS = ("listing entries", "volumes", "offsets", "lengths", "digests")


def front_code(entries: list[bytes]) -> bytes:
    """Each entry as (bytes shared with the previous one: u8 capped at 255, rest length: u16, rest)."""
    out = bytearray()
    previous = b""
    for entry in entries:
        limit = min(len(previous), len(entry), 255)
        shared = 0
        while shared < limit and previous[shared] == entry[shared]:
            shared += 1
        rest = entry[shared:]
        out += bytes((shared,)) + len(rest).to_bytes(2, "little") + rest
        previous = entry
    return bytes(out)


def front_decode(data: bytes) -> list[bytes]:
    """Inverse of :func:`front_code`."""
    out: list[bytes] = []
    previous = b""
    at = 0
    while at < len(data):
        shared = data[at]
        size = int.from_bytes(data[at + 1:at + 3], "little")
        entry = previous[:shared] + data[at + 3:at + 3 + size]
        out.append(entry)
        previous = entry
        at += 3 + size
    return out


def planes(column: np.ndarray) -> bytes:
    """A fixed-width column as byte planes: every value's byte 0, then every value's byte 1, ..."""
    return column.view(np.uint8).reshape(len(column), -1).T.tobytes()


def unplanes(data: bytes, dtype: np.dtype, n: int) -> np.ndarray:
    """Inverse of :func:`planes`."""
    width = np.dtype(dtype).itemsize
    return np.frombuffer(data, np.uint8).reshape(width, n).T.copy().view(dtype).reshape(n)


def encode_block(entries: list[bytes], locations: np.ndarray, level: int,
                 dictionary: zstandard.ZstdCompressionDict | None = None) -> list[bytes]:
    """A block's five streams (see the module docstring); the listing entries with ``dictionary``
    when given (one per file, trained on the file's own entries, stored once in the file)."""
    z = zstandard.ZstdCompressor(level=level)
    keys = zstandard.ZstdCompressor(level=level, dict_data=dictionary) if dictionary else z
    offsets = locations["off_lo"].astype(np.uint64) | (locations["off_hi"].astype(np.uint64) << np.uint64(32))
    return [keys.compress(front_code(entries)),
            z.compress(planes(np.ascontiguousarray(locations["volume"]))),
            z.compress(planes(offsets)),
            z.compress(planes(np.ascontiguousarray(locations["length"]))),
            np.ascontiguousarray(locations["digest"]).tobytes()]


def decode_block(streams: list[bytes], n: int, dictionary: zstandard.ZstdCompressionDict | None = None
                 ) -> tuple[list[bytes], np.ndarray]:
    """The entries and packed locations of a block (inverse of :func:`encode_block`)."""
    z = zstandard.ZstdDecompressor()
    keys = zstandard.ZstdDecompressor(dict_data=dictionary) if dictionary else z
    entries = front_decode(keys.decompress(streams[0]))
    out = np.empty(n, dtype=LOCATION_DTYPE)
    out["volume"] = unplanes(z.decompress(streams[1]), np.uint32, n)
    offsets = unplanes(z.decompress(streams[2]), np.uint64, n)
    out["off_lo"] = (offsets & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    out["off_hi"] = (offsets >> np.uint64(32)).astype(np.uint16)
    out["length"] = unplanes(z.decompress(streams[3]), np.uint32, n)
    out["digest"] = np.frombuffer(streams[4], np.uint64)
    return entries, out


def measure(entries: list[bytes], locations: np.ndarray, per_block: int, level: int, dict_bytes: int = 0
            ) -> dict[str, Any]:
    """Bytes per entry of the format with ``per_block`` entries a block, and its decode times;
    ``dict_bytes``: a zstd dictionary of that size for the listing entries, trained on samples of the
    file's blocks (its bytes are counted)."""
    n = len(entries)
    dictionary = None
    data = index = 0
    if dict_bytes:
        samples = [front_code(entries[i:i + 64]) for i in range(0, n, max(64, n // 2000))]
        dictionary = zstandard.train_dictionary(dict_bytes, samples, level=level)
        data += len(dictionary.as_bytes())
    stream_bytes = [0] * 5
    block_bytes: list[int] = []
    decode_ms: list[float] = []
    for start in range(0, n, per_block):
        chunk, locs = entries[start:start + per_block], locations[start:start + per_block]
        streams = encode_block(chunk, locs, level, dictionary)
        size = sum(map(len, streams)) + BLOCK_HEADER_BYTES
        stream_bytes = [total + len(stream) for total, stream in zip(stream_bytes, streams)]
        data += size
        block_bytes.append(size)
        index += len(chunk[0]) + INDEX_OFFSET_BYTES
        t0 = time.perf_counter()
        back, back_locs = decode_block(streams, len(chunk), dictionary)
        decode_ms.append((time.perf_counter() - t0) * 1e3)
        if back != chunk or back_locs.tobytes() != locs.tobytes():
            raise AssertionError(f"block at entry {start} does not decode to what was written")
    bloom = BLOOM_BITS_PER_KEY / 8
    return {"entries_per_block": per_block, "zstd_level": level, "dictionary_bytes": dict_bytes,
            "bytes_per_entry": round((data + index) / n + bloom, 2),
            "blocks_per_entry": round(data / n, 2), "block_index_per_entry": round(index / n, 2),
            "bloom_per_entry": bloom,
            "streams_per_entry": {name: round(size / n, 2) for name, size in zip(STREAMS, stream_bytes)},
            "block_bytes_median": int(statistics.median(block_bytes)),
            "decode_ms_median": round(statistics.median(decode_ms), 3),
            "decode_ms_p99": round(float(np.percentile(decode_ms, 99)), 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--host-pool", type=int, default=4_000_000,
                    help="hosts the URLs are drawn from (the growth run's pool at 10^8 entries)")
    ap.add_argument("--spread-over", type=int, default=0, metavar="N",
                    help="draw the entries as 100 chunks spread over the first N entries of the growth run "
                         "(volume numbers as at N entries; the URLs stay as sparse as the sample), instead of "
                         "the first --entries")
    args = ap.parse_args(argv)
    n = args.entries
    chunk = n // 100 if args.spread_over else n
    starts = [i * (args.spread_over // 100) for i in range(100)] if args.spread_over else [0]
    keys = [url for start in starts for url in make_urls(start, chunk, args.host_pool)]
    packed = np.concatenate([make_locations(start, chunk) for start in starts])
    batch = prepare_bulk(keys, packed, [0] * NUM_SLOTS).shards[0]
    bounds = [0, *batch.listing_ends.tolist()]
    values = np.frombuffer(batch.locations, np.uint8).reshape(-1, LOCATION_SIZE)
    by_entry = sorted({batch.listing_blob[bounds[i]:bounds[i + 1]]: values[i].tobytes()
                       for i in range(len(bounds) - 1)}.items())
    entries = [e for e, _ in by_entry]
    locations = np.frombuffer(b"".join(v for _, v in by_entry), dtype=LOCATION_DTYPE)
    result: dict[str, Any] = {"entries": len(entries), "host_pool": args.host_pool,
                              "spread_over": args.spread_over or None,
                              "listing_entry_raw_bytes": round(sum(map(len, entries)) / len(entries), 2),
                              "columnar": [], "rocksdb_single_index": {}}
    for per_block, level, dict_bytes in ((128, 3, 0), (512, 3, 0), (512, 9, 0), (2048, 3, 0), (2048, 9, 0),
                                         (128, 3, 65536), (512, 3, 65536), (512, 9, 65536), (2048, 9, 65536)):
        row = measure(entries, locations, per_block, level, dict_bytes)
        result["columnar"].append(row)
        print(f"columnar {row['bytes_per_entry']:6.2f} B/entry  {per_block:5d} entries/block, zstd {level}, "
              f"dictionary {dict_bytes // 1024} KiB, "
              f"block {row['block_bytes_median']:,} B, decode p50 {row['decode_ms_median']} ms; "
              f"{row['streams_per_entry']}", flush=True)
    name, options, _ = SINGLE_INDEX_VARIANTS[-1]
    work = Path(tempfile.mkdtemp(prefix="hb-columnar-"))
    per_entry, seconds = sst_size(work / "single.sst", [(e, varint_value(v)) for e, v in by_entry],
                                  sst_options(**options))
    work.rmdir()
    result["rocksdb_single_index"] = {"variant": name, "bytes_per_entry": round(per_entry, 2)}
    print(f"rocksdb  {per_entry:6.2f} B/entry  {name}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "catalog_columnar_estimate" + (f"_spread_{args.spread_over:.0e}".replace("+", "") if args.spread_over else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
