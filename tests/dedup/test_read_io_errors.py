"""An I/O error while reading an input file fails the split; bad data is still quarantined.

A read that fails on the storage (object storage, a disk error) says nothing about the data: the
lines after it were never seen. Before, dedup quarantined it as "cut or corrupt data" and dropped
the rest of the file under one entry, so the records were lost unaccounted and a resume did not read
them again. The storage here is a real fsspec filesystem (an in-memory one) whose files fail every
read that touches a given byte range, as a bad sector or a failing ranged GET does.
"""
from __future__ import annotations

import gzip
import io
import json
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from dedup import line_blocks, sources
from dedup.errors import RecordError, SourceError
from dedup.sources import JsonlSource, ParquetSource


class _FlakyFile(MemoryFile):
    """A file whose reads fail (OSError) when they touch ``fs.bad`` = (start, stop) byte range."""

    def _check(self, size: int) -> None:
        bad = self.fs.bad
        at = self.tell()
        end = len(self.getbuffer()) if size is None or size < 0 else at + size
        if bad is not None and at < bad[1] and end > bad[0]:
            raise OSError(5, "Input/output error (simulated failing read)")

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        self._check(size)
        return super().read(size)

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        self._check(len(memoryview(buffer)))
        return super().readinto(buffer)


class FlakyFileSystem(MemoryFileSystem):
    """An in-memory fsspec filesystem whose files fail reads in the byte range ``bad`` (None: healthy)."""

    protocol = "haybaleflaky"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]
    bad: tuple[int, int] | None = None

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return super()._strip_protocol(path.removeprefix(f"{cls.protocol}://"))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        handle = super()._open(path, mode, **kwargs)
        if "r" not in mode:
            return handle
        return _FlakyFile(self, handle.path, bytes(handle.getbuffer()))


@pytest.fixture
def flaky() -> Any:
    fsspec.register_implementation(FlakyFileSystem.protocol, FlakyFileSystem, clobber=True)
    FlakyFileSystem.store.clear()
    FlakyFileSystem.bad = None
    yield FlakyFileSystem
    FlakyFileSystem.store.clear()
    FlakyFileSystem.bad = None


def _put(name: str, data: bytes) -> str:
    url = f"{FlakyFileSystem.protocol}://{name}"
    with fsspec.open(url, "wb") as out:
        out.write(data)
    return url


def _lines(n: int) -> bytes:
    return b"".join(json.dumps({"id": str(i), "text": f"document number {i} " * 5}).encode() + b"\n" for i in range(n))


def _read(source: Any) -> tuple[list[str], list[RecordError]]:
    bad: list[RecordError] = []
    (split,) = source.splits()
    ids = [i for batch in source.read(split, on_bad_record=bad.append) for i in batch.column("id").to_pylist()]
    return ids, bad


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz"])
def test_an_io_error_mid_jsonl_fails_the_split_and_a_resume_reads_everything(
        name: str, flaky: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_blocks, "READ_SIZE", 256)
    monkeypatch.setattr(sources, "_BLOCK_BYTES", 1024)
    data = _lines(400)
    stored = gzip.compress(data) if name.endswith(".gz") else data
    url = _put(name, stored)
    size = len(stored)
    flaky.bad = (size // 2, size // 2 + 1)
    source = JsonlSource([url])
    bad: list[RecordError] = []
    with pytest.raises(SourceError) as caught:
        for _ in source.read(source.splits()[0], on_bad_record=bad.append):
            pass
    message = str(caught.value)
    assert source.splits()[0].url in message and "I/O error" in message and "same --run-id" in message
    assert not isinstance(caught.value, RecordError) and bad == []  # nothing quarantined as bad data
    flaky.bad = None  # the storage is back: the rerun reads the whole file
    ids, bad = _read(source)
    assert ids == [str(i) for i in range(400)] and bad == []


def test_a_cut_gzip_jsonl_is_still_quarantined_not_failed(flaky: Any) -> None:
    packed = gzip.compress(_lines(400))
    url = _put("cut.jsonl.gz", packed[: len(packed) // 2])
    ids, bad = _read(JsonlSource([url]))
    assert 0 < len(ids) < 400 and len(bad) == 1 and "truncated" in bad[0].reason


def test_a_corrupt_gzip_jsonl_is_still_quarantined_not_failed(flaky: Any) -> None:
    packed = bytearray(gzip.compress(_lines(2000), mtime=0))
    packed[len(packed) // 2] ^= 0xFF
    url = _put("corrupt.jsonl.gz", bytes(packed))
    ids, bad = _read(JsonlSource([url]))
    assert len(ids) < 2000 and len(bad) == 1 and "cut or corrupt" in bad[0].reason


def test_an_io_error_in_a_parquet_row_group_fails_the_split(flaky: Any) -> None:
    table = pa.table({"id": [str(i) for i in range(300)], "text": [f"text {i} " * 300 for i in range(300)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=100, compression="none")
    url = _put("docs.parquet", out.getvalue())
    second = pq.ParquetFile(io.BytesIO(out.getvalue())).metadata.row_group(1).column(1).data_page_offset
    flaky.bad = (second + 10, second + 11)
    source = ParquetSource([url])
    bad: list[RecordError] = []
    with pytest.raises(SourceError) as caught:
        for _ in source.read(source.splits()[0], on_bad_record=bad.append):
            pass
    message = str(caught.value)
    assert source.splits()[0].url in message and "row group 1" in message and "same --run-id" in message
    assert not isinstance(caught.value, RecordError) and bad == []
    flaky.bad = None
    ids, bad = _read(source)
    assert ids == [str(i) for i in range(300)] and bad == []
