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

from dedup.near_duplicate import NearDuplicateRule
from dedup.plots import similarity_histogram
from dedup.split_stage import BANDS_SCHEMA, DIGESTS_SCHEMA, split_name
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
    twos = starts[sizes == 2]
    pairs.append(np.stack([ordinals[twos], ordinals[twos + 1]], axis=1))
    for start, size in zip(starts[sizes > 2], sizes[sizes > 2]):
        members = ordinals[start : start + size]
        if size <= max_group_pairs:
            left, right = np.triu_indices(size, k=1)
            pairs.append(np.stack([members[left], members[right]], axis=1))
        else:
            pairs.append(np.stack([np.repeat(members[0], size - 1), members[1:]], axis=1))
            pairs.append(np.stack([members[1:-1], members[2:]], axis=1))
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


def exact_overlap(gather: ShingleSetGather, pairs: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(shared, union): sizes of the intersection and union of each pair's shingle-hash sets (int64)."""
    shared_out = np.empty(len(pairs), dtype=np.int64)
    union_out = np.empty(len(pairs), dtype=np.int64)
    for begin in range(0, len(pairs), chunk):
        part = pairs[begin : begin + chunk]
        pair_ids = np.arange(len(part), dtype=np.uint64)
        left, left_counts = _distinct_keys(pair_ids, *gather.sets(part[:, 0]))
        right, right_counts = _distinct_keys(pair_ids, *gather.sets(part[:, 1]))
        common = np.intersect1d(left, right, assume_unique=True)
        shared = np.bincount((common >> np.uint64(32)).astype(np.int64), minlength=len(part))
        shared_out[begin : begin + len(part)] = shared
        union_out[begin : begin + len(part)] = left_counts + right_counts - shared
    return shared_out, union_out


def exact_similarity(gather: ShingleSetGather, pairs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Jaccard similarity of the two documents' sets of shingle hashes, for each pair (float32)."""
    shared, union = exact_overlap(gather, pairs, chunk)
    return np.where(union > 0, shared / np.maximum(union, 1), 1.0).astype(np.float32)


# The exact check runs only for pairs whose signature estimate lies within this margin of the
# threshold: 0.2 is more than 4 standard deviations of the estimate at 128 permutations, so a pair
# outside it is decided the same way by the estimate.
EXACT_CHECK_MARGIN = 0.2


def pair_similarity(work: WorkDir, pairs: np.ndarray, verify: str, threshold: float) -> np.ndarray:
    """Similarity of each pair as the job's ``verify`` mode measures it (see DedupConfig.verify).

    With ``exact``, pairs whose estimate is within ``EXACT_CHECK_MARGIN`` of ``threshold`` get the
    exact Jaccard of their shingle sets; the others keep their estimate.
    """
    return pair_similarity_and_difference(work, pairs, verify, threshold)[0]


def pair_similarity_and_difference(work: WorkDir, pairs: np.ndarray, verify: str,
                                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``pair_similarity`` and, where the exact check ran, how many shingles the two sets do not
    share (``union - shared``; -1 elsewhere), for ``near_duplicate.NearDuplicateRule``."""
    similarity = estimated_similarity(SignatureGather(work), pairs)
    difference = np.full(len(pairs), -1, dtype=np.int64)
    if verify == "exact" and len(pairs):
        check = np.flatnonzero(np.abs(similarity - threshold) < EXACT_CHECK_MARGIN)
        shared, union = exact_overlap(ShingleSetGather(work), pairs[check])
        similarity[check] = np.where(union > 0, shared / np.maximum(union, 1), 1.0)
        difference[check] = union - shared
    return similarity, difference


def process_partition(partition: int, n_splits: int, threshold: float, work: WorkDir, verify: str = "exact",
                      rule: NearDuplicateRule | None = None) -> dict[str, int]:
    """Stage 2 for one partition: writes ``edges/P.parquet``; returns counts for the summary.

    ``rule`` decides which verified pairs are near-duplicates (default: similarity >= threshold).
    """
    part = f"{partition:05d}"
    band_files = [work.path("bands", part, f"{split_name(s)}.parquet") for s in range(n_splits)]
    bands = work.read_tables(band_files, BANDS_SCHEMA)
    candidates = group_pairs(
        bands.column("band_key").to_numpy().astype(np.uint64), bands.column("ordinal").to_numpy().astype(np.uint64)
    )
    del bands
    similarity, difference = pair_similarity_and_difference(work, candidates, verify, threshold)
    verified = (rule or NearDuplicateRule(threshold)).decide(similarity, difference)

    digest_files = [work.path("digests", part, f"{split_name(s)}.parquet") for s in range(n_splits)]
    digests = work.read_tables(digest_files, DIGESTS_SCHEMA)
    exact = _exact_pairs(digests)

    near = candidates[verified]
    edges = pa.table(
        {
            "a": np.concatenate([exact[:, 0], near[:, 0]]),
            "b": np.concatenate([exact[:, 1], near[:, 1]]),
            "similarity": np.concatenate([np.ones(len(exact), np.float32), similarity[verified]]),
            "exact": np.concatenate([np.ones(len(exact), bool), np.zeros(len(near), bool)]),
        },
        schema=EDGES_SCHEMA,
    )
    work.write_table(work.path("edges", f"{part}.parquet"), edges)
    return {
        "partition": partition,
        "candidate_pairs": int(len(candidates)),
        "verified_pairs": int(verified.sum()),
        "rejected_pairs": int((~verified).sum()),
        "exact_pairs": int(len(exact)),
        # For the run's s_curve.png (dedup/plots.py): a few hundred bytes per partition.
        "similarity_histogram": similarity_histogram(similarity, verified),
    }


def _exact_pairs(digests: pa.Table) -> np.ndarray:
    """Star pairs (first, other) within each group of equal 128-bit digests."""
    if digests.num_rows < 2:
        return np.zeros((0, 2), dtype=np.uint64)
    high = digests.column("digest_hi").to_numpy().astype(np.uint64)
    low = digests.column("digest_lo").to_numpy().astype(np.uint64)
    ordinals = digests.column("ordinal").to_numpy().astype(np.uint64)
    order = np.lexsort((ordinals, low, high))
    high, low, ordinals = high[order], low[order], ordinals[order]
    same_as_previous = np.r_[False, (high[1:] == high[:-1]) & (low[1:] == low[:-1])]
    group_id = np.cumsum(~same_as_previous) - 1
    group_first = ordinals[np.flatnonzero(~same_as_previous)]
    members = np.flatnonzero(same_as_previous)
    return np.stack([group_first[group_id[members]], ordinals[members]], axis=1).astype(np.uint64)
