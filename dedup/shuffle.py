"""Shuffle files: one file per producer task, rows grouped by consumer bucket, read by ranged reads.

A producer (a split or partition task) writes ONE file per shuffle, however many consumers there
are: a header of bucket offsets, then the buckets one after the other. A consumer reads its bucket
from every producer's file with two ranged reads (the two header entries that bound it, then the
bytes between them), so no task downloads a whole file it needs a slice of, and empty buckets cost
no file at all.

Two encodings share the layout ``magic (8 B) | n_buckets (int64) | offsets (n_buckets + 1 int64,
relative to the data start) | data``:

- **table** (:func:`write_table_buckets` / :func:`read_table_bucket`): each non-empty bucket is an
  Arrow IPC stream, so any column type (strings, lists) travels.
- **rows** (:func:`write_row_buckets` / :func:`read_row_range`): fixed-width rows of a numpy
  structured dtype, so a *range* of buckets is one contiguous read. Stage 1 writes band keys and
  exact digests this way over 4096 fixed slots (top 12 bits of the key), which lets the job choose
  the number of partitions after stage 1, from the number of documents actually read.
"""
from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

from dedup.join_kernels import group_rows_by_bucket
from dedup.workdir import WorkDir

_MAGIC_TABLE = b"HBSHUFT1"
_MAGIC_ROWS = b"HBSHUFR1"
_PREFIX = 16  # magic + n_buckets
SLOTS = 4096  # fixed slots of the row files: the top 12 bits of a uint64 key
_SLOT_SHIFT = np.uint64(64 - 12)


def slot_of(keys: np.ndarray) -> np.ndarray:
    """Slot (0..4095) of uint64 keys: their top 12 bits."""
    return (keys >> _SLOT_SHIFT).astype(np.int64)


def slot_range(partition: int, partitions: int) -> tuple[int, int]:
    """The contiguous slots [first, end) that make up ``partition`` of ``partitions``."""
    return partition * SLOTS // partitions, (partition + 1) * SLOTS // partitions


def _header(magic: bytes, offsets: np.ndarray) -> bytes:
    return magic + struct.pack("<q", len(offsets) - 1) + offsets.astype("<i8").tobytes()


