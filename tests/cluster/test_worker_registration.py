"""Registration from a Ray worker (``ingest.packing.register_on_worker``): every record of the sealed
volumes ends in its owner with the location the volume gave it, a retry changes nothing, a changed
digest updates, and lookups through the owners answer in the order asked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.catalog_meta import load_meta
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.store import Store
from catalog.volume import SealedVolume


def _volume(name: str, keys: list[str], digest_offset: int = 0) -> SealedVolume:
    records = [(k, 300 * i, 100 + i % 13, 7919 * i + digest_offset) for i, k in enumerate(keys)]
    return SealedVolume(f"file:///vols/{name}.warc.gz", 300 * len(keys), records, f"file:///vols/{name}.cdxj")


def test_register_on_worker_is_exact_and_idempotent(tmp_path: Path, ray_session: None) -> None:
    import ray

    from catalog.owner_actor import stop_owners
    from ingest.packing import register_on_worker

    keys_a = [f"https://h{i % 41}.example/a/{i}" for i in range(30_000)]  # big enough for SST ingest per owner
    keys_b = [f"file:///data/dir {i % 3}/f{i}.txt" for i in range(500)] + ["HTTP://WWW.X.Example/Up?b=2&a=1"]
    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=3)
    try:
        owners = (store.root, str(store.layout.catalog_dir), store.catalog.meta.num_owners)
        task = ray.remote(num_cpus=1)(register_on_worker)
        sealed = [_volume("one", keys_a), _volume("two", keys_b)]
        assert ray.get(task.remote(owners, sealed)) == (len(keys_a) + len(keys_b), 0, 0)
        assert ray.get(task.remote(owners, sealed)) == (0, 0, len(keys_a) + len(keys_b))  # a retried task
        changed = [_volume("two", keys_b[:100], digest_offset=1)]
        assert ray.get(task.remote(owners, changed)) == (0, 100, 0)
        assert store.stats()["records"] == len(keys_a) + len(keys_b)
        one, two = store.catalog.volumes.number_of(sealed[0].url), store.catalog.volumes.number_of(sealed[1].url)
        assert store.get(keys_a[12_345]) == Location(one, 300 * 12_345, 100 + 12_345 % 13, 7919 * 12_345)
        assert store.get(keys_b[-1]) == Location(two, 300 * 500, 100 + 500 % 13, 7919 * 500)
        assert store.get(keys_b[7]) == Location(two, 300 * 7, 100 + 7, 7919 * 7 + 1)
        listed = list(store.list("https://h5.example/"))
        assert sorted(listed) == sorted(k for k in keys_a if k.startswith("https://h5.example/"))
        # lookups: any order in, the same order out, misses where absent
        asked = keys_a[::-97] + ["https://absent.example/x"] + keys_b[:3]
        ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in asked), np.uint8).reshape(-1, 16)
        found, values = store.catalog.lookup_ids(ids)
        assert found.tolist() == [k != "https://absent.example/x" for k in asked]
        expected = store.catalog.get_many(asked)
        for hit, raw, loc in zip(found.tolist(), values, expected):
            assert (Location.unpack(raw.tobytes()) if hit else None) == loc
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)


def test_register_on_worker_refuses_a_record_of_length_zero(tmp_path: Path, ray_session: None) -> None:
    from catalog.owner_actor import stop_owners
    from ingest.packing import register_on_worker

    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=2)
    try:
        owners = (store.root, str(store.layout.catalog_dir), store.catalog.meta.num_owners)
        bad = SealedVolume("file:///vols/bad.warc.gz", 10, [("https://x.example/a", 0, 5, 1), ("https://x.example/b", 5, 0, 2)],
                           "file:///vols/bad.cdxj")
        with pytest.raises(ValueError, match="'https://x.example/b' has length 0"):
            register_on_worker(owners, [bad])
        assert store.stats()["records"] == 0
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
