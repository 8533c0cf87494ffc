"""The id filter's update after a write (catalog/owner_key_filter.py, issue 10): one search of the batch's
prefixes serves the existence check and the update, and the merge keeps the filter exactly the sorted
distinct prefixes of everything written, whatever order, repeats or held ids the batch has."""
from __future__ import annotations

import numpy as np

from catalog.owner_key_filter import KnownIds, _merge


class _Shard:
    """What the filter reads of a shard: its write sequence and key count."""

    def __init__(self) -> None:
        self.seq = 0
        self.keys = 0

    def applied_seq(self) -> int:
        return self.seq

    def count(self) -> int:
        return self.keys


def _synced(prefixes: np.ndarray, shard: _Shard) -> KnownIds:
    known = KnownIds()
    known._prefixes = np.unique(prefixes).astype(np.uint64)
    known._token = (shard.seq, shard.keys)
    return known


def test_merge_equals_a_sorted_union() -> None:
    rng = np.random.default_rng(4)
    known = np.unique(rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64))
    fresh = np.setdiff1d(np.unique(rng.integers(0, 2**64 - 1, 700, dtype=np.uint64)), known)
    fresh = np.concatenate([fresh, np.array([0, 2**64 - 1], dtype=np.uint64)])  # both ends, exactly
    fresh = np.setdiff1d(fresh, known)
    merged = _merge(known, np.searchsorted(known, fresh), fresh)
    assert np.array_equal(merged, np.union1d(known, fresh))


def test_an_update_after_a_check_equals_the_set_of_every_id_written() -> None:
    rng = np.random.default_rng(5)
    shard = _Shard()
    held = rng.integers(0, 2**63, 3000, dtype=np.uint64)
    known = _synced(held, shard)
    batch = np.concatenate([rng.integers(0, 2**63, 2000, dtype=np.uint64), held[:100], held[:100]])
    checked = np.unique(batch)  # the existence check's sorted distinct prefixes
    may = known.maybe_present(checked)
    assert may.sum() == 100
    known.checked_batch(checked)
    shard.seq, shard.keys = 1, shard.keys + 2000
    known.added(shard, known.take_checked(), was_in_sync=True)
    assert known.take_checked() is None
    assert np.array_equal(known._prefixes, np.union1d(held, batch))
    assert known.in_sync(shard)
    # unsorted, repeated prefixes (a batch in listing order) give the same filter
    again = _synced(held, _Shard())
    again.added(shard, batch[::-1].copy(), was_in_sync=True)
    assert np.array_equal(again._prefixes, known._prefixes)


def test_a_remembered_search_is_not_reused_for_other_prefixes() -> None:
    shard = _Shard()
    known = _synced(np.array([10, 20, 30], np.uint64), shard)
    assert known.maybe_present(np.array([10, 25], np.uint64)).tolist() == [True, False]
    # same length, other values: searched again
    assert known.maybe_present(np.array([5, 30], np.uint64)).tolist() == [False, True]
    shard.seq = 1
    known.added(shard, np.array([25, 25, 40], np.uint64), was_in_sync=True)
    assert known._prefixes.tolist() == [10, 20, 25, 30, 40]
    assert known.maybe_present(np.array([25, 40, 41], np.uint64)).tolist() == [True, True, False]


def test_a_merging_check_answers_as_the_search_and_its_update_is_the_union() -> None:
    rng = np.random.default_rng(6)
    shard = _Shard()
    held = rng.integers(0, 2**64 - 1, 4000, dtype=np.uint64)
    batch = np.unique(np.concatenate([rng.integers(0, 2**64 - 1, 3000, dtype=np.uint64), held[::7],
                                      np.array([0, 2**64 - 1], np.uint64)]))
    searched, merging = _synced(held, shard), _synced(held, shard)
    may = merging.maybe_present_merging(batch)
    assert np.array_equal(may, searched.maybe_present(batch)) and may.sum() == len(np.intersect1d(batch, held))
    shard.seq = 1
    merging.added(shard, batch.copy(), was_in_sync=True)  # equal prefixes, another array: the plan is used
    assert np.array_equal(merging._prefixes, np.union1d(held, batch)) and merging.in_sync(shard)
    assert merging._plan is None


def test_a_merging_plan_is_not_used_for_other_prefixes_or_a_changed_filter() -> None:
    shard = _Shard()
    known = _synced(np.array([10, 20, 30], np.uint64), shard)
    assert known.maybe_present_merging(np.array([5, 20], np.uint64)).tolist() == [False, True]
    shard.seq = 1
    known.added(shard, np.array([6, 20], np.uint64), was_in_sync=True)  # not what was checked
    assert known._prefixes.tolist() == [6, 10, 20, 30]
    known.maybe_present_merging(np.array([7], np.uint64))
    known._prefixes = np.array([1, 2], np.uint64)  # the filter changed since (rebuilt)
    shard.seq = 2
    known.added(shard, np.array([7], np.uint64), was_in_sync=True)
    assert known._prefixes.tolist() == [1, 2, 7]


def test_a_prefix_repeated_within_a_merging_check_only_costs_a_read() -> None:
    """Distinct ids whose 64-bit prefixes collide: both answer "maybe" (read from RocksDB), none is missed."""
    known = _synced(np.array([10, 30], np.uint64), _Shard())
    assert known.maybe_present_merging(np.array([20, 20, 30], np.uint64)).tolist() == [True, True, True]
