"""Writing one shard's bulk SST files; runs in the catalog process or in writer processes.

The expensive part of a bulk load — sorting ids and listing keys, and writing every entry through
``SstFileWriter`` — happens here, per shard, so shards are written in parallel by separate processes.
SST files must be written in key order with the table options the shard reads them with (block size,
hash index and bloom filter are fixed when the file is written), so both come from
:mod:`catalog.column_families`. Writer processes are fresh interpreters (:mod:`catalog.child_process`),
never forked: forking a process that has RocksDB open is unsafe.
"""
from __future__ import annotations

import atexit
import os
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import repeat
from multiprocessing.connection import Connection
from operator import itemgetter
from typing import Iterator

import numpy as np
import rocksdict as rd

from catalog.child_process import ChildProcess
from catalog.column_families import listing_options, table_options
from catalog.errors import CatalogError


@dataclass
class ShardSstJob:
    """Unsorted ids and packed values for one shard (contiguous buffers, input order; for a repeated
    id the last one wins) and the listing keys of the new keys, concatenated in ``listing_blob`` with
    their end offsets in ``listing_ends`` (sorted, may repeat: :func:`catalog.bulk.prepare_bulk` sorts
    them, so the writer checks the order in the same pass that writes, and never sorts). One buffer
    instead of a list of bytes objects: pickling millions of small objects to a worker costs more
    than writing them."""

    shard: int
    loc_path: str
    list_path: str | None
    ids: bytes
    values: bytes
    value_size: int
    listing_blob: bytes = b""
    listing_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    written: int = 0  # filled in by the writer: distinct ids written
    # the shard holds keys already, so the location file (ids are hashes: it overlaps them) is ingested
    # into level 0, which a compaction soon rewrites: written with level 0's LZ4 (column_families)
    level0: bool = False


