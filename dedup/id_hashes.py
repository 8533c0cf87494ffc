"""Documents that share an id: counted, so a run says when its ids cannot name one document each.

The removal report names each removed document's kept document by id (``kept_id``), the output's
``data/`` carries ids, and a catalog run marks keys by id. Ids of file inputs need not be unique (a
shard numbering its lines 0..N, one WARC file read twice); then ``kept_id`` names several
documents and a join on it pairs the wrong ones. The job cannot choose ids for the user, but it
must not stay silent: stage 1 spills a 128-bit hash of every document's id (kept or not) as
fixed-width rows grouped by slot, beside the exact digests (dedup/split_stage.py), and each
candidate partition counts the hashes it holds more than once (:func:`shared_id_counts`). The
summary reports the totals (``ids``), and the command prints a warning.

The hash: two 64-bit lanes of different constructions (FNV-1a and a multiply-rotate) over the id's
UTF-8 bytes, each finished by fmix64, so two different ids agree in both lanes by chance alone.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.minhash_kernels import _jit

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LANE2_SEED = np.uint64(0x2545F4914F6CDD1D)


@_jit
def _fmix64(value: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    value ^= value >> np.uint64(33)
    value *= np.uint64(0xFF51AFD7ED558CCD)
    value ^= value >> np.uint64(33)
    value *= np.uint64(0xC4CEB9FE1A85EC53)
    value ^= value >> np.uint64(33)
    return value


@_jit
def _id_hash_kernel(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty((n, 2), dtype=np.uint64)
    for row in range(n):
        start, end = offsets[row], offsets[row + 1]
        first = _FNV_OFFSET
        second = _LANE2_SEED ^ np.uint64(end - start)
        for position in range(start, end):
            byte = np.uint64(data[position])
            first = (first ^ byte) * _FNV_PRIME
            second = (second + byte + np.uint64(1)) * _GOLDEN
            second ^= second >> np.uint64(29)
        out[row, 0] = _fmix64(first ^ np.uint64(end - start))
        out[row, 1] = _fmix64(second)
    return out


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(n, 2) uint64: the 128-bit hash of each id's UTF-8 bytes (ids are never null here)."""
    array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    array = array.cast(pa.large_string())
    if len(array) == 0:
        return np.zeros((0, 2), np.uint64)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer if data_buffer is not None else b"", np.uint8)  # read-only, as offsets:
    return _id_hash_kernel(data, offsets)  # one compiled specialization


def shared_id_counts(rows: np.ndarray) -> tuple[int, int]:
    """(ids held by more than one document, documents holding such an id) among ``rows``
    (fields ``hi``, ``lo``: every row of the hashes' slot range, so every copy of an id is there)."""
    if len(rows) < 2:
        return 0, 0
    order = np.lexsort((rows["lo"], rows["hi"]))
    high, low = rows["hi"][order], rows["lo"][order]
    same = (high[1:] == high[:-1]) & (low[1:] == low[:-1])
    if not same.any():
        return 0, 0
    starts = np.r_[True, ~same]  # the first row of each distinct id
    sizes = np.diff(np.r_[np.flatnonzero(starts), len(high)])
    shared = sizes[sizes > 1]
    return int(len(shared)), int(shared.sum())
