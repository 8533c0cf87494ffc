"""Stage 2, for one partition (a range of key slots): LSH buckets and exact digests → candidate pairs.

Pure Python (no Ray). :func:`process_partition` reads the partition's band keys and exact digests
from every split's spill file (one ranged read each), groups equal keys (an LSH bucket, or
identical normalized text) and writes the pairs, routed to the split of their first document,
where dedup/pair_join.py checks them (exact-digest pairs need no check: similarity 1).

Pairs per group: all pairs when the group has at most ``max_group_pairs`` members, otherwise each
member paired with the group's first (lowest ordinal) and with its neighbour in ordinal order, so a
huge bucket costs linear, not quadratic, work.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.id_hashes import shared_id_counts
from dedup.join_kernels import distinct_sorted_pairs, shared_key_rows
from dedup.shuffle import SLOTS, read_row_range, slot_range, write_table_buckets
from dedup.split_stage import BAND_DTYPE, DIGEST_DTYPE, split_name
from dedup.workdir import WorkDir

MAX_GROUP_PAIRS = 32
_SPLIT_SHIFT = np.uint64(32)


def group_pairs(keys: np.ndarray, ordinals: np.ndarray, max_group_pairs: int = MAX_GROUP_PAIRS) -> np.ndarray:
    """Candidate pairs (a < b) of ordinals that share a key; shape (n_pairs, 2), unique, sorted."""
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.uint64)
    keys, ordinals = _sorted_shared_groups(np.asarray(keys, dtype=np.uint64), np.asarray(ordinals, dtype=np.uint64))
    new_group = np.r_[True, keys[1:] != keys[:-1]]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.r_[starts, len(keys)])
    pairs: list[np.ndarray] = []
    # All pairs of the groups of each size up to the limit, one size at a time (vectorized).
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= max_group_pairs)]):
        group_starts = starts[sizes == size]
        left, right = np.triu_indices(int(size), k=1)
        pairs.append(np.stack([ordinals[(group_starts[:, None] + left).ravel()],
                               ordinals[(group_starts[:, None] + right).ravel()]], axis=1))
    # Bigger groups: each member with the group's first (lowest ordinal) and with its neighbour.
    big_starts, big_sizes = starts[sizes > max_group_pairs], sizes[sizes > max_group_pairs]
    if len(big_starts):
        members = np.repeat(big_starts, big_sizes - 1) + _ranks(big_sizes - 1) + 1
        first = np.repeat(big_starts, big_sizes - 1)
        pairs.append(np.stack([ordinals[first], ordinals[members]], axis=1))
        neighbours = members[members - np.repeat(big_starts, big_sizes - 1) >= 2]
        pairs.append(np.stack([ordinals[neighbours - 1], ordinals[neighbours]], axis=1))
    result = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.uint64)
    return unique_pairs(result.astype(np.uint64))


def _sorted_shared_groups(keys: np.ndarray, ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose key occurs more than once (most LSH keys are alone in their bucket), sorted
    by (key, ordinal).

    A stable sort by key (compiled: dedup.join_kernels.shared_key_rows) groups equal keys and
    keeps their input order. The spill files list a key's rows in ordinal order (splits in order,
    rows in order within a split), so that is (key, ordinal) order already; when it is not (other
    callers), the shared rows are sorted again by both columns.
    """
    keys, ordinals = shared_key_rows(keys, ordinals)
    if np.any((keys[1:] == keys[:-1]) & (ordinals[1:] < ordinals[:-1])):
        resort = np.lexsort((ordinals, keys))
        keys, ordinals = keys[resort], ordinals[resort]
    return keys, ordinals


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Rows of an (n, 2) uint64 array, each as (min, max), without repeats, sorted."""
    if not len(pairs):
        return pairs.reshape(0, 2)
    low = np.minimum(pairs[:, 0], pairs[:, 1])
    high = np.maximum(pairs[:, 0], pairs[:, 1])
    keep = low != high
    low, high = low[keep], high[keep]
    fast_low, fast_high, fast = distinct_sorted_pairs(low, high)  # compiled radix sort when it applies
    if fast:
        return np.stack([fast_low, fast_high], axis=1)
    order = np.lexsort((high, low))
    low, high = low[order], high[order]
    distinct = np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])]
    return np.stack([low[distinct], high[distinct]], axis=1)


def _ranks(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated (positions inside each slice)."""
    total = int(lengths.sum())
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


# The exact check runs only for pairs whose signature estimate lies within this margin of the
# threshold: 0.2 is more than 4 standard deviations of the estimate at 128 permutations, so a pair
# outside it is decided the same way by the estimate.
EXACT_CHECK_MARGIN = 0.2
PAIRS_SCHEMA = pa.schema([("a", pa.uint64()), ("b", pa.uint64()), ("exact", pa.bool_())])


def process_partition(partition: int, partitions: int, n_splits: int, work: WorkDir, out: str) -> dict[str, int]:
    """Stage 2 for one partition (a contiguous range of key slots).

    Reads the partition's band keys and exact digests from every split's spill file (one ranged
    read each), and writes to ``out`` the LSH candidate pairs (unique within the partition) and the
    exact-digest pairs, routed by the split of ``a`` (where the pairs are verified, dedup/pair_join).
    Returns counts for the summary, also of the ids held by more than one document
    (dedup/id_hashes.py).
    """
    first, end = slot_range(partition, partitions)
    names = [split_name(s) for s in range(n_splits)]
    bands = read_row_range(work, [work.path("bands", f"{n}.rows") for n in names], SLOTS, first, end, BAND_DTYPE)
    candidates = group_pairs(bands["key"].copy(), bands["ordinal"].copy())
    del bands
    digests = read_row_range(work, [work.path("digests", f"{n}.rows") for n in names], SLOTS, first, end, DIGEST_DTYPE)
    exact = _exact_pairs(digests)
    del digests
    ids = read_row_range(work, [work.path("ids", f"{n}.rows") for n in names], SLOTS, first, end, DIGEST_DTYPE)
    shared_ids, documents_sharing_ids = shared_id_counts(ids)
    del ids
    table = pa.table(
        {
            "a": np.concatenate([candidates[:, 0], exact[:, 0]]),
            "b": np.concatenate([candidates[:, 1], exact[:, 1]]),
            "exact": np.concatenate([np.zeros(len(candidates), bool), np.ones(len(exact), bool)]),
        },
        schema=PAIRS_SCHEMA,
    )
    write_table_buckets(work, out, table, (table.column("a").to_numpy() >> _SPLIT_SHIFT).astype(np.int64), n_splits)
    return {"partition": partition, "partition_candidate_pairs": int(len(candidates)), "exact_pairs": int(len(exact)),
            "shared_ids": shared_ids, "documents_sharing_ids": documents_sharing_ids}


def _exact_pairs(digests: np.ndarray) -> np.ndarray:
    """Star pairs (first, other) within each group of equal 128-bit digests."""
    if len(digests) < 2:
        return np.zeros((0, 2), dtype=np.uint64)
    high, low, ordinals = digests["hi"], digests["lo"], digests["ordinal"]
    order = np.lexsort((ordinals, low, high))
    high, low, ordinals = high[order], low[order], ordinals[order]
    same_as_previous = np.r_[False, (high[1:] == high[:-1]) & (low[1:] == low[:-1])]
    group_id = np.cumsum(~same_as_previous) - 1
    group_first = ordinals[np.flatnonzero(~same_as_previous)]
    members = np.flatnonzero(same_as_previous)
    return np.stack([group_first[group_id[members]], ordinals[members]], axis=1).astype(np.uint64)