def sorted_unique_order(ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` (an (n, 16) uint8 array) in byte order, keeping the last of equal ids.

    Key ids are hashes, so their first 8 bytes almost never tie: one unstable sort of those is the
    fast path (~8x a two-key lexsort); any tie (a repeated key, or a 64-bit prefix collision) falls back
    to the stable sort on all 16 bytes, which keeps repeats in input order so the last one wins. Ids
    whose prefixes are strictly ascending already (an owner's existence check hands the writer sorted
    columns) cost one comparison pass instead of a sort (~0.06 µs per id; issue 10).
    """
    hi = ids[:, :8].copy().view(">u8").ravel()
    if len(hi) < 2 or (hi[1:] > hi[:-1]).all():
        return np.arange(len(hi))
    order = np.argsort(hi)
    sorted_hi = hi[order]
    if not (sorted_hi[1:] == sorted_hi[:-1]).any():
        return order
    lo = ids[:, 8:].copy().view(">u8").ravel()
    order = np.lexsort((lo, hi))  # stable: equal ids stay in input order
    s_hi, s_lo = hi[order], lo[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (s_hi[:-1] != s_hi[1:]) | (s_lo[:-1] != s_lo[1:])
    return order[last]


def listing_keys(blob: bytes, ends: np.ndarray) -> list[bytes]:
    """The keys packed in ``blob`` with end offsets ``ends`` (see :class:`ShardSstJob`)."""
    bounds = [0, *ends.tolist()]
    return [blob[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def write_shard_ssts(job: ShardSstJob) -> ShardSstJob:
    """Sort, dedupe and write the job's location SST (and listing SST if any), fsynced."""
    cache = rd.Cache(8 << 20)
    width = job.value_size
    ids = np.frombuffer(job.ids, dtype=np.uint8).reshape(-1, 16)
    order = sorted_unique_order(ids)
    id_buf, val_buf = _in_order(job.ids, 16, order), _in_order(job.values, width, order)
    writer = rd.SstFileWriter(level0_table_options(cache) if job.level0 else table_options(cache))
    writer.open(job.loc_path)
    # map over C methods, no Python loop body: the writes are most of a bulk load's per-entry work;
    # keys and values cut lazily by struct (no lists: ~30% cheaper per entry than cutting lists first)
    deque(map(writer.__setitem__, _lazy_cut(id_buf, 16), _lazy_cut(val_buf, width)), maxlen=0)
    writer.finish()
    _fsync(job.loc_path)
    if job.list_path and len(job.listing_ends):
        keys = _distinct_sorted_listing(job)
        lw = rd.SstFileWriter(listing_options(cache))
        lw.open(job.list_path)
        deque(map(lw.__setitem__, keys, repeat(b"", len(keys))), maxlen=0)
        lw.finish()
        _fsync(job.list_path)
    job.written = len(order)
    job.ids = job.values = job.listing_blob = b""  # nothing large travels back
    job.listing_ends = np.zeros(0, dtype=np.int64)
    return job


def _in_order(buf: bytes, width: int, order: np.ndarray) -> bytes:
    """``buf``'s ``width``-byte rows in ``order``: ``buf`` itself when that is every row in place (an
    owner's existence check hands the writer its columns sorted already), else one gather of opaque
    rows (np.take: ~4x cheaper per row than gathering uint8 rows; issue 10)."""
    n = len(buf) // width
    if len(order) == n and (n == 0 or (order[0] == 0 and bool((np.diff(order) == 1).all()))):
        return bytes(buf)
    return np.take(np.frombuffer(buf, np.dtype((np.void, width))), order).tobytes()


def level0_table_options(cache: rd.Cache) -> rd.Options:
    """The location index's table options with LZ4, the compression RocksDB writes level 0 with
    (:func:`catalog.column_families._set_compression`), for a bulk file that lands in level 0: ZSTD's
    extra work (~0.07 µs per entry written, and more to read it back in the compaction that merges it
    into the levels below, which write ZSTD) would be undone within a few batches. Same table format
    (block size, filter, index): only the file's compression, which each SST file records, differs."""
    opts = table_options(cache)
    lz4 = rd.DBCompressionType.lz4()
    opts.set_compression_type(lz4)
    opts.set_compression_per_level([lz4] * 7)
    opts.set_bottommost_compression_type(lz4)
    return opts


def _lazy_cut(buf: bytes, width: int) -> Iterator[bytes]:
    """``buf`` cut into ``width``-byte pieces, one at a time (``len(buf)`` must be a multiple)."""
    return map(itemgetter(0), struct.Struct(f"{width}s").iter_unpack(buf))


def _distinct_sorted_listing(job: ShardSstJob) -> list[bytes]:
    """The job's listing keys with repeats dropped; ValueError if they are not sorted (the writer
    would fail on them half way)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from catalog.arrow_columns import int64s, to_numpy  # not pa.array / Array.to_numpy: they import pandas (~0.4 s)

    ends = np.asarray(job.listing_ends, dtype=np.int64)
    keys = pa.Array.from_buffers(pa.large_binary(), len(ends), [
        None, pa.py_buffer(np.concatenate([[0], ends]).astype(np.int64)), pa.py_buffer(job.listing_blob)])
    if len(keys) > 1:
        before, after = keys.slice(0, len(keys) - 1), keys.slice(1)
        backwards = to_numpy(pc.less(after, before))
        if backwards.any():
            at = int(np.flatnonzero(backwards)[0])
            raise ValueError(f"listing keys of the bulk job for shard {job.shard} are not sorted "
                             f"({after[at].as_py()!r} after {before[at].as_py()!r}): build jobs with "
                             "catalog.bulk.prepare_bulk")
        repeated = to_numpy(pc.equal(after, before))
        if repeated.any():
            keys = keys.take(int64s(np.flatnonzero(np.concatenate([[True], ~repeated]))))
    return keys.to_pylist()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _serve(conn: Connection) -> None:
    """A writer process: write each job received, answer ``(True, job)`` or ``(False, error)``."""
    import rocksdict  # noqa: F401  (the import is the slow part of a writer's start)

    conn.send((True, os.getpid()))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, write_shard_ssts(job)))
        except Exception as exc:  # noqa: BLE001 - sent back to be raised in the catalog process
            conn.send((False, exc))


class WriterPool:
    """``workers`` writer processes, started once and reused (starting one costs ~0.5 s of imports)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._procs = [ChildProcess("catalog.sst_files:_serve") for _ in range(workers)]
        for proc in self._procs:
            self._answer(proc)  # ready

    def _answer(self, proc: ChildProcess) -> object:
        try:
            ok, value = proc.conn.recv()
        except (EOFError, OSError) as exc:
            raise CatalogError(f"an SST writer process (pid {proc.process.pid}) died ({exc!r}): nothing of "
                               "this load was registered; run it again") from exc
        if not ok:
            raise value
        return value

    def run(self, jobs: list[ShardSstJob]) -> list[ShardSstJob]:
        results: list[ShardSstJob | None] = [None] * len(jobs)
        errors: list[BaseException] = []

        def serve(w: int) -> None:
            proc = self._procs[w]
            try:
                for j in range(w, len(jobs), self.workers):
                    proc.conn.send(jobs[j])
                    results[j] = self._answer(proc)  # type: ignore[assignment]
            except BaseException as exc:  # noqa: BLE001 - raised by the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=serve, args=(w,)) for w in range(1, self.workers)]
        for thread in threads:
            thread.start()
        serve(0)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for proc in self._procs:
            proc.stop()
        self._procs = []


_POOL: WriterPool | None = None
_POOL_LOCK = threading.Lock()


def worker_pool(workers: int) -> WriterPool:
    """The writer processes (started once, reused; replaced if a load asks for another count)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.workers != workers:
            if _POOL is not None:
                _POOL.close()
            _POOL = WriterPool(workers)
        return _POOL


def _close_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.close()
        _POOL = None


atexit.register(_close_pool)


def warm_up(workers: int) -> None:
    """Start the writer processes now (a long-running catalog does this once, not per load)."""
    worker_pool(workers)


def run_jobs(jobs: list[ShardSstJob], workers: int) -> list[ShardSstJob]:
    """Write every job's files, in ``workers`` writer processes when more than one."""
    if workers <= 1 or len(jobs) <= 1:
        return [write_shard_ssts(job) for job in jobs]
    pool = worker_pool(workers)
    try:
        return pool.run(jobs)
    except CatalogError:
        _close_pool()  # a writer died: start fresh ones next time
        raise
