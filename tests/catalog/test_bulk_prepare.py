"""The columnar bulk preparation and existence filter give exactly what the per-key reference gives
(issue 10: registration from the workers without per-key Python work)."""
from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import numpy as np
import pytest

from catalog.bulk import _existing_filter, _Filtered, prepare_bulk, register_bulk
from catalog.bulk_filter import existing_filter_columns
from catalog.bulk_prepare import prepare_bulk_columns
from catalog.catalog import Catalog
from catalog.errors import InvalidKeyError
from catalog.location import Location, pack_many
from catalog.sst_files import ShardSstJob, write_shard_ssts
from tests.conftest import shared_data

EDGE_KEYS = [
    "https://a.b/x", "http://www.c.d/Y?q=1", "https://www/x", "https://www.www.e.f/p?b=2&a=1", "HTTP://X.Y/",
    "https://x.y/a/./b", "https://x.y/a/../b", "file:///tmp/a b.txt", "file:///tmp/ok.txt", "file:///é.txt",
    "s3://bucket/k", "plain-key", "https://x.y/p?", "https://x.y/p?&", "https://ex.com/%7Efoo", "https://é.com/x",
    "https://x.y:8080/a", "https://x.y:443/a", "https://x.y/a#f", "https://x.y/A/B", "http://www.x.y/a",
    "https://x.y/a", "https://x.y/a", "https://a..b/c", "https://x.y/a?B=1", "https://x.y/a?b=1?c",
    "https://user@x.y/a", "https://x.y", "http://x.y/a b", "ftp://x.y/a", "Https://x.y/a", "https://x.y/ä",
    "https://www.x.y/", "https://www.x.y/index.html?Q", "k" * 4096,
]


