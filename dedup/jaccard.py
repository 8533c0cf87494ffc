"""Exact Jaccard similarity of pairs of shingle-hash sets (compiled), and the sets themselves.

The exact check of a candidate pair (``verify="exact"``) compares the distinct 32-bit shingle
hashes of the two documents. Rather than spilling every shingle hash of every document in stage 1
(~0.55x the text, for the few documents that are ever checked), the waves that check pairs
recompute the sets of just the documents involved from their split's clean text
(:func:`shingle_sets`): the same tokenizer and hash as the signatures, so the same sets.

:func:`jaccard_of_sets` is the arithmetic of the former numpy code, value for value: distinct
hashes per side, ``shared / (|A| + |B| - shared)`` in float64 stored as float32, 1.0 when both
sets are empty.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from dedup.minhash import MinHashConfig, MinHasher
from dedup.split_stage import split_name
from dedup.tokens import tokenize_batch
from dedup.workdir import WorkDir

_ROW_MASK = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _distinct_sorted(values: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    keep = np.ones(len(ordered), dtype=np.bool_)
    for i in range(1, len(ordered)):
        keep[i] = ordered[i] != ordered[i - 1]
    return ordered[keep]


@njit(cache=True, nogil=True)
def jaccard_of_sets(left_values: np.ndarray, left_offsets: np.ndarray, right_values: np.ndarray,
                    right_offsets: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Jaccard of the distinct values of left set i and right set i, for every i (float32)."""
    n = len(left_offsets) - 1
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        left = _distinct_sorted(left_values[left_offsets[i]:left_offsets[i + 1]])
        right = _distinct_sorted(right_values[right_offsets[i]:right_offsets[i + 1]])
        shared = 0
        j = 0
        k = 0
        while j < len(left) and k < len(right):
            if left[j] == right[k]:
                shared += 1
                j += 1
                k += 1
            elif left[j] < right[k]:
                j += 1
            else:
                k += 1
        union = len(left) + len(right) - shared
        out[i] = np.float64(shared) / np.float64(union) if union > 0 else 1.0
    return out


def shingle_sets(work: WorkDir, split: int, ordinals: np.ndarray, minhash: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uint32, repeats included) of documents of ``split``, in the order of
    ``ordinals``, and their offsets (n + 1), recomputed from the split's clean text."""
    if not len(ordinals):
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    rows = (np.asarray(ordinals, dtype=np.uint64) & _ROW_MASK).astype(np.int64)
    texts = work.read_ipc(work.path("docs", f"{split_name(split)}.arrow")).column("text").take(pa.array(rows))
    hasher = MinHasher(minhash)
    values, offsets = hasher.shingle_hashes(tokenize_batch(texts), texts)
    return np.ascontiguousarray(values, dtype=np.uint32), np.asarray(offsets, dtype=np.int64)
