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


def test_an_owner_sigkilled_mid_batch_loses_and_doubles_nothing(tmp_path: Path, ray_session: None) -> None:
    """SIGKILL an owner's process (by its pid) while big batches are in flight: Ray restarts it, it
    replays its journal, the calls are retried (every owner call is idempotent), and the counts are exact."""
    import os
    import signal

    import ray

    from catalog.bulk import prepare_bulk
    from catalog.owner_actor import NAMESPACE, owner_name, stop_owners

    root = str(tmp_path / "r")
    keys = [f"https://big{i % 101}.example/{i}" for i in range(60_000)]
    store = Store(root, cluster=True, num_shards=2)
    try:
        store.catalog.ensure()
        meta = store.catalog.meta
        victim = ray.get_actor(owner_name(meta.catalog_id, 0), namespace=NAMESPACE)
        pid = ray.get(victim.where.remote())["pid"]
        prepared = prepare_bulk(keys, _locations(len(keys)), meta.slot_owner().tolist())
        ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in keys[:5000]), np.uint8).reshape(-1, 16)
        mine = store.catalog.owner_of_ids(ids) == 0
        small = [(canonical_key(k), loc.pack()) for k, loc, m in zip(keys, _locations(5000), mine) if m]
        refs = [victim.call.remote("register_batch", prepared.shards[0], meta.epoch),
                victim.call.remote("register", small, meta.epoch)]
        os.kill(pid, signal.SIGKILL)
        ray.get(refs, timeout=300)  # retried on the restarted owner
        assert ray.get(victim.where.remote())["pid"] != pid
        result = store.catalog.register_bulk_entries(keys, _locations(len(keys)))  # the driver re-drives it all
        assert result.added + result.unchanged == len(keys) and result.updated == 0
        assert store.stats()["records"] == len(keys)
        assert all(loc is not None for loc in store.catalog.get_many(keys[::97]))
        assert len(set(store.list(""))) == len(keys)
    finally:
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
