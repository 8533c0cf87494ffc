"""The compiled key ids (catalog/key_id_kernel.py, issue 10) equal ``xxhash.xxh3_128_digest`` — what
:func:`catalog.keys.key_id` gives — on every length they cover, leave the other lengths to the caller,
and a big batch prepared with them equals the per-key reference (also with keys of those lengths)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash

import catalog.bulk_prepare as bulk_prepare
from catalog.arrow_columns import strings
from catalog.bulk import prepare_bulk
from catalog.key_id_kernel import MAX_BYTES, MIN_BYTES, key_ids_of_rows
from catalog.keys import key_id
from catalog.location import Location
from tests.catalog.test_bulk_prepare import _forbid_fallback, _same, _varied_keys


def _column(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    return np.frombuffer(b"".join(values) or b"\0", np.uint8), offsets


@pytest.mark.parametrize("seed", [1, 2])
def test_ids_equal_xxhash_on_every_length(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # random bytes (0x00 and 0xff included) of every length from 0 to past the covered range, 12 each
    values = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in range(0, MAX_BYTES + 40) for _ in range(12)]
    values += [b"\0" * n for n in (MIN_BYTES, 16, 17, 128, 129, MAX_BYTES)] + [b"\xff" * n for n in (9, 33, 200)]
    data, offsets = _column(values)
    ids, done = key_ids_of_rows(data, offsets, np.arange(len(values)))
    lengths = np.array([len(v) for v in values])
    assert np.array_equal(done, (lengths >= MIN_BYTES) & (lengths <= MAX_BYTES))
    wrong = [len(v) for v, i, d in zip(values, ids, done) if d and i.tobytes() != xxhash.xxh3_128_digest(v)]
    assert not wrong, sorted(set(wrong))
    assert not ids[~done].any()  # left as zeros for the caller


def test_ids_of_chosen_rows_in_their_order() -> None:
    keys = [f"https://h{i}.example/p/{i}".encode() for i in range(100)]
    rows = np.array([99, 3, 3, 50, 0])
    ids, done = key_ids_of_rows(*_column(keys), rows)
    assert done.all()
    assert [i.tobytes() for i in ids] == [xxhash.xxh3_128_digest(keys[r]) for r in rows.tolist()]


def test_a_big_batch_with_keys_of_every_length_equals_the_per_key_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    # fast-form keys the compiled pass leaves to the library (under 9 bytes: plain keys; over 240 bytes:
    # long URLs), non-ASCII keys (multi-byte UTF-8) and the varied keys of the columnar tests
    keys = _varied_keys(2000, 5) + [f"k{i}" for i in range(300)] + ["é" * rng.randint(1, 150) for _ in range(200)]
    keys += [f"https://a.example/{'x' * rng.randint(200, 600)}/{i}" for i in range(300)]
    rng.shuffle(keys)
    locations = [Location(3, i * 10, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    expected = prepare_bulk(keys, locations, slot_map.tolist()).shards
    calls: list[int] = []
    real = bulk_prepare._column_key_ids
    monkeypatch.setattr(bulk_prepare, "_column_key_ids", lambda *a: calls.append(len(a[1])) or real(*a))
    monkeypatch.setattr(bulk_prepare, "KERNEL_MIN_ROWS", 1)
    _forbid_fallback(monkeypatch)
    _same(expected, bulk_prepare.prepare_bulk_columns(keys, locations, slot_map).shards)
    assert calls and calls[0] > 1500  # fast-form rows, hashed by the compiled pass or the library


def test_a_wrong_compiled_id_sends_the_batch_to_the_per_key_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sampled rows check the ids too: a kernel that went wrong costs speed, never a wrong id."""
    keys = [f"https://h{i % 7}.example/p/{i}" for i in range(1000)]
    locations = [Location(3, i * 10, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    real = bulk_prepare._column_key_ids

    def wrong(*args: object) -> np.ndarray:
        ids = real(*args)
        ids[:, 15] ^= 1
        return ids
    monkeypatch.setattr(bulk_prepare, "_column_key_ids", wrong)
    monkeypatch.setattr(bulk_prepare, "KERNEL_MIN_ROWS", 1)
    fell_back: list[int] = []
    real_prepare = bulk_prepare.prepare_bulk
    monkeypatch.setattr(bulk_prepare, "prepare_bulk", lambda k, *a: fell_back.append(len(k)) or real_prepare(k, *a))
    got = bulk_prepare.prepare_bulk_columns(keys, locations, slot_map).shards
    assert fell_back == [len(keys)]
    assert sorted(b"".join(b.ids for b in got.values())[i:i + 16] for i in range(0, 16000, 16)) == \
        sorted(key_id(k) for k in keys)


def test_ids_of_an_arrow_string_column_equal_key_id() -> None:
    arr = strings(["https://example.com/a", "https://example.com/b"])
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], np.int64)
    ids, done = key_ids_of_rows(data, offsets, np.arange(2))
    assert done.all() and ids[0].tobytes() == key_id("https://example.com/a")
