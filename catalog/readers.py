"""Parallel batched lookups: spawned reader processes over secondary RocksDB instances.

A point lookup through rocksdict costs ~1-2 µs of Python-level work per key, so one process tops out
well below a million keys per second whatever the table format. For large batches the catalog sends
each shard's sorted key ids to reader processes, which open the shards as RocksDB *secondary*
instances (allowed beside the one writer), catch up with the writer's log before each request, look
the keys up with an iterator walking the sorted batch, and send back one buffer: a found flag per key
followed by the fixed-width values. No per-key Python object crosses the process boundary.

Contract: a lookup sees every write the catalog acknowledged before the lookup began (the reader
catches up with the primary first). Readers are spawned, never forked (forking after RocksDB opened
is unsafe), started on first use and stopped by :meth:`ReaderPool.close`.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from catalog.location import LOCATION_SIZE

_STOP = b""


def _reader_main(conn: Connection, shard_paths: list[str], scratch: str, cache_bytes: int) -> None:
    """Reader process: answer ``shard byte + sorted ids`` with ``found flags + values``."""
    import rocksdict as rd

    from catalog.shard import CF_LISTING, CF_MARKS, CF_META, listing_options, table_options

    cache = rd.Cache(cache_bytes)
    os.makedirs(scratch, exist_ok=True)
    dbs = []
    for i, path in enumerate(shard_paths):
        cfs = {CF_LISTING: listing_options(cache), CF_MARKS: rd.Options(raw_mode=True),
               CF_META: rd.Options(raw_mode=True)}
        dbs.append(rd.Rdict(path, table_options(cache), column_families=cfs,
                            access_type=rd.AccessType.secondary(os.path.join(scratch, f"shard-{i}"))))
    ropts = rd.ReadOptions()
    ropts.set_verify_checksums(False)
    width = LOCATION_SIZE
    while True:
        try:
            msg = conn.recv_bytes()
        except EOFError:
            break
        if msg == _STOP:
            break
        db = dbs[msg[0]]
        db.try_catch_up_with_primary()
        ids = msg[1:]
        n = len(ids) // 16
        found = bytearray(n)
        values = bytearray(n * width)
        it = db.iter(ropts)
        for i in range(n):
            key = ids[i * 16:i * 16 + 16]
            it.seek(key)
            if it.valid() and it.key() == key:
                found[i] = 1
                values[i * width:(i + 1) * width] = it.value()
        del it
        conn.send_bytes(bytes(found) + bytes(values))
    for db in dbs:
        db.close()


class ReaderPool:
    """``workers`` reader processes over the shards of one catalog directory."""

    def __init__(self, shard_paths: list[str], workers: int, cache_bytes: int = 1 << 30) -> None:
        self.shard_paths = shard_paths
        self.workers = workers
        self.cache_bytes = cache_bytes
        self._conns: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._locks: list[threading.Lock] = []
        self._scratch = ""

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._scratch = tempfile.mkdtemp(prefix="hb-readers-")
        for w in range(self.workers):
            parent, child = ctx.Pipe()
            scratch = os.path.join(self._scratch, str(w))
            proc = ctx.Process(target=_reader_main, args=(child, self.shard_paths, scratch, self.cache_bytes),
                               daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
            self._locks.append(threading.Lock())

    def lookup(self, jobs: list[tuple[int, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each (shard, sorted ids as an (n, 16) uint8 array): (found bool array, (n, 22) values)."""
        if not self._procs:
            self._start()
        results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(jobs)

        def serve(worker: int) -> None:
            with self._locks[worker]:
                conn = self._conns[worker]
                for j in range(worker, len(jobs), self.workers):
                    shard, ids = jobs[j]
                    conn.send_bytes(bytes([shard]) + ids.tobytes())
                    data = conn.recv_bytes()
                    n = len(ids)
                    found = np.frombuffer(data, dtype=np.uint8, count=n).astype(bool)
                    values = np.frombuffer(data, dtype=np.uint8, offset=n).reshape(n, LOCATION_SIZE)
                    results[j] = (found, values)

        threads = [threading.Thread(target=serve, args=(w,)) for w in range(1, self.workers)]
        for t in threads:
            t.start()
        serve(0)
        for t in threads:
            t.join()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send_bytes(_STOP)
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        self._conns, self._procs, self._locks = [], [], []
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = ""


def shard_paths(catalog_dir: Path, num_shards: int) -> list[str]:
    from catalog.shard import shard_dir

    return [str(shard_dir(catalog_dir, i)) for i in range(num_shards)]
