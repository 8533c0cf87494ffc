"""Stage 2, for one shuffle partition: buckets → candidate pairs → verified duplicate edges.

Pure Python (no Ray). :func:`process_partition` reads partition P's band keys and exact digests from
every split's spill files, groups equal keys (an LSH bucket, or identical normalized text), turns
each group into candidate pairs, verifies every LSH pair by its estimated Jaccard similarity
(fraction of equal signature values; the signatures are gathered from the per-split files) and
writes the pairs that reach the threshold as edges. Exact-digest pairs need no check (similarity 1).

Pairs per group: all pairs when the group has at most ``max_group_pairs`` members, otherwise each
member paired with the group's first (lowest ordinal) and with its neighbour in ordinal order, so a
huge bucket costs linear, not quadratic, work.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.shuffle import SLOTS, read_row_range, slot_range, write_table_buckets
from dedup.split_stage import BAND_DTYPE, DIGEST_DTYPE, split_name
from dedup.workdir import WorkDir

EDGES_SCHEMA = pa.schema(
    [("a", pa.uint64()), ("b", pa.uint64()), ("similarity", pa.float32()), ("exact", pa.bool_())]
)
MAX_GROUP_PAIRS = 32
_SPLIT_SHIFT = np.uint64(32)
_ROW_MASK = np.uint64(0xFFFFFFFF)


def group_pairs(keys: np.ndarray, ordinals: np.ndarray, max_group_pairs: int = MAX_GROUP_PAIRS) -> np.ndarray:
    """Candidate pairs (a < b) of ordinals that share a key; shape (n_pairs, 2), unique, sorted."""
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.uint64)
    order = np.lexsort((ordinals, keys))
    keys, ordinals = keys[order], ordinals[order]
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


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Rows of an (n, 2) uint64 array, each as (min, max), without repeats, sorted."""
    if not len(pairs):
        return pairs.reshape(0, 2)
    low = np.minimum(pairs[:, 0], pairs[:, 1])
    high = np.maximum(pairs[:, 0], pairs[:, 1])
    keep = low != high
    low, high = low[keep], high[keep]
    order = np.lexsort((high, low))
    low, high = low[order], high[order]
    distinct = np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])]
    return np.stack([low[distinct], high[distinct]], axis=1)


class SignatureGather:
    """Fetches signature rows by ordinal from the per-split signature files of a work dir."""

    def __init__(self, work: WorkDir) -> None:
        self.work = work
        self._open: dict[int, np.ndarray] = {}

    def rows(self, ordinals: np.ndarray) -> np.ndarray:
        """Signatures of the given ordinals, in the same order."""
        splits = (ordinals >> _SPLIT_SHIFT).astype(np.int64)
        rows = (ordinals & _ROW_MASK).astype(np.int64)
        out: np.ndarray | None = None
        for split in np.unique(splits):
            if split not in self._open:
                self._open[int(split)] = self.work.open_array(self.work.path("sigs", f"{split_name(int(split))}.npy"))
            source = self._open[int(split)]
            if out is None:
                out = np.empty((len(ordinals), source.shape[1]), dtype=np.uint32)
            chosen = np.flatnonzero(splits == split)
            out[chosen] = source[rows[chosen]]
        return out if out is not None else np.zeros((0, 0), dtype=np.uint32)


