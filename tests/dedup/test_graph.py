"""Candidate pairs from buckets, connected components, band keys (no Ray)."""
from __future__ import annotations

import random

import numpy as np

from dedup.candidates import group_pairs, unique_pairs
from dedup.components import connected_components
from dedup.join_kernels import distinct_sorted_pairs
from dedup.split_stage import band_keys


def _union_find_roots(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in parent}


def test_components_match_union_find() -> None:
    rng = random.Random(3)
    for _ in range(20):
        edges = [(rng.randrange(300), rng.randrange(300)) for _ in range(rng.randrange(1, 400))]
        a = np.array([e[0] for e in edges], dtype=np.uint64) * np.uint64(1 << 33)
        b = np.array([e[1] for e in edges], dtype=np.uint64) * np.uint64(1 << 33)
        nodes, roots = connected_components(a, b)
        expected = _union_find_roots(edges)
        got = {int(n) >> 33: int(r) >> 33 for n, r in zip(nodes, roots)}
        assert got == expected


def test_long_chain_converges() -> None:
    n = 5000
    nodes, roots = connected_components(np.arange(n - 1, dtype=np.uint64), np.arange(1, n, dtype=np.uint64))
    assert len(nodes) == n and (roots == 0).all()


def test_group_pairs() -> None:
    keys = np.array([5, 5, 7, 5, 9, 7], dtype=np.uint64)
    ordinals = np.array([10, 11, 12, 13, 14, 15], dtype=np.uint64)
    pairs = group_pairs(keys, ordinals).tolist()
    assert pairs == [[10, 11], [10, 13], [11, 13], [12, 15]]


def test_big_group_is_linear() -> None:
    keys = np.zeros(1000, dtype=np.uint64)
    pairs = group_pairs(keys, np.arange(1000, dtype=np.uint64), max_group_pairs=32)
    assert len(pairs) < 2000
    nodes, roots = connected_components(pairs[:, 0], pairs[:, 1])
    assert len(nodes) == 1000 and (roots == 0).all()


def test_unique_pairs_orders_and_dedupes() -> None:
    pairs = np.array([[3, 1], [1, 3], [2, 2], [0, 4]], dtype=np.uint64)
    assert unique_pairs(pairs).tolist() == [[0, 4], [1, 3]]


def test_band_keys_agree_only_on_equal_bands() -> None:
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, size=(3, 12), dtype=np.uint32)
    sig[1, :4] = sig[0, :4]  # same first band
    keys = band_keys(sig, bands=3, rows=4)
    assert keys[0, 0] == keys[1, 0]
    assert keys[0, 1] != keys[1, 1] and keys[0, 2] != keys[1, 2]
    assert len(set(keys[2].tolist()) & set(keys[0].tolist())) == 0


def test_band_keys_kernel_equals_the_numpy_reference() -> None:
    from dedup.split_stage import band_keys_reference

    rng = np.random.default_rng(5)
    sig = rng.integers(0, 2**32, size=(300, 128), dtype=np.uint32)
    for bands, rows in ((25, 5), (16, 8), (9, 13), (1, 1)):
        assert np.array_equal(band_keys(sig, bands, rows), band_keys_reference(sig, bands, rows))


def test_jaccard_kernel_equals_python_sets() -> None:
    from dedup.jaccard import jaccard_of_sets

    rng = np.random.default_rng(6)
    sets = [rng.integers(0, 50, size=int(rng.integers(0, 40))).astype(np.uint32) for _ in range(41)]
    left, right = sets[:-1], sets[1:]
    got = jaccard_of_sets(np.concatenate(left), np.r_[0, np.cumsum([len(s) for s in left])],
                          np.concatenate(right), np.r_[0, np.cumsum([len(s) for s in right])])
    for value, a, b in zip(got, left, right):
        sa, sb = set(a.tolist()), set(b.tolist())
        assert value == np.float32(len(sa & sb) / len(sa | sb) if sa | sb else 1.0)


