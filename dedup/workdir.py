"""The work directory of a run: where stages spill their results and mark their completion.

Layout under ``{output}/_work/{run_id}/``::

    config.json                 the run's settings (a resumed run must match them)
    partitions.json             the number of partitions chosen after stage 1
    docs/S.arrow                clean documents of split S (+ ordinal, length, priority, digest),
                                Arrow IPC, one record batch per reader batch
    keys/S.parquet              id, length, priority, digest of the same documents (no text)
    sigs/S.npy                  their signatures, row for row (uint32, n x num_perm)
    bands/S.rows                (band key, ordinal) of split S, grouped by key slot (dedup/shuffle)
    digests/S.rows              (digest, ordinal) of split S, grouped by digest slot
    ids/S.rows                  (id hash, split << 32 | input row) of every document read, by slot
    dropped/S.parquet           documents of split S removed by cleaning (id, reason, detail)
    quarantine/S.parquet        bad records of split S (source, offset, reason)
    sh/WAVE/I.shuf              the shuffle file written by task I of a later wave (dedup/waves.py)
    roots/R/S.npy               the nodes of split S without a smaller neighbour in round R
    markers/NAME.json           a unit of work is complete (written last, after its data)

Every file is written under a temporary name and renamed into place, so a killed stage leaves
either nothing or a whole file; a unit counts as done only when its marker exists.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from typing import Any, Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.storage import atomic_writer, ensure_parent, is_multipart_store


class WorkDir:
    """Paths and atomic writes of one run's work directory (any fsspec URL). Picklable."""

    def __init__(self, output: str, run_id: str) -> None:
        self.output = output.rstrip("/")
        self.run_id = run_id
        self.root = f"{self.output}/_work/{run_id}"
        self._fs: fsspec.AbstractFileSystem | None = None  # resolved once per process (not pickled)
        self._local: bool | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The file system is resolved again where the object lands (another process or node).
        return {"output": self.output, "run_id": self.run_id, "root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fs = None
        self._local = None

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        # Resolved once: a unit asks for it a few hundred times (every path it reads or writes), and
        # parsing the URL each time was ~4 ms of a ~25 ms component or cluster unit, measured.
        if self._fs is None:
            self._fs = fsspec.core.url_to_fs(self.root)[0]
        return self._fs

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def is_local(self) -> bool:
        if self._local is None:
            protocol = self.fs.protocol
            self._local = "file" in (protocol if isinstance(protocol, tuple) else (protocol,))
        return self._local

    # -- atomic writes -------------------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes) -> None:
        fs = self.fs
        if is_multipart_store(fs):  # one PutObject: whole or absent
            ensure_parent(fs, path)
            fs.pipe_file(path, data)
            return
        with self._atomic_handle(path) as handle:
            handle.write(data)

    def write_parts(self, path: str, parts: list[Any]) -> None:
        """Write the bytes-like ``parts`` one after the other as one file, atomically (joined into
        one upload on object storage; written part by part, without joining them, elsewhere)."""
        if is_multipart_store(self.fs):
            self.write_bytes(path, b"".join(parts))
            return
        with self._atomic_handle(path) as handle:
            for part in parts:
                handle.write(part)

    def write_table(self, path: str, table: pa.Table, compression: str = "lz4") -> None:
        """Write a Parquet file atomically (lz4 for work files: cheap to write and read back).

        On a local work dir Arrow writes the file itself (no Python file object, no copy of the
        whole file in memory); elsewhere the file is built in memory and uploaded at once. The
        bytes are the same either way.
        """
        if self.is_local():
            with self._atomic_local_path(path) as temporary:
                pq.write_table(table, temporary, compression=compression)
            return
        sink = io.BytesIO()
        pq.write_table(table, sink, compression=compression)
        self.write_bytes(path, sink.getvalue())

    @contextlib.contextmanager
    def table_writer(self, path: str, schema: pa.Schema, compression: str = "lz4") -> Iterator[pq.ParquetWriter]:
        """A streaming Parquet writer whose file appears at ``path`` only if the block succeeds."""
        with self._atomic_handle(path) as handle:
            writer = pq.ParquetWriter(handle, schema, compression=compression)
            try:
                yield writer
            finally:
                writer.close()

    @contextlib.contextmanager
    def _atomic_handle(self, path: str) -> Iterator[Any]:
        """A writable handle whose file appears at ``path`` only if the block succeeds: a temporary
        name + rename on local disk, one upload completed at the end on S3 (no copy)."""
        fs = self.fs
        ensure_parent(fs, path)  # on S3: checks the bucket, never creates it
        if is_multipart_store(fs):
            with atomic_writer(fs, path) as handle:
                yield handle
            return
        # elsewhere a temporary name and a rename (no fsync: work files need to survive a killed
        # process, not a power cut, and a stage writes hundreds of them)
        temporary = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open(temporary, "wb") as handle:
            yield handle
        fs.mv(temporary, path)

    @contextlib.contextmanager
    def _atomic_local_path(self, path: str) -> Iterator[str]:
        """A local temporary path for Arrow to write natively; renamed to ``path`` only if the block
        succeeds (the local case of :meth:`_atomic_handle`)."""
        fs = self.fs
        ensure_parent(fs, path)
        local = fs._strip_protocol(path)
        temporary = f"{local}.tmp-{uuid.uuid4().hex}"
        try:
            yield temporary
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise
        os.replace(temporary, local)

    @contextlib.contextmanager
    def ipc_writer(self, path: str, schema: pa.Schema) -> Iterator[pa.ipc.RecordBatchFileWriter]:
        """A streaming Arrow IPC file writer (uncompressed: spills that are read back whole).
        Local: Arrow's own file output (each buffer written without passing through Python)."""
        if self.is_local():
            with self._atomic_local_path(path) as temporary:
                with pa.OSFile(temporary, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                    yield writer
            return
        with self._atomic_handle(path) as handle:
            with pa.ipc.new_file(handle, schema) as writer:
                yield writer

    def read_ipc(self, path: str) -> pa.Table:
        """An Arrow IPC file as a table (memory-mapped on a local work dir), batches as written."""
        if self.is_local():
            # The table's buffers keep the mapping alive (no copy of the text).
            return pa.ipc.open_file(pa.memory_map(self.fs._strip_protocol(path))).read_all()
        with self.fs.open(path, "rb") as handle:
            return pa.ipc.open_file(pa.py_buffer(handle.read())).read_all()

    def write_array(self, path: str, array: np.ndarray) -> None:
        with self._atomic_handle(path) as handle:
            np.save(handle, array, allow_pickle=False)

    def write_json(self, path: str, data: Any) -> None:
        self.write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode())

    # -- reads ---------------------------------------------------------------------------------
    def read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open(path, "rb") as handle:
            return pq.read_table(handle, columns=columns)

    def read_tables(self, paths: list[str], schema: pa.Schema) -> pa.Table:
        tables = [self.read_table(p) for p in paths]
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def open_array(self, path: str) -> np.ndarray:
        """A saved array; memory-mapped when the work dir is local (only touched rows are read)."""
        if self.is_local():
            return np.load(self.fs._strip_protocol(path), mmap_mode="r", allow_pickle=False)
        with self.fs.open(path, "rb") as handle:
            return np.load(io.BytesIO(handle.read()), allow_pickle=False)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file: one ranged read (``pread`` on a local work dir)."""
        if end <= start:
            return b""
        if self.is_local():
            with open(self.fs._strip_protocol(path), "rb") as handle:
                return os.pread(handle.fileno(), end - start, start)
        return bytes(self.fs.cat_file(path, start=start, end=end))

    def array_rows(self, path: str, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of a saved 1-d or 2-d array, in that order, without reading the rest.

        Local: memory-mapped. Remote: the header, then ranged reads of the touched rows (runs of
        rows closer than 64 KiB are read together).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self.is_local():
            return np.asarray(self.open_array(path)[rows])
        stream = io.BytesIO(self.read_range(path, 0, 4096))  # the .npy header is well under 4 KiB
        version = np.lib.format.read_magic(stream)
        shape, fortran, dtype = (
            np.lib.format.read_array_header_1_0(stream) if version == (1, 0) else np.lib.format.read_array_header_2_0(stream)
        )
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
        data_start = stream.tell()
        row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        out = np.empty((len(rows),) + tuple(shape[1:]), dtype=dtype)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        gap = max(1, (64 << 10) // max(row_bytes, 1))
        breaks = np.flatnonzero(np.diff(sorted_rows) > gap) + 1
        starts, ends = np.r_[0, breaks], np.r_[breaks, len(rows)]
        first = sorted_rows[starts]
        last = sorted_rows[ends - 1] + 1
        blobs = self.fs.cat_ranges(
            [path] * len(first), (data_start + first * row_bytes).tolist(), (data_start + last * row_bytes).tolist()
        )
        for begin, end, low, blob in zip(starts, ends, first, blobs):
            run = np.frombuffer(blob, dtype=dtype).reshape((-1,) + tuple(shape[1:]))
            out[order[begin:end]] = run[sorted_rows[begin:end] - low]
        return out

    def read_json(self, path: str) -> Any:
        with self.fs.open(path, "rb") as handle:
            return json.loads(handle.read())

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def list(self, directory: str) -> list[str]:
        fs = self.fs
        if not fs.exists(directory):
            return []
        return sorted(p for p in fs.ls(directory, detail=False) if ".tmp-" not in p)

    # -- ownership -----------------------------------------------------------------------------
    def claim_output(self, overwrite: bool = False) -> None:
        """Make sure ``output`` holds nothing but this run's files (an output belongs to one run).

        With ``overwrite`` everything in ``output`` is deleted first. Otherwise the directory
        must be missing, empty, or hold this run's work dir (a resumed run continues in place).
        Errors: ConfigError naming the directory, what it holds and the fix.
        """
        from dedup.errors import ConfigError

        fs = self.fs
        if overwrite and fs.exists(self.output):
            fs.rm(self.output, recursive=True)
        if not fs.exists(self.output):
            return
        if not fs.isdir(self.output):
            raise ConfigError(f"--output {self.output} is a file; name a directory")
        entries = sorted(os.path.basename(p.rstrip("/")) for p in fs.ls(self.output, detail=False))
        runs = sorted(os.path.basename(p.rstrip("/")) for p in fs.ls(f"{self.output}/_work", detail=False)) \
            if "_work" in entries else []
        others = [r for r in runs if r != self.run_id]
        ours = self.run_id in runs and self.exists(self.path("config.json"))
        files = [e for e in entries if e != "_work"]
        if others or (files and not ours):
            held = f"the work dir of run {', '.join(others)}" if others else f"files of another run ({', '.join(files[:5])})"
            resume = f", resume it with --run-id {others[0]}" if others else ""
            raise ConfigError(
                f"--output {self.output} holds {held}; choose an empty directory{resume}, "
                "or pass --overwrite to delete its contents first"
            )

    # -- markers -------------------------------------------------------------------------------
    def marker(self, name: str) -> str:
        return self.path("markers", f"{name}.json")

    def done(self, name: str) -> bool:
        return self.exists(self.marker(name))

    def mark_done(self, name: str, info: dict[str, Any]) -> None:
        self.write_json(self.marker(name), info)

    def marker_info(self, name: str) -> dict[str, Any]:
        return dict(self.read_json(self.marker(name)))
