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
    fresh = np.concatenate([fresh, [0, 2**64 - 1]]).astype(np.uint64)  # both ends
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
