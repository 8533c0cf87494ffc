"""The column families of a catalog shard, in one table, with the RocksDB options each is read with.

=========  ====  ==================================================================================
name       code  content
=========  ====  ==================================================================================
default    0     key id (16 bytes) → packed :class:`~catalog.location.Location` (22 bytes)
listing    1     sort key (``u`` + SURT + NUL + canonical URL, or ``k`` + key) → empty; range scans
marks      2     key id → mark (``status`` and ``reason``, UTF-8, tab-separated)
meta       3     bookkeeping written in the same atomic batch as the data: ``count`` (exact number of
                 keys) and ``applied_seq`` (the last journal sequence applied)
=========  ====  ==================================================================================

The code names a column family inside journal records (:mod:`catalog.journal_records`), so codes are
part of the on-disk format: never renumber them.

The table format is chosen for point lookups, since most lookups are batched gets and misses (dedup,
crawl frontier): 16 KiB blocks (restart points every 32 keys, no data-block hash index), a 10-bit
bloom filter, index and filter blocks in a shared LRU cache, LZ4 for level 0 and ZSTD below it. Live shards, reader
processes and bulk SST files all take their options from here, since a table's format is fixed when
its file is written.
"""
from __future__ import annotations

from dataclasses import dataclass

import rocksdict as rd


@dataclass(frozen=True)
class ColumnFamily:
    """One column family: its RocksDB name and its code in journal records."""

    name: str
    code: int


LOCATIONS = ColumnFamily("default", 0)
LISTING = ColumnFamily("listing", 1)
MARKS = ColumnFamily("marks", 2)
META = ColumnFamily("meta", 3)
ALL = (LOCATIONS, LISTING, MARKS, META)
BY_CODE = {cf.code: cf for cf in ALL}


def table_options(cache: rd.Cache) -> rd.Options:
    """Options of the database and its location column family (``default``), tuned for point
    lookups; also the options bulk location SST files are written with."""
    opts = rd.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    table = rd.BlockBasedOptions()
    # 16 KiB: a sorted batch's seeks search a smaller index. Seek CPU per key on a 2.5M-entry shard
    # (bench/catalog_bench.py data), 100k-key batches over 10^7 (1% of a shard per batch): 4/8/16/32 KiB
    # ~1.9/1.66/1.41/1.30 µs; 5% density: 1.15/0.96/0.95/0.97. Larger blocks make a cold point read
    # decompress more, so 16 KiB. File size 36.4/35.7/35.2/35.4 B/entry.
    table.set_block_size(16384)
    # No data-block hash index and a restart point every 32 keys (default 16): the hash index cost
    # 1.15 B/entry and restart 32 another 0.2 (500k-entry shard SST: 34.4 -> 33.1 B/entry); batched
    # lookups seek with an iterator, which never used the hash index, and a point get's binary search
    # over a 16 KiB block's ~13 restart points is a few comparisons. (bench/catalog_size_options.py)
    table.set_block_restart_interval(32)
    table.set_bloom_filter(10, False)
    table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    table.set_format_version(5)
    opts.set_block_based_table_factory(table)
    _set_compression(opts)
    opts.set_max_background_jobs(2)
    opts.set_keep_log_file_num(3)
    opts.set_max_open_files(512)
    return opts


def listing_options(cache: rd.Cache) -> rd.Options:
    """Options of the listing column family: scanned, not point-read, so 1 MiB blocks, a restart
    point every 128 keys (sorted SURTs share long prefixes, and only a restart point stores a whole
    key), ZSTD level 3 below level 0, no bloom. 500k-entry shard SST: 11.5 -> 10.7 B/entry against
    16 KiB / 16 / level 1 (bench/catalog_size_options.py).

    1 MiB rather than 64 KiB blocks: ZSTD compresses each block alone, and crawl URLs repeat their
    words and path shapes across a whole host group, so a bigger block finds more of it. Same 10^6
    crawl-like entries, one SST (``python -m bench.catalog_format_options --entries 1000000 --only
    listing``): 64 KiB 23.86, 128 KiB 23.05, 256 KiB 22.50, 1 MiB 21.20 B/entry, at about the same
    write time (ZSTD 9 at 64 KiB: 22.48 B at 3.5x the write time; a 64 KiB trained dictionary: 22.50
    at 2.9x). Nothing reads the listing by point (gets and existence checks use the location index),
    so the bigger block costs only a page of ``ls`` one decompression of up to 1 MiB (~1 ms).
    SST files record their block size: files written with 64 KiB blocks read unchanged."""
    opts = rd.Options(raw_mode=True)
    table = rd.BlockBasedOptions()
    table.set_block_size(1 << 20)
    table.set_block_restart_interval(128)
    table.set_block_cache(cache)
    opts.set_block_based_table_factory(table)
    _set_compression(opts, level=3)
    return opts


def column_family_options(cache: rd.Cache) -> dict[str, rd.Options]:
    """The ``column_families`` argument of ``rd.Rdict`` for a shard: every family but ``default``."""
    return {LISTING.name: listing_options(cache), MARKS.name: rd.Options(raw_mode=True),
            META.name: rd.Options(raw_mode=True)}


def _set_compression(opts: rd.Options, level: int = 1) -> None:
    """LZ4 for level 0 (memtable flushes of journal writes: fast), ZSTD at ``level`` for every level
    below it, where bulk SST files land and compactions write. Level 1 writes ~12% faster than the
    default level 3 at the same size (measured on 2.5M location entries: 35.9 B/entry either way).

    Compaction output above the bottommost level was LZ4 before: 48.7 against 37.2 B/entry for the
    location index and 36.3 against 24.5 for the listing index on the same entries
    (``python -m bench.catalog_format_options``), and a 10^7-entry owner grown through
    registration kept ~1/5 of its location index in level 5 (bench/catalog_growth.py). SST files
    record their own compression, so files written before read unchanged and are rewritten in ZSTD
    as compactions reach them. ``SstFileWriter`` takes the bottommost settings, as before."""
    lz4, zstd = rd.DBCompressionType.lz4(), rd.DBCompressionType.zstd()
    opts.set_compression_type(zstd)
    opts.set_compression_per_level([lz4] + [zstd] * 6)
    opts.set_compression_options(-14, level, 0, 0)
    opts.set_bottommost_compression_type(zstd)
    opts.set_bottommost_compression_options(-14, level, 0, 0, True)
