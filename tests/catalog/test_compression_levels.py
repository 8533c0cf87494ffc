"""The catalog's compression by level: LZ4 for level 0 (flushes), ZSTD below it (compaction output),
for the location and listing indexes of every shard (bytes per entry: catalog/column_families.py)."""
from __future__ import annotations

import re
from pathlib import Path

from catalog.catalog import Catalog
from catalog.keys import canonical_key
from catalog.location import Location


def _options_text(shard_dir: Path) -> str:
    return sorted(shard_dir.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))[-1].read_text()


def test_compaction_output_below_level_0_is_zstd(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c", num_shards=2) as cat:
        cat.register_many((f"https://example.com/{i}", Location(1, i * 100, 100, i)) for i in range(100))
    for shard in sorted((tmp_path / "c").glob("shard-*")):
        text = _options_text(shard)
        sections = re.split(r"\n\[", text)
        for family in ("default", "listing"):
            (section,) = [s for s in sections if s.startswith(f'CFOptions "{family}"')]
            levels = re.search(r"compression_per_level=(\S+)", section).group(1).split(":")
            assert levels[0] == "kLZ4Compression"
            assert levels[1:] and set(levels[1:]) == {"kZSTD"}, levels
            assert "bottommost_compression=kZSTD" in section


def _listing_block_size(shard_dir: Path) -> int:
    (section,) = [s for s in re.split(r"\n\[", _options_text(shard_dir)) if s.startswith('TableOptions/BlockBasedTable "listing"')]
    return int(re.search(r"\bblock_size=(\d+)", section).group(1))


def test_listing_written_with_64_kib_blocks_reads_unchanged_with_1_mib_blocks(tmp_path: Path, monkeypatch) -> None:
    """Catalogs written before the listing's 1 MiB blocks (64 KiB) list, get and compact unchanged:
    block size is recorded per SST file, so old and new files live side by side."""
    import rocksdict as rd

    import catalog.column_families as cfs

    new_options = cfs.listing_options

    def old_options(cache: rd.Cache) -> rd.Options:  # main's listing options before this change
        opts = rd.Options(raw_mode=True)
        table = rd.BlockBasedOptions()
        table.set_block_size(65536)
        table.set_block_restart_interval(128)
        table.set_block_cache(cache)
        opts.set_block_based_table_factory(table)
        cfs._set_compression(opts, level=3)
        return opts

    keys = [f"https://www.host{i % 37}.example.com/Path/{i}?b=2&a={i}" for i in range(3000)]
    monkeypatch.setattr(cfs, "listing_options", old_options)
    with Catalog.open(tmp_path / "c", num_shards=1) as cat:
        cat.register_many((k, Location(1, i * 10, 10, i)) for i, k in enumerate(keys[:2000]))
    (shard_dir,) = [p for p in (tmp_path / "c").glob("shard-*") if p.is_dir()]
    assert _listing_block_size(shard_dir) == 65536
    monkeypatch.setattr(cfs, "listing_options", new_options)
    with Catalog.open(tmp_path / "c", num_shards=1) as cat:
        cat.register_many((k, Location(1, i * 10, 10, i)) for i, k in enumerate(keys) if i >= 2000)
        for shard in cat.shards:
            shard.db.compact_range(None, None)
            shard.listing.compact_range(None, None)
        assert sorted(cat.list()) == sorted(canonical_key(k) for k in keys)
        assert [cat.get(k) for k in keys] == [Location(1, i * 10, 10, i) for i in range(len(keys))]
    assert _listing_block_size(shard_dir) == 1 << 20
