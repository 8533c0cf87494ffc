"""Rows of variable-length columns (strings, lists) gathered in one copy, for the exact pair check.

``take`` on a ChunkedArray of strings concatenates every chunk first (a copy of the split's whole
memory-mapped text) and the tokenizer then needs the taken chunks joined (a second copy);
:func:`gather_rows` copies just the rows taken, once, into one flat array (compiled slice copies,
dedup/set_kernels.py).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa

from dedup.set_kernels import copy_ranges


def rows_by_chunk(column: pa.ChunkedArray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Ascending row numbers of ``column`` split by chunk: (chunk index, rows within that chunk) for
    every chunk that holds some. Raises ``IndexError`` for a row outside the column."""
    bounds = np.zeros(column.num_chunks + 1, dtype=np.int64)
    np.cumsum([len(chunk) for chunk in column.chunks], out=bounds[1:])
    if len(rows) and (rows[0] < 0 or rows[-1] >= bounds[-1]):
        raise IndexError(f"rows {rows[0]}..{rows[-1]} are outside the column's {bounds[-1]} rows")
    which = np.searchsorted(bounds, rows, side="right") - 1
    cuts = np.searchsorted(which, np.arange(column.num_chunks + 1))
    return [(index, rows[cuts[index]:cuts[index + 1]] - bounds[index])
            for index in range(column.num_chunks) if cuts[index + 1] > cuts[index]]


def gather_rows(column: pa.ChunkedArray, rows: np.ndarray,
                values_of: Callable[[pa.Array], tuple[np.ndarray, np.ndarray]],
                dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """The values of rows ``rows`` (ascending) of a column of variable-length rows (strings, lists)
    in one copy: (values, offsets of len(rows) + 1). ``values_of(chunk)`` gives a chunk's flat
    values (read-only) and its len + 1 offsets into them (slice-aware)."""
    ranges = []
    for index, local in rows_by_chunk(column, rows):
        data, offsets = values_of(column.chunk(index))
        ranges.append((data, offsets[local].astype(np.int64), offsets[local + 1].astype(np.int64)))
    out_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    if ranges:
        np.cumsum(np.concatenate([ends - starts for _, starts, ends in ranges]), out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=dtype)
    at = 0
    for data, starts, ends in ranges:
        at = copy_ranges(data, starts, ends, out, at)
    return out, out_offsets


def list_values(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The values (uint32) and offsets (int64, from 0) of a large_list<uint32> column, in one copy
    of the values (joining the chunks); no copy when it has one chunk."""
    values, offsets = [], [np.zeros(1, np.int64)]
    base = 0
    for chunk in column.chunks:
        if not len(chunk):
            continue
        chunk_offsets = chunk.offsets.to_numpy()  # the chunk's own len + 1 offsets (slice-aware)
        values.append(chunk.values.to_numpy()[chunk_offsets[0]:chunk_offsets[-1]])
        offsets.append(chunk_offsets[1:] - chunk_offsets[0] + base)
        base += int(chunk_offsets[-1] - chunk_offsets[0])
    joined = values[0] if len(values) == 1 else np.concatenate(values) if values else np.zeros(0, np.uint32)
    return np.ascontiguousarray(joined, dtype=np.uint32), np.concatenate(offsets).astype(np.int64)