def test_group_pairs_of_many_rows_equals_all_pairs_by_key() -> None:
    """Singleton keys are filtered out first: same pairs as by brute force."""
    rng = np.random.default_rng(8)
    keys = rng.integers(0, 200_000, size=100_000).astype(np.uint64)
    ordinals = rng.permutation(10**6)[:100_000].astype(np.uint64)
    by_key: dict[int, list[int]] = {}
    for key, ordinal in zip(keys.tolist(), ordinals.tolist()):
        by_key.setdefault(key, []).append(ordinal)
    expected = sorted((min(a, b), max(a, b)) for members in by_key.values() if 1 < len(members) <= 32
                      for i, a in enumerate(members) for b in members[i + 1:])
    big = [m for m in by_key.values() if len(m) > 32]
    assert not big
    assert [tuple(p) for p in group_pairs(keys, ordinals).tolist()] == expected


def test_big_group_pairs_do_not_depend_on_input_order() -> None:
    """A big group pairs each member with the lowest ordinal and its neighbour in ordinal order,
    whether or not the rows arrive in ordinal order (the spill files' order, or any other)."""
    rng = np.random.default_rng(9)
    keys = np.r_[np.zeros(100), np.ones(50), rng.integers(2, 40, 200)].astype(np.uint64)
    ordinals = np.arange(350, dtype=np.uint64)
    in_order = group_pairs(keys, ordinals)
    shuffled = rng.permutation(350)
    assert np.array_equal(group_pairs(keys[shuffled], ordinals[shuffled]), in_order)
    assert [0, 1] in in_order.tolist() and [0, 99] in in_order.tolist() and [98, 99] in in_order.tolist()


def test_shared_key_rows_equals_a_stable_sort_of_the_shared_keys() -> None:
    """The compiled bucket sort equals numpy's stable argsort, with the keys seen once dropped: few
    distinct keys (long runs, merge-sorted buckets), many, and keys clustered in one bucket."""
    from dedup.join_kernels import shared_key_rows

    rng = np.random.default_rng(7)
    for trial in range(120):
        n = int(rng.integers(0, 2000))
        keys = rng.integers(0, [3, 60, 2**63][trial % 3], n).astype(np.uint64)
        if trial % 4 == 0:
            keys <<= np.uint64(int(rng.integers(0, 60)))  # all in a few top-20-bit buckets
        ordinals = rng.permutation(n).astype(np.uint64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        equal_next = sorted_keys[1:] == sorted_keys[:-1]
        shared = np.r_[equal_next, False] | np.r_[False, equal_next] if n else np.zeros(0, bool)
        got_keys, got_ordinals = shared_key_rows(keys, ordinals)
        assert np.array_equal(got_keys, sorted_keys[shared])
        assert np.array_equal(got_ordinals, ordinals[order[shared]])


def _unique_pairs_by_lexsort(pairs: np.ndarray) -> np.ndarray:
    low, high = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    keep = low != high
    low, high = low[keep], high[keep]
    order = np.lexsort((high, low))
    low, high = low[order], high[order]
    distinct = np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])]
    return np.stack([low[distinct], high[distinct]], axis=1)


def test_unique_pairs_radix_path_equals_lexsort_and_falls_back_on_wide_ordinals() -> None:
    """The compiled radix sort applies when split bits + row bits <= 32 (4096 x 2^20 just fits);
    wider ordinals go through the lexsort; both give the lexsort's pairs."""
    rng = np.random.default_rng(3)
    for splits, rows, fast in ((20, 30_000, True), (1, 5, True), (4096, 1 << 20, True), (4097, 1 << 20, False),
                               (1 << 31, 1 << 31, False)):
        ordinals = (rng.integers(0, splits, (4000, 2), dtype=np.uint64) << np.uint64(32)) | rng.integers(
            0, rows, (4000, 2), dtype=np.uint64)
        ordinals[:, 0][rng.integers(0, 2, 4000).astype(bool)] = ordinals[:, 0].max()  # the widest split and row
        ordinals[:, 1][:3] = ((np.uint64(splits - 1) << np.uint64(32)) | np.uint64(rows - 1))
        pairs = np.concatenate([ordinals, ordinals[:1500], ordinals[:200, ::-1], ordinals[:50, :1].repeat(2, axis=1)])
        low, high = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
        assert distinct_sorted_pairs(low[low != high], high[low != high])[2] is fast
        got, want = unique_pairs(pairs), _unique_pairs_by_lexsort(pairs)
        assert got.dtype == want.dtype == np.uint64 and got.tolist() == want.tolist()
