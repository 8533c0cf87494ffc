"""Exact Jaccard similarity of pairs of shingle-hash sets (compiled), and the sets themselves.

The exact check of a candidate pair (``verify="exact"``) compares the distinct 32-bit shingle
hashes of the two documents. Rather than spilling every shingle hash of every document in stage 1
(~0.55x the text, for the few documents that are ever checked), the waves that check pairs
recompute the sets of just the documents involved from their split's clean text
(:func:`shingle_sets`, once per distinct document): the same tokenizer and hash as the
signatures, so the same sets.

:func:`jaccard_of_sets` is the arithmetic of the former numpy code, value for value: distinct
hashes per side, ``shared / (|A| + |B| - shared)`` in float64 stored as float32, 1.0 when both
sets are empty.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.join_kernels import distinct_sets, gather_sets, jaccard_of_overlap, overlap_of_sets
from dedup.minhash import MinHashConfig, MinHasher
from dedup.split_stage import split_name
from dedup.tokens import tokenize_batch
from dedup.workdir import WorkDir

_ROW_MASK = np.uint64(0xFFFFFFFF)


def jaccard_of_sets(left_values: np.ndarray, left_offsets: np.ndarray, right_values: np.ndarray,
                    right_offsets: np.ndarray) -> np.ndarray:
    """Jaccard of the distinct values of left set i and right set i, for every i (float32)."""
    left = distinct_sets(np.ascontiguousarray(left_values, np.uint32), np.asarray(left_offsets, np.int64))
    right = distinct_sets(np.ascontiguousarray(right_values, np.uint32), np.asarray(right_offsets, np.int64))
    return jaccard_of_overlap(*overlap_of_sets(*left, *right))


def shingle_sets(work: WorkDir, split: int, ordinals: np.ndarray, minhash: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Distinct shingle hashes (uint32, in no particular order) of documents of ``split``, in the
    order of ``ordinals``, and their offsets (n + 1), recomputed from the split's clean text.

    A document named several times (one document in several close pairs) is read and shingled
    once; its set is repeated in the result.
    """
    if not len(ordinals):
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    rows = (np.asarray(ordinals, dtype=np.uint64) & _ROW_MASK).astype(np.int64)
    distinct_rows, position = np.unique(rows, return_inverse=True)
    texts = take_sorted_rows(work.read_ipc(work.path("docs", f"{split_name(split)}.arrow")).column("text"), distinct_rows)
    hasher = MinHasher(minhash)
    values, offsets = hasher.shingle_hashes(tokenize_batch(texts), texts)
    values, offsets = distinct_sets(np.ascontiguousarray(values, dtype=np.uint32), np.asarray(offsets, dtype=np.int64))
    if len(distinct_rows) == len(rows) and np.array_equal(distinct_rows, rows):
        return values, offsets
    return _repeat_sets(values, offsets, np.asarray(position).reshape(-1))


def take_sorted_rows(column: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``column.take(rows)`` for ascending ``rows``, chunk by chunk.

    A ChunkedArray's own ``take`` first concatenates every chunk of a string column, i.e. copies
    the split's whole memory-mapped text (~0.1 s per 95 MB split) to pick a few documents; taking
    from each chunk copies only the rows taken.
    """
    bounds = np.zeros(column.num_chunks + 1, dtype=np.int64)
    np.cumsum([len(chunk) for chunk in column.chunks], out=bounds[1:])
    if len(rows) and (rows[0] < 0 or rows[-1] >= bounds[-1]):
        raise IndexError(f"rows {rows[0]}..{rows[-1]} are outside the column's {bounds[-1]} rows")
    which = np.searchsorted(bounds, rows, side="right") - 1
    cuts = np.searchsorted(which, np.arange(column.num_chunks + 1))
    parts = [column.chunk(index).take(pa.array(rows[cuts[index]:cuts[index + 1]] - bounds[index]))
             for index in range(column.num_chunks) if cuts[index + 1] > cuts[index]]
    return pa.chunked_array(parts, column.type)


def _repeat_sets(values: np.ndarray, offsets: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sets ``which[0]``, ``which[1]``, ... of (values, offsets), one after the other."""
    return gather_sets(values, np.asarray(offsets, dtype=np.int64), np.asarray(which, dtype=np.int64))
