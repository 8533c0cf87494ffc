"""An owner reads a sorted batch by iterator seeks when its index is one sorted run and by multi-get
otherwise (catalog/owner_reads.py, issue 10): both give the same answers, with deleted, re-registered,
absent and repeated keys, before and after compaction."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta, even_owners
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_reads import multi_get_sorted, seek_sorted, single_sorted_run
from catalog.owner_store import BULK_MIN, OwnerStore


def _keys(lo: int, hi: int) -> list[str]:
    return [f"https://h{i % 97}.example/p/{i}" for i in range(lo, hi)]


def _ids(keys: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(key_id(canonical_key(k)) for k in keys), np.uint8).reshape(-1, 16)


def _expected(store: OwnerStore, ids: np.ndarray) -> tuple[np.ndarray, list[bytes | None]]:
    got = [store.catalog.shards[0].get(bytes(row)) for row in ids]
    return np.array([g is not None for g in got]), got


def _check_both_paths(store: OwnerStore, ids: np.ndarray) -> None:
    shard = store.catalog.shards[0]
    order = np.argsort(ids[:, :8].copy().view(">u8").ravel(), kind="stable")
    sorted_raw = ids[order].tobytes()
    a_found, a_values = multi_get_sorted(shard, sorted_raw)
    b_found, b_values = seek_sorted(shard, sorted_raw)
    assert np.array_equal(a_found, b_found) and a_values == b_values
    found, values = store.lookup(ids, store.epoch)
    want_found, want = _expected(store, ids)
    assert np.array_equal(found, want_found)
    assert [bytes(v) if f else None for f, v in zip(found, values)] == want


def test_seeks_and_multi_get_agree_before_and_after_compaction(tmp_path: Path) -> None:
    meta = CatalogMeta("c-reads", 1, even_owners(1))
    store = OwnerStore(tmp_path / "o0", 0, meta)
    try:
        slot_owner = np.zeros(4096, np.int64)
        n = BULK_MIN + 5000
        for lo in (0, n // 2):  # two overlapping SST batches: level-0 files
            keys = _keys(lo, lo + n)
            locs = [Location(1 + lo, i * 10, 7, i) for i in range(len(keys))]
            store.register_batch(prepare_bulk_columns(keys, locs, slot_owner).shards[0], store.epoch)
        store.register([(canonical_key(k), Location(9, 1, 2, 3).pack()) for k in _keys(0, 50)], store.epoch)
        deleted = _keys(100, 400)
        assert store.delete_many(deleted, store.epoch) == len(deleted)
        probe = _ids(_keys(0, 2 * n) + deleted + _keys(10, 20))  # present, absent, deleted, repeated
        assert not single_sorted_run(store.catalog.shards[0])
        _check_both_paths(store, probe)
        shape = store.compact_index(store.epoch)
        assert shape["seeks"] and single_sorted_run(store.catalog.shards[0])  # one sorted run: lookups seek
        _check_both_paths(store, probe)
        found, _ = store.lookup(_ids(deleted), store.epoch)
        assert not found.any()
    finally:
        store.close()


def test_compacted_owners_answer_what_they_answered_before(tmp_path: Path) -> None:
    """Through the client: the same answers for present and absent keys before and after every owner
    compacted its index (and later registrations still land)."""
    from catalog.catalog_meta import create_meta
    from catalog.owned_catalog import OwnedCatalog

    root = str(tmp_path / "root")
    Path(root).mkdir()
    meta = create_meta(root, 3)
    keys = _keys(0, 2 * BULK_MIN)
    with OwnedCatalog.local(root, tmp_path / "root" / "catalog", meta) as cat:
        cat.register_bulk_entries(keys, [Location(2, i, 9, i) for i in range(len(keys))])
        cat.register_many((k, Location(3, i, 9, 10 ** 6 + i)) for i, k in enumerate(keys[:100]))
        probe = _ids(keys + _keys(10 ** 6, 10 ** 6 + 500))
        before = cat.lookup_ids(probe)
        shapes = cat.compact_index()
        assert all(s["seeks"] for s in shapes) and len(shapes) == 3
        after = cat.lookup_ids(probe)
        assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
        assert before[0][:len(keys)].all() and not before[0][len(keys):].any()
        assert cat.get(keys[5]) == Location(3, 5, 9, 10 ** 6 + 5)
        cat.register_many([(keys[7], Location(4, 1, 9, 42))])
        assert cat.get(keys[7]) == Location(4, 1, 9, 42)