def _bucket_order(buckets: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(row order grouping rows by bucket, stably; bucket boundaries in that order)."""
    # Bucket numbers below 2**15 sort as int16: numpy's stable sort is then a radix sort.
    keys = buckets.astype(np.int16) if n_buckets <= 32767 else buckets
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(buckets[order], np.arange(n_buckets + 1))
    return order, bounds


def write_table_buckets(work: WorkDir, path: str, table: pa.Table, buckets: np.ndarray, n_buckets: int) -> list[int]:
    """Write ``table``'s rows grouped by ``buckets`` (int, one per row, in 0..n_buckets-1).

    Rows keep their relative order inside a bucket. Returns the row count of every bucket.
    """
    buckets = np.asarray(buckets, dtype=np.int64)
    if len(buckets) and np.all(buckets[1:] >= buckets[:-1]):  # grouped already: no copy of the rows
        bounds = np.searchsorted(buckets, np.arange(n_buckets + 1))
    else:
        order, bounds = _bucket_order(buckets, n_buckets)
        table = table.take(pa.array(order))
    # Each bucket's stream stays an Arrow buffer, written as it is: a BytesIO copied each stream
    # out and joining them copied the whole file again (~0.1 CPU s per 100 MB written).
    blocks: list[pa.Buffer] = []
    offsets = np.zeros(n_buckets + 1, dtype=np.int64)
    for bucket in range(n_buckets):
        begin, end = int(bounds[bucket]), int(bounds[bucket + 1])
        if end > begin:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table.slice(begin, end - begin))
            blocks.append(sink.getvalue())
        offsets[bucket + 1] = offsets[bucket] + (blocks[-1].size if end > begin else 0)
    work.write_parts(path, [_header(_MAGIC_TABLE, offsets), *blocks])
    return np.diff(bounds).astype(int).tolist()


def write_row_buckets(work: WorkDir, path: str, rows: np.ndarray, buckets: np.ndarray, n_buckets: int) -> None:
    """Write a structured array's rows grouped by bucket (fixed width, so bucket ranges are contiguous)."""
    buckets = np.asarray(buckets, dtype=np.int64)
    if len(buckets) and (buckets.min() < 0 or buckets.max() >= n_buckets):
        raise ValueError(f"{path}: bucket numbers must lie in 0..{n_buckets - 1}")
    if rows.dtype.itemsize % 8 == 0 and rows.flags.c_contiguous:  # 8-byte words: a compiled counting sort
        words = rows.view(np.uint64).reshape(len(rows), rows.dtype.itemsize // 8)
        grouped, bounds = group_rows_by_bucket(words, buckets, n_buckets)
    else:
        order, bounds = _bucket_order(buckets, n_buckets)
        grouped = np.ascontiguousarray(rows[order])
    work.write_parts(path, [_header(_MAGIC_ROWS, bounds * rows.dtype.itemsize), grouped.reshape(-1).view(np.uint8)])


def _data_range(work: WorkDir, path: str, n_buckets: int, first: int, end: int) -> tuple[int, int]:
    """Where the data of buckets [first, end) of one shuffle file of ``n_buckets`` buckets lies
    (start, stop in the file): one ranged read of the bounding header entries."""
    entries = work.read_range(path, _PREFIX + 8 * first, _PREFIX + 8 * (end + 1))
    offsets = np.frombuffer(entries, dtype="<i8")
    if len(offsets) != end - first + 1:
        raise ValueError(f"{path}: buckets {first}..{end} are outside the file (truncated or not a shuffle file)")
    data_start = _PREFIX + 8 * (n_buckets + 1)
    return data_start + int(offsets[0]), data_start + int(offsets[-1])


def _range_bytes(work: WorkDir, path: str, n_buckets: int, first: int, end: int) -> bytes:
    """The data bytes of buckets [first, end) of one shuffle file of ``n_buckets`` buckets: two
    ranged reads (the bounding header entries, then the data)."""
    start, stop = _data_range(work, path, n_buckets, first, end)
    return work.read_range(path, start, stop) if stop > start else b""


def _read_into(work: WorkDir, path: str, start: int, target: memoryview) -> None:
    """Bytes [start, start + len(target)) of a file into ``target``: ``preadv`` straight into it
    on a local work dir (no intermediate bytes object), else one ranged read copied in."""
    if not work.is_local():
        target[:] = work.read_range(path, start, start + len(target))
        return
    with open(work.fs._strip_protocol(path), "rb") as handle:
        done = 0
        while done < len(target):
            got = os.preadv(handle.fileno(), [target[done:]], start + done)
            if got <= 0:
                raise ValueError(f"{path}: ends before byte {start + len(target)} (truncated shuffle file)")
            done += got


def _map_paths(work: WorkDir, paths: list[str], read: Callable[[str], Any]) -> list[Any]:
    """``read`` over paths; threads for remote work dirs (ranged reads are latency-bound)."""
    if work.is_local() or len(paths) < 4:
        return [read(p) for p in paths]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(read, paths))


def read_table_bucket(
    work: WorkDir, paths: Iterable[str], n_buckets: int, bucket: int, schema: pa.Schema
) -> pa.Table:
    """Bucket ``bucket`` (of ``n_buckets``) of every producer file in ``paths``, in path order."""
    paths = list(paths)

    def read(path: str) -> list[pa.Table]:
        data = _range_bytes(work, path, n_buckets, bucket, bucket + 1)
        return [pa.ipc.open_stream(pa.py_buffer(data)).read_all()] if data else []

    # Producers may carry more columns than this reader wants (e.g. scored edges): keep the schema's.
    tables = [t.select(schema.names) for found in _map_paths(work, paths, read) for t in found]
    return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()


def read_row_range(work: WorkDir, paths: Iterable[str], n_buckets: int, first: int, end: int, dtype: np.dtype) -> np.ndarray:
    """Rows of buckets [first, end) (of ``n_buckets``) of every producer file in ``paths``, read
    straight into one array (joining per-file reads copied every row once more: ~300 MB per
    wave on the 1.9 GB benchmark's band keys)."""
    paths = list(paths)
    dtype = np.dtype(dtype)
    ranges = _map_paths(work, paths, lambda path: _data_range(work, path, n_buckets, first, end))
    sizes = [stop - start for start, stop in ranges]
    for path, size in zip(paths, sizes):
        if size % dtype.itemsize:
            raise ValueError(f"{path}: buckets {first}..{end} hold {size} bytes, not whole rows of {dtype.itemsize}")
    rows = np.empty(sum(sizes) // dtype.itemsize, dtype=dtype)
    target = memoryview(rows.view(np.uint8).reshape(-1))
    places = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    jobs = [(path, start, int(places[i]), size) for i, (path, (start, _), size) in enumerate(zip(paths, ranges, sizes)) if size]

    def read(job: tuple[str, int, int, int]) -> None:
        path, start, place, size = job
        _read_into(work, path, start, target[place:place + size])

    _map_paths(work, jobs, read)  # type: ignore[arg-type]
    return rows