def estimated_similarity(gather: SignatureGather, pairs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Fraction of equal signature values of each pair (float32), in chunks to bound memory."""
    out = np.empty(len(pairs), dtype=np.float32)
    for begin in range(0, len(pairs), chunk):
        part = pairs[begin : begin + chunk]
        left = gather.rows(part[:, 0])
        right = gather.rows(part[:, 1])
        out[begin : begin + len(part)] = (left == right).mean(axis=1)
    return out


class ShingleSetGather:
    """Fetches documents' shingle hashes by ordinal from the per-split files of a work dir.

    The files hold every shingle hash of a document (repeats included: sorting them in stage 1
    would cost more than doing it here for the few documents that are candidates).
    """

    def __init__(self, work: WorkDir) -> None:
        self.work = work
        self._open: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def sets(self, ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values, lengths): the shingle hashes of the given ordinals concatenated in order, and
        their counts (with repeats)."""
        splits = (ordinals >> _SPLIT_SHIFT).astype(np.int64)
        rows = (ordinals & _ROW_MASK).astype(np.int64)
        starts = np.zeros(len(ordinals), dtype=np.int64)
        lengths = np.zeros(len(ordinals), dtype=np.int64)
        sources: list[tuple[np.ndarray, np.ndarray]] = []
        for split in np.unique(splits):
            values, offsets = self._files(int(split))
            chosen = np.flatnonzero(splits == split)
            starts[chosen] = offsets[rows[chosen]]
            lengths[chosen] = offsets[rows[chosen] + 1] - starts[chosen]
            sources.append((chosen, values))
        out = np.empty(int(lengths.sum()), dtype=np.uint32)
        out_starts = np.zeros(len(ordinals), dtype=np.int64)
        np.cumsum(lengths[:-1], out=out_starts[1:])
        for chosen, values in sources:
            total = int(lengths[chosen].sum())
            if not total:
                continue
            source_index = np.repeat(starts[chosen], lengths[chosen]) + _ranks(lengths[chosen])
            target_index = np.repeat(out_starts[chosen], lengths[chosen]) + _ranks(lengths[chosen])
            out[target_index] = values[source_index]
        return out, lengths

    def _files(self, split: int) -> tuple[np.ndarray, np.ndarray]:
        if split not in self._open:
            name = split_name(split)
            self._open[split] = (
                self.work.open_array(self.work.path("shingles", f"{name}.values.npy")),
                self.work.open_array(self.work.path("shingles", f"{name}.offsets.npy")),
            )
        return self._open[split]


def _ranks(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated (positions inside each slice)."""
    total = int(lengths.sum())
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def _distinct_keys(pair_ids: np.ndarray, values: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct (pair << 32 | hash) keys and the number of distinct hashes per pair."""
    keys = np.sort((np.repeat(pair_ids, sizes) << np.uint64(32)) | values.astype(np.uint64))
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(pair_ids))
    return keys, counts


def exact_similarity(gather: ShingleSetGather, pairs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Jaccard similarity of the two documents' sets of shingle hashes, for each pair (float32)."""
    out = np.empty(len(pairs), dtype=np.float32)
    for begin in range(0, len(pairs), chunk):
        part = pairs[begin : begin + chunk]
        pair_ids = np.arange(len(part), dtype=np.uint64)
        left, left_counts = _distinct_keys(pair_ids, *gather.sets(part[:, 0]))
        right, right_counts = _distinct_keys(pair_ids, *gather.sets(part[:, 1]))
        common = np.intersect1d(left, right, assume_unique=True)
        shared = np.bincount((common >> np.uint64(32)).astype(np.int64), minlength=len(part))
        union = left_counts + right_counts - shared
        out[begin : begin + len(part)] = np.where(union > 0, shared / np.maximum(union, 1), 1.0)
    return out


# The exact check runs only for pairs whose signature estimate lies within this margin of the
# threshold: 0.2 is more than 4 standard deviations of the estimate at 128 permutations, so a pair
# outside it is decided the same way by the estimate.
EXACT_CHECK_MARGIN = 0.2


def pair_similarity(work: WorkDir, pairs: np.ndarray, verify: str, threshold: float) -> np.ndarray:
    """Similarity of each pair as the job's ``verify`` mode measures it (see DedupConfig.verify).

    With ``exact``, pairs whose estimate is within ``EXACT_CHECK_MARGIN`` of ``threshold`` get the
    exact Jaccard of their shingle sets; the others keep their estimate.
    """
    similarity = estimated_similarity(SignatureGather(work), pairs)
    if verify == "exact" and len(pairs):
        check = np.flatnonzero(np.abs(similarity - threshold) < EXACT_CHECK_MARGIN)
        similarity[check] = exact_similarity(ShingleSetGather(work), pairs[check])
    return similarity


PAIRS_SCHEMA = pa.schema([("a", pa.uint64()), ("b", pa.uint64()), ("exact", pa.bool_())])


def process_partition(partition: int, partitions: int, n_splits: int, work: WorkDir, out: str) -> dict[str, int]:
    """Stage 2 for one partition (a contiguous range of key slots).

    Reads the partition's band keys and exact digests from every split's spill file (one ranged
    read each), and writes to ``out`` the LSH candidate pairs (unique within the partition) and the
    exact-digest pairs, routed by the split of ``a`` (where the pairs are verified, dedup/pair_join).
    Returns counts for the summary.
    """
    first, end = slot_range(partition, partitions)
    names = [split_name(s) for s in range(n_splits)]
    bands = read_row_range(work, [work.path("bands", f"{n}.rows") for n in names], SLOTS, first, end, BAND_DTYPE)
    candidates = group_pairs(bands["key"].copy(), bands["ordinal"].copy())
    del bands
    digests = read_row_range(work, [work.path("digests", f"{n}.rows") for n in names], SLOTS, first, end, DIGEST_DTYPE)
    exact = _exact_pairs(digests)
    table = pa.table(
        {
            "a": np.concatenate([candidates[:, 0], exact[:, 0]]),
            "b": np.concatenate([candidates[:, 1], exact[:, 1]]),
            "exact": np.concatenate([np.zeros(len(candidates), bool), np.ones(len(exact), bool)]),
        },
        schema=PAIRS_SCHEMA,
    )
    write_table_buckets(work, out, table, (table.column("a").to_numpy() >> _SPLIT_SHIFT).astype(np.int64), n_splits)
    return {"partition": partition, "partition_candidate_pairs": int(len(candidates)), "exact_pairs": int(len(exact))}


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
