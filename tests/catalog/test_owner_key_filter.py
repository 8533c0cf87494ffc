"""An owner's in-memory filter of the ids it holds (catalog/owner_key_filter.py, issue 10) never hides a
key that is there: registration counts and stored locations match the catalog's rules whichever path
wrote the key before (SST batches, the journal, marks, deletes, a write the owner store did not see),
and ids are read from RocksDB only where the filter may hold them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog_meta import CatalogMeta, even_owners
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_key_filter import KnownIds, prefixes_of
from catalog.owner_store import BULK_MIN, OwnerStore

SLOT_OWNER = np.zeros(4096, np.int64)


def _keys(lo: int, hi: int) -> list[str]:
    return [f"https://h{i % 89}.example/q/{i}" for i in range(lo, hi)]


def _batch(keys: list[str], volume: int, digest_of=lambda i: i):  # noqa: ANN001, ANN202
    locs = [Location(volume, i * 10, 7, digest_of(i)) for i in range(len(keys))]
    return prepare_bulk_columns(keys, locs, SLOT_OWNER).shards[0]


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    s = OwnerStore(tmp_path / "o0", 0, CatalogMeta("c-filter", 1, even_owners(1)))
    yield s
    s.close()


def test_keys_written_by_every_path_are_found_by_the_next_sst_batch(store: OwnerStore) -> None:
    n = BULK_MIN + 1000
    first = _keys(0, n)
    assert store.register_batch(_batch(first, 1), store.epoch) == (n, 0, 0)
    # through the journal (OwnerStore.register): the filter takes these ids in
    journal_keys = _keys(n, n + 30)
    store.register([(canonical_key(k), Location(2, 5, 7, 1000 + j).pack()) for j, k in enumerate(journal_keys)], store.epoch)
    # straight into the catalog, behind the owner store's back: the filter must notice it is stale
    hidden = _keys(n + 30, n + 60)
    store.catalog.register_many((k, Location(3, 5, 7, 2000 + j)) for j, k in enumerate(hidden))
    store.mark_many([(first[0], "dup", "test")], store.epoch)
    assert store.delete_many(first[1:11], store.epoch) == 10
    # every key again with its digest: all unchanged except the 10 deleted (added again)
    again = first + journal_keys + hidden
    digests = list(range(n)) + [1000 + j for j in range(30)] + [2000 + j for j in range(30)]
    added, updated, unchanged = store.register_batch(_batch(again, 9, digests.__getitem__), store.epoch)
    assert (added, updated, unchanged) == (10, 0, len(again) - 10)
    assert store.stats()["records"] == len(again)
    # unchanged keys keep their first location; the deleted ones come back at the new one
    shard = store.catalog.shards[0]
    assert Location.unpack(shard.get(key_id(canonical_key(hidden[0])))).volume == 3
    assert Location.unpack(shard.get(key_id(canonical_key(first[5])))).volume == 9
    assert Location.unpack(shard.get(key_id(canonical_key(first[50])))).volume == 1
    # a new digest for some: updated, listing entries unchanged in number
    changed = first[100:200]
    assert store.register_batch(_batch(changed + _keys(10**6, 10**6 + BULK_MIN), 11), store.epoch)[:2] == (BULK_MIN, 100)
    listed = sum(1 for _ in store.catalog.shards[0].scan_listing(b"", None))
    assert listed == store.stats()["records"] == len(again) + BULK_MIN


def test_only_ids_the_filter_may_hold_are_read(store: OwnerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    n = BULK_MIN + 10
    store.register_batch(_batch(_keys(0, n), 1), store.epoch)
    shard = store.catalog.shards[0]
    asked: list[int] = []
    real = type(shard).get_many
    monkeypatch.setattr(type(shard), "get_many", lambda self, ids: asked.append(len(ids)) or real(self, ids))
    new = _keys(n, 2 * n)
    store.register_batch(_batch(_keys(0, 5) + new, 2), store.epoch)  # 5 held, n new
    assert sum(asked) == 5


def test_a_stale_filter_on_a_big_index_is_not_used(store: OwnerStore) -> None:
    known = KnownIds()
    n = BULK_MIN + 10
    store.register_batch(_batch(_keys(0, n), 1), store.epoch)
    shard = store.catalog.shards[0]
    assert known.ready(shard, n)  # small enough next to the batch: rebuilt by a scan
    ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in _keys(0, 3)), np.uint8).reshape(-1, 16)
    assert known.maybe_present(np.sort(prefixes_of(ids))).all()
    store.register([(canonical_key("https://x.example/1"), Location(4, 1, 2, 3).pack())], store.epoch)
    assert not known.in_sync(shard)  # written behind its back
    assert not known.ready(shard, 10)  # 10-id batch, index far bigger: RocksDB answers instead


def test_register_batch_if_absent_answers_absent_ids_from_the_filter(store: OwnerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    n = BULK_MIN + 10
    held = _keys(0, n)
    store.register_batch(_batch(held, 1), store.epoch)
    behind = _keys(5 * n, 5 * n + 3)  # written behind the store's back: the filter must not hide them
    store.catalog.register_many((k, Location(6, 1, 7, 5)) for k in behind)
    reads: list[int] = []
    import catalog.owner_store as owner_store_module

    real = owner_store_module.OwnerStore.lookup
    monkeypatch.setattr(owner_store_module.OwnerStore, "lookup",
                        lambda self, ids, epoch: reads.append(len(ids)) or real(self, ids, epoch))
    new = _keys(n, n + 4000)
    batch = _batch(held[:7] + behind + new, 2)
    (added, updated, unchanged), found_ids, found_values = store.register_batch_if_absent(batch, store.epoch)
    assert (added, updated, unchanged) == (len(new), 0, 0)
    want = {key_id(canonical_key(k)) for k in held[:7] + behind}
    got = {found_ids[i * 16:(i + 1) * 16] for i in range(len(found_ids) // 16)}
    assert got == want
    assert sum(reads) == 10  # rebuilt (changed behind its back, small): only the 10 held ids are read
    reads.clear()
    again = _batch(_keys(n + 4000, n + 4100) + held[10:12], 3)
    (added, _, _), found_ids, _ = store.register_batch_if_absent(again, store.epoch)
    assert added == 100 and len(found_ids) == 2 * 16
    assert sum(reads) == 2  # in sync: only the two held ids are read
