"""The catalog's compression by level: LZ4 for level 0 (flushes), ZSTD below it (compaction output),
for the location and listing indexes of every shard (bytes per entry: catalog/column_families.py)."""
from __future__ import annotations

import re
from pathlib import Path

from catalog.catalog import Catalog
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
