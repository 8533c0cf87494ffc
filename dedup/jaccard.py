"""Exact Jaccard similarity of pairs of shingle-hash sets (compiled), and the sets themselves.

The exact check of a candidate pair (``verify="exact"``) compares the distinct 32-bit shingle
hashes of the two documents. Rather than spilling every shingle hash of every document in stage 1
(~0.55x the text; tried: on the 1.9 GB benchmark it cost stage 1 about as much CPU as it saved
here), the waves that check pairs recompute the hashes of just the documents involved from their
split's clean text (:func:`document_shingles`, once per distinct document): the same tokenizer and
hash as the signatures, so the same sets.

:func:`jaccard_of_sets` is the arithmetic of the former numpy code, value for value: distinct
hashes per side, ``shared / (|A| + |B| - shared)`` in float64 stored as float32, 1.0 when both
sets are empty.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.join_kernels import distinct_sets, gather_sets, jaccard_of_overlap, overlap_of_sets
from dedup.minhash import MinHashConfig, MinHasher
from dedup.row_gather import gather_rows, rows_by_chunk
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
    values, offsets, position = document_shingles(work, split, ordinals, minhash)
    values, offsets = distinct_sets(values, offsets)
    if len(offsets) - 1 == len(position) and np.array_equal(position, np.arange(len(position))):
        return values, offsets
    return _repeat_sets(values, offsets, position)


def document_shingles(work: WorkDir, split: int, ordinals: np.ndarray,
                      minhash: MinHashConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every shingle hash (uint32, repeats kept) of each distinct document among ``ordinals`` (all
    of ``split``), in row order, with their offsets, and for each ordinal the index of its
    document: (values, offsets, position). Recomputed from the clean text (gathered in one copy),
    each document once."""
    rows = (np.asarray(ordinals, dtype=np.uint64) & _ROW_MASK).astype(np.int64)
    distinct_rows, position = np.unique(rows, return_inverse=True)
    position = np.asarray(position, dtype=np.int64).reshape(-1)
    texts = gather_texts(work.read_ipc(work.path("docs", f"{split_name(split)}.arrow")).column("text"), distinct_rows)
    values, offsets = MinHasher(minhash).shingle_hashes(tokenize_batch(texts), texts)
    return np.ascontiguousarray(values, dtype=np.uint32), np.asarray(offsets, dtype=np.int64), position


def gather_texts(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """The strings of ``column`` at ascending ``rows``, as one large_string array: one copy of the
    bytes taken (``take_sorted_rows`` and then joining its chunks for the tokenizer cost two).
    Columns with nulls take the general path."""
    if column.null_count or not all(pa.types.is_string(c.type) or pa.types.is_large_string(c.type) for c in column.chunks):
        return take_sorted_rows(column, rows).combine_chunks()

    def bytes_of(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if pa.types.is_large_string(chunk.type) else np.int32)
        buffer = chunk.buffers()[2]
        data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
        data.setflags(write=False)  # as mapped files are: one compiled specialization
        return data, offsets[chunk.offset:chunk.offset + len(chunk) + 1]

    data, offsets = gather_rows(column, rows, bytes_of, np.uint8)
    return pa.LargeStringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data))


def take_sorted_rows(column: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``column.take(rows)`` for ascending ``rows``, chunk by chunk.

    A ChunkedArray's own ``take`` first concatenates every chunk of a string column, i.e. copies
    the split's whole memory-mapped text (~0.1 s per 95 MB split) to pick a few documents; taking
    from each chunk copies only the rows taken.
    """
    parts = [column.chunk(index).take(pa.array(local)) for index, local in rows_by_chunk(column, rows)]
    return pa.chunked_array(parts, column.type)


def _repeat_sets(values: np.ndarray, offsets: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sets ``which[0]``, ``which[1]``, ... of (values, offsets), one after the other."""
    return gather_sets(values, np.asarray(offsets, dtype=np.int64), np.asarray(which, dtype=np.int64))


def warm_kernels() -> None:
    """Load the kernels of the exact check that :func:`jaccard_of_sets` and :func:`_repeat_sets` do
    not (for the local pool's fork server, dedup/pool_warmup.py), with the job's argument types."""
    from dedup.set_kernels import overlap_by_left

    texts = gather_texts(pa.chunked_array([pa.array(["warm the", "pair check"], pa.large_string())]), np.array([1]))
    values, offsets = np.array([1, 2], np.uint32), np.array([0, 2], np.int64)
    overlap_by_left(values, offsets, np.zeros(1, np.int64), values, offsets, np.zeros(1, np.int64))
    assert len(texts) == 1
