"""An owner sized for serving reads its location index into its block cache when it starts
(catalog/owner_warm.py), and a warmed cache holds the filter blocks too (catalog/shard.py
``load_filters``): after warming, gets read nothing from the owner's files."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog import Catalog
from catalog.catalog_meta import CatalogMeta, even_owners
from catalog.location import Location
from catalog.owner_store import OwnerStore
from catalog.owner_warm import WARM_ENV, warm_wanted
from catalog.shard import WARM_SEEK_EVERY

BATCH = 60_000
BATCHES = 4


def _keys(batch: int) -> list[str]:
    return [f"https://h{i % 61}.example.org/a/{i}" for i in range(batch * BATCH, (batch + 1) * BATCH)]


def _owner_with_files(directory: Path) -> list[str]:
    """An owner whose location index is several SST files: the first batches compacted into the bottom
    level, the last one a level-0 file (level-0 filters are pinned on open; the others are not)."""
    store = OwnerStore(directory, 0, CatalogMeta("c-warm", 1, even_owners(1)))
    slot_owner = np.zeros(4096, np.int64)
    every: list[str] = []
    try:
        for b in range(BATCHES):
            keys = _keys(b)
            every += keys
            store.register_batch(prepare_bulk_columns(keys, [Location(3, i, 9, i) for i in range(len(keys))],
                                                      slot_owner).shards[0], store.epoch)
            if b == BATCHES - 2:
                store.compact_index(store.epoch)
    finally:
        store.close()
    return every


def _read_bytes() -> int:
    """Bytes this process has read through system calls so far (RocksDB reads its SST files with pread;
    reading /proc/self/io itself adds a few hundred bytes)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"])


def _bytes_read_by_gets(catalog: Catalog, keys: list[str]) -> int:
    before = _read_bytes()
    for key in keys:
        catalog.get(key)
    return _read_bytes() - before


NOTHING = 4096  # below any block of these files: the bottom-level filter block here is 225 KB, a data block ~14 KB


def test_warm_cache_leaves_nothing_for_gets_to_read(tmp_path: Path) -> None:
    keys = _owner_with_files(tmp_path / "o0")
    with Catalog.open(tmp_path / "o0", create=False, cache_bytes=256 << 20) as cat:
        levels = [f["level"] for f in cat.shards[0].db.live_files() if len(f["start_key"]) == 16]
        assert len(levels) >= 2 and max(levels) > 0, levels
        assert cat.warm_cache() == len(keys) // WARM_SEEK_EVERY + 1  # one seek per WARM_SEEK_EVERY entries
        # every bottom-level filter block is in the cache: the gets read no file (before load_filters
        # they read one ~100 KB filter block per file on its first get)
        assert _bytes_read_by_gets(cat, keys[::37]) < NOTHING


def test_warm_cache_stops_when_asked(tmp_path: Path) -> None:
    keys = _owner_with_files(tmp_path / "o0")
    stop = threading.Event()
    stop.set()
    with Catalog.open(tmp_path / "o0", create=False) as cat:
        assert cat.warm_cache(stop=stop) == 0
        assert _bytes_read_by_gets(cat, keys[:1]) > NOTHING  # nothing was warmed: the first get reads


def test_owner_warms_in_the_background_and_closes_while_warming(tmp_path: Path) -> None:
    keys = _owner_with_files(tmp_path / "o0")
    meta = CatalogMeta("c-warm", 1, even_owners(1))
    store = OwnerStore(tmp_path / "o0", 0, meta, create=False, warm=True)
    try:
        assert store._cache_warmer is not None and store._cache_warmer.wait(120)
        status = store.memory()["cache_warm"]
        assert status["state"] == "done" and status["seeks"] == len(keys) // WARM_SEEK_EVERY + 1, status
        assert store.memory()["cache_used_bytes"] > len(keys) * 38  # at least the stored bytes of the index
        assert _bytes_read_by_gets(store.catalog, keys[::41]) < NOTHING
    finally:
        store.close()
    # closing at once: the walk stops between chunks and the store closes cleanly
    store = OwnerStore(tmp_path / "o0", 0, meta, create=False, warm=True)
    store.close()
    assert store._cache_warmer.status()["state"] in ("stopped", "done")
    assert OwnerStore(tmp_path / "o0", 0, meta, create=False).memory()["cache_warm"] == {"state": "off"}


def test_warm_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert not warm_wanted({})  # the default 256 MiB cache: not sized for serving
    assert warm_wanted({"HAYBALE_OWNER_CACHE_MB": "6144"})
    assert not warm_wanted({"HAYBALE_OWNER_CACHE_MB": "1023"})
    assert warm_wanted({WARM_ENV: "1"})
    assert not warm_wanted({WARM_ENV: "0", "HAYBALE_OWNER_CACHE_MB": "6144"})
    assert capsys.readouterr().err == ""
    assert warm_wanted({WARM_ENV: "yes", "HAYBALE_OWNER_CACHE_MB": "2048"})  # bad value: auto
    err = capsys.readouterr().err
    assert WARM_ENV in err and "'yes'" in err and "auto" in err
