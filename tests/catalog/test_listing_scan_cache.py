"""A walk over the listing index does not fill the block cache (catalog/shard.py ``_listing_chunk``).

The listing's blocks are 1 MiB; a walk over a whole range reads every one of them once. When such a
walk filled the cache it evicted the location blocks that point gets keep there (a 10^8-entry owner's
listing is ~6 GB uncompressed, its location blocks ~4.5 GB). Only a walk's first chunk, or a page a
cursor starts, may add to the cache."""
from __future__ import annotations

from pathlib import Path

from catalog.bulk import prepare_bulk, register_bulk
from catalog.catalog import Catalog
from catalog.location import Location

ENTRIES = 120_000


def _keys() -> list[str]:
    # long, varied paths: ~110 bytes of listing entry each, ~13 MB in all, over a dozen 1 MiB blocks
    return [f"https://host{i % 97}.example.org/archive/{i * 7919 % 100003}/section-{i % 31}/"
            f"article-{i}-with-a-longer-slug-to-fill-blocks.html" for i in range(ENTRIES)]


def test_whole_listing_walk_leaves_the_cache_to_point_gets(tmp_path: Path) -> None:
    keys = _keys()
    with Catalog.open(tmp_path / "cat", num_shards=1, cache_bytes=256 << 20) as cat:
        register_bulk(cat, prepare_bulk(keys, [Location(1, i, 100, i) for i in range(ENTRIES)],
                                        cat.manifest.slot_map))
    # reopen: an empty cache, and every listing block in an SST (the block cache serves SST reads only)
    with Catalog.open(tmp_path / "cat", create=False, cache_bytes=256 << 20) as cat:
        cat.warm_cache()
        before = cat.cache.get_usage()
        walked = list(cat.list())
        grown = cat.cache.get_usage() - before
        assert len(walked) == ENTRIES
        listing_bytes = sum(len(k) for k in walked)
        # the first chunk's block or two may stay; the other blocks of the walk may not
        assert grown <= 3 << 20, f"a whole-listing walk added {grown:,} bytes to the block cache"
        assert listing_bytes > 10 << 20  # the walk itself read far more than that

        # a page (the first chunk of a walk from a cursor) still fills it, so repeated pages stay cached
        shard = cat.shards[0]
        entries = shard._listing_chunk(b"", None, ENTRIES, skip_start=True)  # one chunk, not cached
        assert len(entries) == ENTRIES and cat.cache.get_usage() - before == grown
        before = cat.cache.get_usage()
        page = shard._listing_chunk(entries[ENTRIES * 3 // 4], None, 100, skip_start=False)
        assert page == entries[ENTRIES * 3 // 4:ENTRIES * 3 // 4 + 100]
        assert cat.cache.get_usage() > before
        assert cat.get(keys[5]) == Location(1, 5, 100, 5)
