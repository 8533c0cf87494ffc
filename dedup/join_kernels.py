"""Compiled kernels of the cluster-scale stages: LSH band keys, distinct shingle sets, set overlaps.

Each equals the numpy arithmetic it replaces, value for value (the tests compare them): the band
key of :func:`dedup.split_stage.band_keys`, and the overlap of distinct shingle hashes (shared and
union counts, which ``dedup.near_duplicate.NearDuplicateRule`` needs besides the Jaccard; the
Jaccard is shared / (|A| + |B| - shared) in float64, stored as float32; 1.0 for two empty sets).
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from dedup.minhash_kernels import _fmix64, _jit


@_jit
def band_keys_kernel(signatures: np.ndarray, bands: int, rows: int, seed: np.uint64,
                     multiplier: np.uint64) -> np.ndarray:  # pragma: no cover - compiled
    """keys[d, k] = fold of fmix64((acc ^ value) * multiplier) over band k's ``rows`` values."""
    n_docs = signatures.shape[0]
    keys = np.empty((n_docs, bands), dtype=np.uint64)
    for doc in range(n_docs):
        for band in range(bands):
            acc = uint64(band + 1) * seed
            for row in range(rows):
                acc = _fmix64((acc ^ uint64(signatures[doc, band * rows + row])) * multiplier)
            keys[doc, band] = acc
    return keys


@_jit
def sorted_distinct_sets(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Each set (values[offsets[i]:offsets[i+1]]) sorted with repeats removed; new offsets."""
    n = len(offsets) - 1
    out = np.empty(len(values), dtype=values.dtype)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    position = 0
    for i in range(n):
        ordered = np.sort(values[offsets[i]:offsets[i + 1]])
        for j in range(len(ordered)):
            if j == 0 or ordered[j] != ordered[j - 1]:
                out[position] = ordered[j]
                position += 1
        out_offsets[i + 1] = position
    return out[:position].copy(), out_offsets


@_jit
def overlap_of_sorted_sets(left_values: np.ndarray, left_offsets: np.ndarray, right_values: np.ndarray,
                           right_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(shared, union): sizes of the intersection and the union of left set i and right set i (each
    sorted, without repeats), for every i (int64)."""
    n = len(left_offsets) - 1
    shared_out = np.empty(n, dtype=np.int64)
    union_out = np.empty(n, dtype=np.int64)
    for i in range(n):
        j, j_end = left_offsets[i], left_offsets[i + 1]
        k, k_end = right_offsets[i], right_offsets[i + 1]
        size = (j_end - j) + (k_end - k)
        shared = 0
        while j < j_end and k < k_end:
            if left_values[j] == right_values[k]:
                shared += 1
                j += 1
                k += 1
            elif left_values[j] < right_values[k]:
                j += 1
            else:
                k += 1
        shared_out[i] = shared
        union_out[i] = size - shared
    return shared_out, union_out


def jaccard_of_overlap(shared: np.ndarray, union: np.ndarray) -> np.ndarray:
    """shared / union in float64, stored as float32; 1.0 where both sets are empty (union 0)."""
    shared = np.asarray(shared, dtype=np.int64)
    union = np.asarray(union, dtype=np.int64)
    return np.where(union > 0, shared / np.maximum(union, 1), 1.0).astype(np.float32)
