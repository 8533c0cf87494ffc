"""The sharded catalog: registration, idempotency, reads, listing, marks, deletes, bulk path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.bulk import prepare_bulk, register_bulk
from catalog.catalog import Catalog
from catalog.errors import CatalogError, CatalogNotFoundError, KeyNotFoundError, SchemaVersionError
from catalog.location import Location
from catalog.shard import WARM_SEEK_EVERY


def loc(i: int, digest: int | None = None) -> Location:
    return Location(1 + i % 3, i * 1000, 900 + i % 50, i if digest is None else digest)


def test_register_get_and_idempotency(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c", num_shards=3) as cat:
        keys = [f"https://host{i % 7}.example.org/page/{i}" for i in range(500)]
        r = cat.register_many((k, loc(i)) for i, k in enumerate(keys))
        assert (r.added, r.updated, r.unchanged) == (500, 0, 0)
        # same key + same digest: nothing changes; same key + new digest: points at the new location
        r = cat.register_many([(keys[0], loc(0)), (keys[1], Location(9, 5, 6, 12345))])
        assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
        assert cat.get(keys[1]) == Location(9, 5, 6, 12345)
        assert cat.get(keys[2].upper().replace("PAGE", "page").replace("HTTPS", "https")) == loc(2)
        assert cat.stats()["records"] == 500
        got = cat.get_many(keys[:10] + ["https://absent.example/"])
        assert got[:10] == [loc(0)] + [Location(9, 5, 6, 12345)] + [loc(i) for i in range(2, 10)]
        assert got[10] is None
        assert cat.exists(keys[3]) and not cat.exists("https://absent.example/")
        assert cat.exists_many([keys[4], "nope"]) == [True, False]
        with pytest.raises(KeyNotFoundError, match="not in the catalog"):
            cat.get("https://absent.example/")


def test_listing_is_surt_ordered_and_prefix_scoped_across_shards(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c", num_shards=4) as cat:
        urls = ["https://www.b.com/x", "http://a.com/2", "https://a.com/1", "https://a.com/1/deep",
                "https://sub.a.com/", "file:///data/z.txt", "file:///data/a.txt", "plain-key"]
        cat.register_many((u, loc(i)) for i, u in enumerate(urls))
        assert list(cat.list("https://a.com")) == ["https://a.com/1", "https://a.com/1/deep", "http://a.com/2"]
        assert list(cat.list("https://a.com/1")) == ["https://a.com/1", "https://a.com/1/deep"]
        assert list(cat.list("com,a,sub)")) == ["https://sub.a.com/"]
        assert list(cat.list("file:///data/")) == ["file:///data/a.txt", "file:///data/z.txt"]
        everything = list(cat.list())
        assert len(everything) == len(urls)
        assert everything[:2] == ["file:///data/a.txt", "file:///data/z.txt"]  # 'k' sorts before 'u'
        assert everything.index("https://www.b.com/x") > everything.index("https://sub.a.com/")
        assert list(cat.list(limit=3)) == everything[:3]
        assert dict(cat.items("https://a.com"))["https://a.com/1"] == loc(2)


def test_marks_and_deletes(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c") as cat:
        cat.register_many([("k1", loc(1)), ("k2", loc(2))])
        cat.mark_many([("k1", "removed", "near_duplicate")])
        assert cat.mark_of("k1") == ("removed", "near_duplicate")
        assert cat.mark_of("k2") is None
        with pytest.raises(KeyNotFoundError):
            cat.mark_many([("absent", "kept", "")])
        assert cat.delete_many(["k1", "absent"]) == 1
        assert not cat.exists("k1") and cat.mark_of("k1") is None
        assert list(cat.list()) == ["k2"]
        assert cat.stats()["records"] == 1


def test_bulk_path_matches_register_many_and_is_idempotent(tmp_path: Path) -> None:
    keys = [f"https://h{i % 13}.example/{i}" for i in range(5000)]
    locs = [loc(i) for i in range(5000)]
    with Catalog.open(tmp_path / "bulk") as a, Catalog.open(tmp_path / "puts") as b:
        r = register_bulk(a, prepare_bulk(keys, locs, a.manifest.slot_map))
        assert r.added == 5000
        b.register_many(zip(keys, locs))
        assert list(a.list()) == list(b.list())
        assert a.get_many(keys) == b.get_many(keys)
        # again, with one change and a duplicate key inside the batch (last one wins)
        changed = locs[:100]
        changed[5] = Location(3, 3, 3, 999)
        r = register_bulk(a, prepare_bulk(keys[:100] + [keys[7]], changed + [Location(4, 4, 4, 444)], a.manifest.slot_map))
        assert (r.added, r.updated, r.unchanged) == (0, 2, 98)
        assert a.get(keys[5]) == Location(3, 3, 3, 999) and a.get(keys[7]) == Location(4, 4, 4, 444)
        assert a.stats()["records"] == 5000
    # ids whose last byte is NUL must survive the numpy paths (S16 arrays strip trailing NULs)
    from catalog.keys import canonical_key, key_id

    nul_keys = [k for k in keys if key_id(canonical_key(k)).endswith(b"\x00")]
    assert nul_keys, "5000 random ids contain ~20 ending in a NUL byte"
    with Catalog.open(tmp_path / "bulk") as a:
        assert all(v is not None for v in a.get_many(nul_keys))


def test_bulk_batch_mixing_new_and_registered_keys_lists_exactly_the_new_ones(tmp_path: Path) -> None:
    # Regression: a batch of new and already registered keys on a non-empty shard used to pair ids
    # with the wrong listing keys, so `list` lost new keys and repeated old ones.
    keys = [f"https://site{i % 7}.example.org/page/{i}" for i in range(3000)]
    with Catalog.open(tmp_path / "bulk") as a, Catalog.open(tmp_path / "puts") as b:
        register_bulk(a, prepare_bulk(keys[:1000], [loc(i) for i in range(1000)], a.manifest.slot_map))
        b.register_many((k, loc(i)) for i, k in enumerate(keys[:1000]))
        mixed = keys[500:2000] + keys[1999:2000]  # half registered, half new, one repeated
        mixed_locs = [loc(i, digest=i + 7) for i in range(500, 2000)] + [Location(5, 5, 5, 55)]
        r = register_bulk(a, prepare_bulk(mixed, mixed_locs, a.manifest.slot_map))
        assert (r.added, r.updated, r.unchanged) == (1000, 500, 0)
        b.register_many(zip(mixed, mixed_locs))
        assert list(a.list()) == list(b.list())
        assert sorted(a.list()) == sorted(keys[:2000])
        assert list(a.items()) == list(b.items())
        assert a.get(keys[1999]) == Location(5, 5, 5, 55)


def test_sorted_unique_order_keeps_the_last_of_repeated_ids() -> None:
    from catalog.sst_files import sorted_unique_order

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 256, size=(1000, 16), dtype=np.uint8)
    ids[10] = ids[500]
    ids[20, :8] = ids[30, :8]  # equal first 8 bytes, different ids: both kept, ordered by the rest
    order = sorted_unique_order(ids)
    assert 10 not in order.tolist() and 500 in order.tolist()
    assert len(order) == 999
    as_bytes = [ids[i].tobytes() for i in order]
    assert as_bytes == sorted(set(as_bytes))


def test_recovery_completes_a_bulk_load_whose_files_were_partly_moved_in(tmp_path: Path) -> None:
    from catalog.journal_records import apply_record

    keys = [f"https://h{i % 5}.example/{i}" for i in range(2000)]
    with Catalog.open(tmp_path / "c") as cat:
        entries = prepare_bulk(keys, [loc(i) for i in range(2000)], cat.manifest.slot_map)
        register_bulk(cat, entries)
    # Replay a record naming files that were moved in already (gone from the stage): nothing breaks,
    # nothing is counted twice.
    with Catalog.open(tmp_path / "c") as cat:
        stage = tmp_path / "c" / "staging"
        record = {"t": "bulk", "f": {str(i): [str(stage / f"9-{i}-loc.sst"), str(stage / f"9-{i}-list.sst"), 0]
                                     for i in range(len(cat.shards))}}
        apply_record(cat.shards, cat.next_seq(), record, cat.directory)
        assert cat.stats()["records"] == 2000
        assert sorted(cat.list()) == sorted(keys)


def test_reopen_keeps_everything_and_counts(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c", num_shards=2) as cat:
        cat.register_many((f"k{i}", loc(i)) for i in range(100))
    with Catalog.open(tmp_path / "c", num_shards=8) as cat:  # num_shards applies only on create
        assert len(cat.shards) == 2
        assert cat.stats()["records"] == 100 and cat.get("k42") == loc(42)


def test_missing_catalog_and_read_only(tmp_path: Path) -> None:
    with pytest.raises(CatalogNotFoundError, match="no catalog"):
        Catalog.open(tmp_path / "none", create=False)
    with Catalog.open(tmp_path / "c") as cat:
        cat.register_many([("k", loc(1))])
        with Catalog.open(tmp_path / "c", read_only=True) as ro:  # readers beside the writer
            assert ro.get("k") == loc(1)
            with pytest.raises(CatalogError, match="read-only"):
                ro.register_many([("x", loc(2))])


def test_schema_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c"):
        pass
    manifest = tmp_path / "c" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"schema_version": 1', '"schema_version": 99'))
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        Catalog.open(tmp_path / "c")


def test_shard_routing_uses_the_slot_map(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c", num_shards=4) as cat:
        cat.register_many((f"key-{i}", loc(i)) for i in range(2000))
        counts = [s.count() for s in cat.shards]
        assert sum(counts) == 2000 and min(counts) > 350  # xxh3 spreads keys evenly
        assert cat.warm_cache() == sum(c // WARM_SEEK_EVERY + 1 for c in counts)  # every shard warmed
        ids = np.frombuffer(b"".join(cat.shards[2].db.keys()), np.uint8).reshape(-1, 16)
        assert len(ids) == counts[2]
        slots = (ids[:, 0].astype(int) << 4) | (ids[:, 1].astype(int) >> 4)
        assert set(cat.manifest.slot_map[s] for s in slots) == {2}


def test_bulk_sst_files_written_by_spawned_workers_equal_in_process(tmp_path: Path) -> None:
    keys = [f"file:///data/{i % 31}/{i}.txt" for i in range(3000)]
    locs = [loc(i) for i in range(3000)]
    from catalog import sst_files

    sst_files.warm_up(2)  # what a long-running catalog (and the benchmark) does before loads
    with Catalog.open(tmp_path / "one") as a, Catalog.open(tmp_path / "two") as b:
        register_bulk(a, prepare_bulk(keys, locs, a.manifest.slot_map), workers=1)
        register_bulk(b, prepare_bulk(keys, locs, b.manifest.slot_map), workers=2)
        assert list(a.items()) == list(b.items())
        assert b.stats()["records"] == 3000


def test_parallel_reader_processes_see_every_acknowledged_write(tmp_path: Path) -> None:
    from catalog.catalog import PARALLEL_LOOKUP_MIN
    from catalog.keys import canonical_key, key_id

    n = PARALLEL_LOOKUP_MIN + 5000
    keys = [f"https://r{i % 101}.example/{i}" for i in range(n)]
    with Catalog.open(tmp_path / "c", parallel_readers=2) as cat:
        cat.register_many((k, loc(i)) for i, k in enumerate(keys[: n // 2]))
        ids = [key_id(canonical_key(k)) for k in keys]
        first = cat.get_many_ids(ids)  # starts the readers
        assert cat._readers is not None and cat._readers._procs, "large batches go to reader processes"
        assert sum(v is not None for v in first) == n // 2
        # written after the readers opened their secondary instances: still visible (catch-up)
        cat.register_many((k, loc(i)) for i, k in enumerate(keys) if i >= n // 2)
        found, values = cat.lookup_ids(np.frombuffer(b"".join(ids), dtype=np.uint8))
        assert found.all()
        assert [Location.unpack(values[i].tobytes()) for i in (0, n - 1)] == [loc(0), loc(n - 1)]
        with Catalog.open(tmp_path / "c", read_only=True, parallel_readers=0) as plain:
            assert plain.get_many_ids(ids) == cat.get_many_ids(ids)  # in-process path agrees
        # a bulk load between two reader lookups is seen too
        more = [f"https://bulk{i % 7}.example/{i}" for i in range(PARALLEL_LOOKUP_MIN)]
        register_bulk(cat, prepare_bulk(more, [loc(i) for i in range(len(more))], cat.manifest.slot_map))
        more_ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in more), dtype=np.uint8)
        assert cat.lookup_ids(more_ids)[0].all()


@pytest.mark.slow
def test_batched_lookups_on_a_catalog_of_more_than_256_shards(tmp_path: Path) -> None:
    """Reader requests named the shard in one byte (``bytes([shard])``): shard 256 and up failed."""
    from catalog.catalog import PARALLEL_LOOKUP_MIN
    from catalog.keys import canonical_key, key_id

    n = PARALLEL_LOOKUP_MIN + 2000
    keys = [f"https://s{i % 211}.example/{i}" for i in range(n)]
    with Catalog.open(tmp_path / "c", num_shards=257, parallel_readers=2) as cat:
        register_bulk(cat, prepare_bulk(keys, [loc(i) for i in range(n)], cat.manifest.slot_map))
        ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in keys), dtype=np.uint8)
        found, values = cat.lookup_ids(ids)  # large: through the reader process
        assert cat._readers is not None and cat._readers._procs
        assert found.all()
        assert max(cat.manifest.slot_map[(b[0] << 4) | (b[1] >> 4)] for b in (key_id(canonical_key(k)) for k in keys)) == 256
        assert [Location.unpack(values[i].tobytes()) for i in range(0, n, 997)] == [loc(i) for i in range(0, n, 997)]