def _warc_urls() -> list[str]:
    raw = gzip.decompress((shared_data() / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes())
    return [m.decode("utf-8", "replace") for m in re.findall(rb"WARC-Target-URI: <?([^\r\n>]+)", raw)]


def _varied_keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    keys = list(EDGE_KEYS) + _warc_urls()
    for i in range(n):
        keys.append(f"https://{rng.choice(['www.', '', 'WWW.', 'a.www.'])}h{rng.randint(0, 50)}.ex"
                     f"{rng.choice(['', '.co.uk'])}/{rng.choice(['p', 'P', 'a/b', 'a/./b'])}/{i}"
                     f"{rng.choice(['', '?x=1', '?b=1&a=2', '?Q', '#frag'])}")
        if rng.random() < 0.1:
            keys.append(rng.choice(keys))  # repeats: the last occurrence wins
    return keys


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for shard in a:
        x, y = a[shard], b[shard]
        assert x.ids == y.ids and x.locations == y.locations and x.listing_blob == y.listing_blob
        assert np.array_equal(x.listing_ends, y.listing_ends)


def _forbid_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the columnar path fail loudly if it falls back to the per-key one."""
    def no_fallback(*args: object) -> None:
        raise AssertionError("the columnar path fell back to the per-key one (a sampled row differed)")
    monkeypatch.setattr("catalog.bulk_prepare.prepare_bulk", no_fallback)


@pytest.mark.parametrize("seed", [1, 2])
def test_columnar_preparation_equals_the_per_key_one(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _varied_keys(3000, seed)
    assert len(_warc_urls()) > 20
    locations = [Location(3, i * 10, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    expected = prepare_bulk(keys, locations, slot_map.tolist()).shards

    _forbid_fallback(monkeypatch)
    _same(expected, prepare_bulk_columns(keys, locations, slot_map).shards)
    i = np.arange(len(keys), dtype=np.uint64)
    packed = pack_many(np.full(len(keys), 3, np.uint32), i * 10, np.full(len(keys), 5, np.uint32), i)
    _same(expected, prepare_bulk_columns(keys, packed, slot_map).shards)


@pytest.mark.parametrize("www", ["none", "all", "some"])
@pytest.mark.parametrize("capitals", [False, True])
def test_web_batches_with_one_kind_of_host_or_path_equal_the_per_key_one(www: str, capitals: bool,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A web batch whose hosts all have (or all lack) ``www.``, or whose paths have no capitals, skips
    the per-row choices (catalog/bulk_prepare.py): same result as the per-key functions."""
    prefix = {"none": lambda i: "", "all": lambda i: "www.", "some": lambda i: "www." if i % 3 else ""}[www]
    keys = [f"http{'s' if i % 2 else ''}://{prefix(i)}h{i % 11}.ex/{'Dir' if capitals and i % 5 == 0 else 'dir'}/{i}"
            for i in range(2000)]
    locations = [Location(3, i * 10, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    expected = prepare_bulk(keys, locations, slot_map.tolist()).shards
    _forbid_fallback(monkeypatch)
    _same(expected, prepare_bulk_columns(keys, locations, slot_map).shards)


@pytest.mark.parametrize("form", ["web", "file", "plain", "slow"])
@pytest.mark.parametrize("compiled", [False, True])
def test_a_batch_of_one_key_form_with_repeats_equals_the_per_key_one(form: str, compiled: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key on one fast form (the usual ingest batch) takes the cheaper sort (listing alone, then
    owners) and its group's listing column as it is: repeats of a key with other locations must
    still come out in input order; also through the compiled passes of big batches, and for a batch
    whose every key needs the per-key functions (``slow``: query arguments SURT sorts)."""
    if compiled:
        monkeypatch.setattr("catalog.bulk_prepare.KERNEL_MIN_ROWS", 1)
    rng = random.Random(7)
    make = {"web": lambda i: f"https://{rng.choice(['www.', ''])}h{i % 7}.ex/{rng.choice(['p', 'P'])}/{i % 500}",
            "file": lambda i: f"file:///data/d{i % 7}/f{i % 500}.txt",
            "plain": lambda i: f"key-{i % 7}/{i % 500}",
            "slow": lambda i: f"https://h{i % 7}.ex/p?b={i % 500}&a=1"}[form]
    keys = [make(i) for i in range(4000)]  # every key repeated, some several times
    locations = [Location(3, i * 10, 5, rng.randrange(3)) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    expected = prepare_bulk(keys, locations, slot_map.tolist()).shards

    _forbid_fallback(monkeypatch)
    _same(expected, prepare_bulk_columns(keys, locations, slot_map).shards)


def test_a_listing_format_the_columns_do_not_know_falls_back_to_the_per_key_functions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import catalog.bulk
    import catalog.listing

    keys = _varied_keys(500, 5)
    locations = [Location(3, i, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024

    def changed_format(canonical: str) -> bytes:  # as if the listing encoding changed on another branch
        return b"v2" + catalog.listing.full_listing_entry(canonical)
    monkeypatch.setattr("catalog.bulk.listing_entry", changed_format)
    monkeypatch.setattr("catalog.bulk_prepare.listing_entry", changed_format)
    _same(catalog.bulk.prepare_bulk(keys, locations, slot_map.tolist()).shards,
          prepare_bulk_columns(keys, locations, slot_map).shards)


def test_columnar_preparation_refuses_what_the_per_key_one_refuses() -> None:
    slot_map = np.zeros(4096, dtype=np.int64)
    for bad in (["ok", ""], ["ok", "a\x00b"], ["https://x.y/" + "a" * 5000], ["https:///nohost"]):
        with pytest.raises(InvalidKeyError):
            prepare_bulk_columns(bad, [Location(1, 0, 1, 1)] * len(bad), slot_map)
    with pytest.raises(InvalidKeyError):
        prepare_bulk_columns(["ok", b"bytes"], [Location(1, 0, 1, 1)] * 2, slot_map)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="2 keys but 1 locations"):
        prepare_bulk_columns(["a", "b"], [Location(1, 0, 1, 1)], slot_map)


def test_columnar_filter_equals_the_per_key_one(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "c", num_shards=1, create=True)
    try:
        keys = _varied_keys(2000, 3)
        first = list(dict.fromkeys(keys))[:1200]
        register_bulk(cat, prepare_bulk(first, [Location(1, i, 5, i) for i in range(len(first))],
                                        cat.manifest.slot_map), workers=1)
        rng = random.Random(4)
        # a mix: same digest (unchanged), another digest (updated), new keys (added), repeats
        locations = [Location(2, i, 5, i if rng.random() < 0.5 else 10**9 + i) for i in range(len(keys))]
        batch = prepare_bulk(keys, locations, cat.manifest.slot_map).shards[0]
        ref = _existing_filter(cat, 0, batch)
        new = _Filtered(*existing_filter_columns(cat.shards[0], batch))
        assert (new.added, new.updated, new.unchanged) == (ref.added, ref.updated, ref.unchanged)
        assert ref.added and ref.updated and ref.unchanged
        assert new.listing_blob == ref.listing_blob and np.array_equal(new.listing_ends, ref.listing_ends)

        def rows(f: _Filtered) -> list[tuple[bytes, bytes]]:
            return sorted((f.ids[i * 16:(i + 1) * 16], f.locations[i * 22:(i + 1) * 22]) for i in range(len(f.ids) // 16))
        assert rows(new) == rows(ref)
    finally:
        cat.close()


def test_sst_writer_refuses_unsorted_listing_keys(tmp_path: Path) -> None:
    blob = b"ub" + b"ua"
    job = ShardSstJob(shard=0, loc_path=str(tmp_path / "l.sst"), list_path=str(tmp_path / "k.sst"),
                      ids=bytes(range(16)), values=bytes(22), value_size=22, listing_blob=blob,
                      listing_ends=np.array([2, 4], dtype=np.int64))
    with pytest.raises(ValueError, match=r"not sorted \(b'ua' after b'ub'\)"):
        write_shard_ssts(job)
