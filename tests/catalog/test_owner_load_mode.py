"""While SST batches keep arriving an owner's location index gathers level-0 files instead of compacting
every 4 (catalog/owner_load_mode.py, issue 10); once they stop, RocksDB's default comes back and the files
are merged, so lookups after a load meet few sorted runs. Contents are the same either way."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import catalog.owner_load_mode as load_mode
from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta, even_owners
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_reads import read_shape
from catalog.owner_store import BULK_MIN, OwnerStore


def test_level0_files_gather_during_a_load_and_merge_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_mode, "IDLE_SECONDS", 3.0)
    store = OwnerStore(tmp_path / "o0", 0, CatalogMeta("c-load", 1, even_owners(1)))
    try:
        slot_owner = np.zeros(4096, np.int64)
        batches = 7
        for b in range(batches):  # every batch overlaps the whole index: one level-0 file each
            keys = [f"https://h{i % 13}.example/l/{i}" for i in range(b * BULK_MIN, (b + 1) * BULK_MIN)]
            store.register_batch(prepare_bulk_columns(keys, [Location(1 + b, i, 5, i) for i in range(len(keys))],
                                                      slot_owner).shards[0], store.epoch)
        shard = store.catalog.shards[0]
        during = read_shape(shard)
        assert store._load_mode is not None and store._load_mode.loading
        assert during["level0_files"] >= 5, during  # the default trigger (4) would have merged them
        deadline = time.monotonic() + 60
        while (read_shape(shard)["level0_files"] >= load_mode.REST_TRIGGER or read_shape(shard)["compacting"]) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        after = read_shape(shard)
        assert not store._load_mode.loading
        assert after["level0_files"] < load_mode.REST_TRIGGER, after
        assert store.stats()["records"] == batches * BULK_MIN
        probe = [f"https://h{i % 13}.example/l/{i}" for i in (0, BULK_MIN * 3 + 7, batches * BULK_MIN - 1)]
        ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in probe), np.uint8).reshape(-1, 16)
        found, _ = store.lookup(ids, store.epoch)
        assert found.all()
    finally:
        store.close()
