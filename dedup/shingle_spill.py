"""Every document's shingle hashes, kept from stage 1 for the exact pair check.

Stage 1 computes the 32-bit hash of every shingle of every document on its way to the signature.
The exact check (``verify="exact"``, dedup/pair_join.py) needs those hashes again for the
documents of its close pairs, about a third of all documents on the 1.9 GB benchmark (30 %
planted copies). Recomputing them (read the text, tokenize, hash: ~1.8 CPU s there, the larger
part of the check) costs more than writing them once in stage 1 (~0.55x the text, ~0.5 CPU s
there) and reading back the rows needed, so stage 1 keeps them:

``shingles/S.arrow``: Arrow IPC file, one ``large_list<uint32>`` row per clean document of
split S, in row order (the rows of ``docs/S.arrow``), batches as stage 1 read them; every shingle
hash in shingle order, repeats included (as ``MinHasher.shingle_hashes`` gives them).

A split without this file (a run resumed from work files of an older version) has its hashes
recomputed from the text by dedup/jaccard.py, the same values.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa

from dedup.set_kernels import copy_ranges
from dedup.workdir import WorkDir

SHINGLES_SCHEMA = pa.schema([("shingles", pa.large_list(pa.uint32()))])


def shingles_path(work: WorkDir, name: str) -> str:
    return work.path("shingles", f"{name}.arrow")


class ShingleSpill:
    """Collects a split's shingle hashes batch by batch (only the documents kept), then writes
    them in one Arrow IPC file. Holds the split's hashes until then (~0.55x its clean text)."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def add(self, values: np.ndarray, offsets: np.ndarray, kept: np.ndarray | None) -> None:
        """The shingle hashes of one batch (values uint32, offsets n_docs + 1) and which of its
        documents are kept (row indices, ascending; None for all)."""
        lists = pa.LargeListArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int64)),
                                              pa.array(np.asarray(values, dtype=np.uint32), pa.uint32()))
        if kept is not None:
            lists = lists.take(pa.array(kept))
        self.batches.append(pa.record_batch([lists], schema=SHINGLES_SCHEMA))

    def write(self, work: WorkDir, name: str) -> None:
        with work.ipc_writer(shingles_path(work, name), SHINGLES_SCHEMA) as writer:
            for batch in self.batches:
                writer.write_batch(batch)
        self.batches = []


def read_spilled_shingles(work: WorkDir, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The shingle hashes of rows ``rows`` (ascending) of split ``name``, one document after the
    other, and their offsets (len(rows) + 1); None when stage 1 kept no such file."""
    path = shingles_path(work, name)
    if not work.exists(path):
        return None
    return gather_rows(work.read_ipc(path).column("shingles"), rows, list_chunk_values, np.uint32)


def list_chunk_values(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A large_list<uint32> chunk's flat values (read-only) and its len + 1 offsets into them."""
    data = chunk.values.to_numpy()
    data.setflags(write=False)  # as mapped files are: one compiled specialization
    return data, chunk.offsets.to_numpy()


def gather_rows(column: pa.ChunkedArray, rows: np.ndarray,
                values_of: Callable[[pa.Array], tuple[np.ndarray, np.ndarray]],
                dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """The values of rows ``rows`` (ascending) of a column of variable-length rows (strings, lists)
    in one copy: (values, offsets of len(rows) + 1). ``values_of(chunk)`` gives a chunk's flat
    values (read-only) and its len + 1 offsets into them (slice-aware)."""
    bounds = np.zeros(column.num_chunks + 1, dtype=np.int64)
    np.cumsum([len(chunk) for chunk in column.chunks], out=bounds[1:])
    if len(rows) and (rows[0] < 0 or rows[-1] >= bounds[-1]):
        raise IndexError(f"rows {rows[0]}..{rows[-1]} are outside the column's {bounds[-1]} rows")
    which = np.searchsorted(bounds, rows, side="right") - 1
    cuts = np.searchsorted(which, np.arange(column.num_chunks + 1))
    ranges = []
    for index in range(column.num_chunks):
        if cuts[index + 1] > cuts[index]:
            data, offsets = values_of(column.chunk(index))
            local = rows[cuts[index]:cuts[index + 1]] - bounds[index]
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
