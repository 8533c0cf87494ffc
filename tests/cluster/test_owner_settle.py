"""Owners settle by themselves (catalog/owner_settle.py, issue 10): once writes stop for the settle time,
an owner's location index is compacted into one sorted run that batched lookups read by seeks, with the
same answers; not while writes keep coming, not twice for one burst, and not when settling is off."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta, even_owners, load_meta
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_reads import single_sorted_run
from catalog.owner_settle import SETTLE_ENV, SettleState, settle_seconds
from catalog.owner_store import BULK_MIN, OwnerStore


def _keys(lo: int, hi: int) -> list[str]:
    return [f"https://h{i % 89}.example/s/{i}" for i in range(lo, hi)]


def _ids(keys: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(key_id(canonical_key(k)) for k in keys), np.uint8).reshape(-1, 16)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _two_sst_batches(store: OwnerStore) -> list[str]:
    """Two overlapping SST ingests: level-0 files beside each other. Returns the keys written."""
    n = BULK_MIN + 3000
    for lo in (0, n // 2):
        keys = _keys(lo, lo + n)
        locs = [Location(1 + lo, i * 10, 7, i) for i in range(len(keys))]
        store.register_batch(prepare_bulk_columns(keys, locs, np.zeros(4096, np.int64)).shards[0], store.epoch)
    return _keys(0, n // 2 + n)


def test_an_idle_owner_settles_once_per_burst_and_answers_the_same(tmp_path: Path) -> None:
    store = OwnerStore(tmp_path / "o0", 0, CatalogMeta("c-settle", 1, even_owners(1)))
    clock = _Clock()
    state = SettleState(30.0, clock)
    try:
        assert state.settle(store) is None  # nothing written yet: nothing to do
        keys = _two_sst_batches(store)
        state.wrote()
        assert not single_sorted_run(store.catalog.shards[0])
        probe = _ids(keys + _keys(10 ** 6, 10 ** 6 + 300))
        before = store.lookup(probe, store.epoch)
        clock.now += 29.0
        assert not state.due() and state.settle(store) is None  # writes are recent: wait
        assert not single_sorted_run(store.catalog.shards[0])
        clock.now += 1.0
        shape = state.settle(store)
        assert shape is not None and shape["seeks"] and shape["level0_files"] == 0
        assert single_sorted_run(store.catalog.shards[0])
        after = store.lookup(probe, store.epoch)
        assert np.array_equal(before[0], after[0]) and list(map(bytes, before[1])) == list(map(bytes, after[1]))
        assert before[0][:len(keys)].all() and not before[0][len(keys):].any()
        clock.now += 100.0
        assert state.settle(store) is None  # settled already for this burst
        store.register([(canonical_key(k), Location(9, 1, 2, 3).pack()) for k in _keys(0, 20)], store.epoch)
        state.wrote()
        clock.now += 30.0
        assert state.settle(store) is not None  # a new write, a new settle
        assert store.catalog.get(canonical_key(_keys(0, 1)[0])) == Location(9, 1, 2, 3)
    finally:
        store.close()


def test_settling_off_and_bad_settings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clock = _Clock()
    off = SettleState(0.0, clock)
    off.wrote()
    clock.now += 10 ** 6
    assert not off.due()
    monkeypatch.setenv(SETTLE_ENV, "0")
    assert settle_seconds() == 0.0
    monkeypatch.setenv(SETTLE_ENV, "soon")
    assert settle_seconds() == 30.0
    assert SETTLE_ENV in capsys.readouterr().err
    monkeypatch.delenv(SETTLE_ENV)
    assert settle_seconds() == 30.0


def test_owners_on_ray_settle_by_themselves(tmp_path: Path, ray_session: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The setting reaches owners started by this process; they compact with no call from anyone."""
    from catalog.owner_actor import stop_owners
    from catalog.store import Store

    monkeypatch.setenv(SETTLE_ENV, "1")
    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=2)
    try:
        keys = _keys(0, 3 * BULK_MIN)
        for part in range(3):  # three loads: level-0 files in each owner
            lo = part * BULK_MIN // 2
            store.catalog.register_bulk_entries(keys[lo:lo + 2 * BULK_MIN],
                                                [Location(3 + part, i, 9, i) for i in range(2 * BULK_MIN)])
        probe = _ids(keys + _keys(10 ** 6, 10 ** 6 + 200))
        before = store.catalog.lookup_ids(probe)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shapes = store.catalog.read_shapes()
            if all(s["seeks"] for s in shapes):
                break
            time.sleep(0.5)
        assert all(s["seeks"] and s["level0_files"] == 0 for s in shapes), shapes
        after = store.catalog.lookup_ids(probe)
        assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
        assert before[0][:len(keys)].all() and not before[0][len(keys):].any()
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
