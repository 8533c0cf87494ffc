"""Owner layout, meta record and routing (in this process and on Ray): every key lives in the owner
of its slot, the epoch guards the slot map, one root has one catalog."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from catalog.catalog_meta import (
    CatalogExistsError,
    WrongEpochError,
    create_meta,
    ensure_meta,
    load_meta,
    owner_dir,
    reassign_slots,
    slots_of_ids,
)
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_store import OwnerStore
from catalog.store import Store

KEYS = [f"https://site{i % 37}.example/page/{i}" for i in range(3000)]


def _locations(n: int, volume: int = 1) -> list[Location]:
    return [Location(volume, 100 * i, 50 + i % 7, i * 7919) for i in range(n)]


def test_one_root_has_one_catalog(tmp_path: Path) -> None:
    root = str(tmp_path / "r")
    first = create_meta(root, 4)
    with pytest.raises(CatalogExistsError) as err:
        create_meta(root, 4)
    assert root in str(err.value) and first.catalog_id in str(err.value) and "--root" in str(err.value)
    results: list[str] = []
    other = str(tmp_path / "r2")
    threads = [threading.Thread(target=lambda: results.append(ensure_meta(other, 3).catalog_id)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8  # racing creators all use the one record
    assert load_meta(other).num_owners == 3


def test_every_key_lives_in_its_slots_owner(tmp_path: Path) -> None:
    root = str(tmp_path / "r")
    with Store(root, num_shards=4) as store:
        result = store.catalog.register_many(zip(KEYS, _locations(len(KEYS))))
        assert (result.added, result.updated, result.unchanged) == (3000, 0, 0)
        meta = store.catalog.meta
        stats = store.stats()
        assert stats["records"] == 3000 and stats["owners"] == 4
    owner_of_slot = meta.slot_owner()
    per_owner = [0] * 4
    for i in range(4):
        owner = OwnerStore(owner_dir(Path(root) / "catalog", i), i, meta, read_only=True)
        try:
            listed = owner.listing_chunk(b"", None, 10_000, False)
            per_owner[i] = len(listed)
            ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in KEYS), np.uint8).reshape(-1, 16)
            mine = owner_of_slot[slots_of_ids(ids)] == i
            found, _ = owner.lookup(ids[mine], meta.epoch)
            assert found.all()
            with pytest.raises(WrongEpochError):  # keys of another owner's slots were routed by a stale map
                owner.lookup(ids[~mine][:5], meta.epoch)
        finally:
            owner.close()
    assert sum(per_owner) == 3000 and min(per_owner) > 500  # spread over all four


def test_a_stale_epoch_is_refused_then_the_client_reroutes(tmp_path: Path) -> None:
    root = str(tmp_path / "r")
    with Store(root, num_shards=2) as store:
        store.catalog.register_many(zip(KEYS[:100], _locations(100)))
        old = store.catalog.meta
        new = reassign_slots(root, old, old.owners)  # same map, next epoch (as after a move)
        assert new.epoch == old.epoch + 1
        with pytest.raises(WrongEpochError):
            reassign_slots(root, old, old.owners)  # a change made meanwhile is never overwritten
        owner0 = store.catalog._endpoints[0].store
        owner0.check(new.epoch)  # the owner reloads the record when a request comes at a newer epoch
        assert owner0.epoch == new.epoch
        with pytest.raises(WrongEpochError):
            owner0.check(old.epoch)
        # the client still routes with epoch 1: owner 0 refuses, the client reloads the record and retries
        at0 = next(i for i, k in enumerate(KEYS[:100])
                   if store.catalog.owner_of_ids(np.frombuffer(key_id(canonical_key(k)), np.uint8).reshape(1, 16))[0] == 0)
        assert store.get(KEYS[at0]) == _locations(100)[at0]
        assert store.catalog.meta.epoch == new.epoch
        assert sum(1 for _ in store.list("https://")) == 100


def test_the_owners_on_ray_serve_reads_and_writes_and_survive_a_restart(tmp_path: Path, ray_session: None) -> None:
    import ray

    from catalog.owner_actor import NAMESPACE, owner_name, stop_owners

    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=3)
    try:
        number = store.catalog.volumes.add("file:///v/one.warc.gz", {"kind": "volume", "bytes": 10})
        assert store.catalog.register_many(zip(KEYS, _locations(len(KEYS), number))).added == 3000
        assert store.catalog.register_bulk_entries(KEYS, _locations(len(KEYS), number)).unchanged == 3000
        meta = store.catalog.meta
        handles = [ray.get_actor(owner_name(meta.catalog_id, i), namespace=NAMESPACE) for i in range(3)]
        assert store.get(KEYS[17]) == _locations(3000, number)[17]
        site3 = list(store.list("https://site3.example/"))
        assert len(site3) == sum(1 for k in KEYS if k.startswith("https://site3.example/"))
        assert store.catalog.mark_many([(KEYS[1], "duplicate", "of x")]) == 1
        ray.kill(handles[1], no_restart=False)  # Ray restarts it; it reopens its directory (journal replay)
        found = store.catalog.get_many(KEYS)
        assert all(loc is not None for loc in found)
        assert store.catalog.mark_of(KEYS[1]) == ("duplicate", "of x")
        assert store.stats()["records"] == 3000 and store.stats()["volumes"] == 1
        assert len(set(store.list(""))) == 3000  # merged over the owners, each key once
    finally:
        meta = load_meta(root)
        store.close()
        assert stop_owners(meta.catalog_id, meta.num_owners) == 3
    with Store(root, read_only=True) as reader:  # and without Ray, from the owners' directories
        assert reader.stats()["records"] == 3000 and reader.mark_of(KEYS[1]) == ("duplicate", "of x")
