"""How a WARC/ARC file is laid out on storage, and so whether its byte offsets can be indexed in place.

A record can be served by one ranged read only if the file is uncompressed or has one gzip member
per record (as Common Crawl and our volumes write it). A file gzipped as one stream (``gzip x.warc``)
must be repacked: offsets inside it mean nothing without decompressing from the start.

Contract of :func:`probe_layout`: it reads at most ``max_probe_members`` gzip members (bounded memory:
each member is decompressed with an output cap) and never raises for bad bytes; unreadable or unknown
content gives ``FileLayout(kind=UNKNOWN, ...)``. Missing files raise :class:`WarcSourceError`.
"""
from __future__ import annotations

import enum
import io
import zlib
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from catalog.errors import ArchiveError as WarcSourceError
from catalog.errors import SourceReadError, io_detail
from catalog.storage import is_missing_or_refused, is_storage_error

GZIP_MAGIC = b"\x1f\x8b"
_READ_BLOCK = 1 << 16
_MEMBER_OUTPUT_CAP = 64 << 20  # a single record member larger than this decompressed is not probed further


class Compression(enum.Enum):
    NONE = "none"
    GZIP_PER_RECORD = "gzip-per-record"
    GZIP_WHOLE_FILE = "gzip-whole-file"  # also files mixing single- and multi-record members


class RecordFormat(enum.Enum):
    WARC = "warc"
    ARC = "arc"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FileLayout:
    """What :func:`probe_layout` found.

    ``indexable_in_place`` is True when every record seen so far can be read alone with one ranged read.
    """

    url: str
    size: int
    compression: Compression
    record_format: RecordFormat

    @property
    def indexable_in_place(self) -> bool:
        return self.compression is not Compression.GZIP_WHOLE_FILE and self.record_format is not RecordFormat.UNKNOWN


class SourceFile:
    """A file resolved once to its fsspec filesystem and path, with one shared handle for small reads
    (for small files, resolving and opening cost more than reading). Close it when done.

    Storage failures: a read that fails on the storage (an ``OSError`` from :meth:`read` or from a
    handle :meth:`open` gave, mid-file) raises :class:`~catalog.errors.SourceReadError`, never an
    ``OSError`` a parser could take for bad bytes (gzip's own ``BadGzipFile`` is one), and the first
    such failure is kept in :attr:`read_error` for readers whose parser swallows errors."""

    def __init__(self, url: str, fs: Any, path: str, size: int) -> None:
        self.url, self.fs, self.path, self.size = url, fs, path, size
        self._handle: Any = None  # streamed by parsers
        self._side: Any = None  # ranged reads while a parser streams the other handle
        self.read_error: SourceReadError | None = None  # the first read that failed on the storage

    def failed(self, offset: int | None, exc: BaseException) -> SourceReadError:
        """The :class:`SourceReadError` for a read from ``offset`` that raised ``exc``; remembered."""
        error = SourceReadError(self.url, offset, io_detail(exc))
        if self.read_error is None:
            self.read_error = error
        return error

    def _open_raw(self) -> Any:
        if isinstance(self.fs, LocalFileSystem):
            # The builtin file is read from C by FastWARC; fsspec's wrapper adds a Python call per read.
            return open(self.path, "rb")
        return self.fs.open(self.path, "rb")

    def open(self) -> Any:
        """A new handle at offset 0; the caller closes it. Its reads raise :class:`SourceReadError`
        when the storage fails."""
        try:
            raw = self._open_raw()
        except (OSError, ValueError) as exc:
            raise WarcSourceError(f"cannot open WARC source {self.url!r}: {exc}") from exc
        return _WatchedHandle(raw, self)

    def shared(self, offset: int = 0) -> Any:
        """The shared handle, positioned at ``offset``; do not close it (see :meth:`close`)."""
        if self._handle is None:
            self._handle = self.open()
        self._handle.seek(offset)
        return self._handle

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (clipped to the file), without moving the shared handle. Raises
        :class:`SourceReadError` when the storage fails."""
        end = min(end, self.size)
        if end <= start:
            return b""
        try:
            if not isinstance(self.fs, LocalFileSystem):
                # Some filesystems hand out one object per path (memory://): never seek a second "handle".
                data = bytes(self.fs.cat_file(self.path, start=start, end=end))
            else:
                if self._side is None:
                    self._side = self._open_raw()
                self._side.seek(start)
                return bytes(self._side.read(end - start))
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            raise self.failed(start, exc) from exc
        if len(data) > end - start:
            raise WarcSourceError(f"{self.url!r} sent {len(data):,} bytes for a range of {end - start:,}: its "
                                  "server ignores HTTP range requests; download the file, or serve it from "
                                  "storage that supports them")
        return data

    def serves_ranges(self) -> bool:
        """True if a ranged read returns just that range: always for local files; an HTTP server that
        ignores range requests sends the whole file instead (``python -m http.server``), so nothing
        can be indexed in place there or read from it by offset."""
        if isinstance(self.fs, LocalFileSystem) or self.size < 2:
            return True
        try:
            return len(self.read(1, 2)) == 1
        except WarcSourceError:
            return False

    def close(self) -> None:
        for handle in (self._handle, self._side):
            if handle is not None:
                handle.close()
        self._handle = self._side = None


class _WatchedHandle:
    """A handle of a :class:`SourceFile` whose reads raise :class:`SourceReadError` (and remember it on
    the file) when the storage fails; everything else is the handle's own. One Python call per read
    on top of the handle's (FastWARC reads 64 KiB and more at a time)."""

    def __init__(self, raw: Any, file: SourceFile) -> None:
        self._raw, self._file = raw, file

    def _failed(self, exc: BaseException) -> SourceReadError:
        try:
            at: int | None = self._raw.tell()
        except (OSError, ValueError):
            at = None
        return self._file.failed(at, exc)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._raw, method)(*args)
        except Exception as exc:  # OSErrors, and aiohttp's errors (a 503, a dropped connection), which are not
            if not is_storage_error(exc):
                raise
            raise self._failed(exc) from exc

    def read(self, size: int = -1) -> bytes:
        return self._call("read", size)

    def read1(self, size: int = -1) -> bytes:
        return self._call("read1", size)

    def readinto(self, buffer: Any) -> int:
        return self._call("readinto", buffer)

    def readline(self, size: int = -1) -> bytes:
        return self._call("readline", size)

    def __enter__(self) -> "_WatchedHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def __getattr__(self, name: str) -> Any:  # seek, tell, close, closed, seekable, ...: the handle's own
        return getattr(self._raw, name)


def resolve_source(url: str, storage_options: dict[str, Any] | None = None) -> SourceFile:
    """Resolve ``url`` (any fsspec URL or local path). Raises :class:`WarcSourceError` naming the URL
    when it does not exist, is not allowed or is not a file (:func:`~catalog.storage.is_missing_or_refused`),
    or the URL is not one; :class:`SourceReadError` when its storage fails the size check (an I/O
    error, a 503, a dropped or refused connection: the file may be fine, so it must be read again)."""
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        return SourceFile(url, fs, path, int(fs.size(path)))
    except ValueError as exc:
        raise WarcSourceError(f"cannot open WARC source {url!r}: {exc}; check the path and storage options") from exc
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        if is_missing_or_refused(exc):
            raise WarcSourceError(f"cannot open WARC source {url!r}: {exc}; check the path and storage "
                                  "options") from exc
        cause = exc.__cause__ if isinstance(exc, FileNotFoundError) and exc.__cause__ is not None else exc
        raise SourceReadError(url, None, io_detail(cause)) from exc


def _record_format(head: bytes) -> RecordFormat:
    start = head.lstrip(b"\r\n")
    if start.startswith(b"WARC/"):
        return RecordFormat.WARC
    if start.startswith(b"filedesc://"):
        return RecordFormat.ARC
    return RecordFormat.UNKNOWN


def _count_warc_records(data: bytes) -> int:
    """Records FastWARC finds in one decompressed member (lenient; 0 on garbage)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    try:
        return sum(1 for _ in ArchiveIterator(io.BytesIO(data), record_types=int(WarcRecordType.any_type),
                                              parse_http=False, fsspec_args=False, quirks_mode=True))
    except OSError:
        return 0


def _arc_holds_more_than_one(data: bytes) -> bool:
    """True if one decompressed member holds bytes past its first ARC record: the record's header line
    ends with its length (ARC v1 and v2 alike), and anything but line ends after that many bytes is
    another record. False when the length does not parse (the reader then quarantines the record)."""
    start = len(data) - len(data.lstrip(b"\r\n"))
    eol = data.find(b"\n", start)
    fields = data[start:eol].split() if eol >= 0 else []
    if not fields or not fields[-1].isdigit():
        return False
    return bool(data[eol + 1 + int(fields[-1]):].strip(b"\r\n"))


def probe_layout(url: str | SourceFile, storage_options: dict[str, Any] | None = None,
                 max_probe_members: int = 2) -> FileLayout:
    """Decide the compression and record format of ``url`` from its first gzip members.

    A gzip member holding more than one record marks the file ``GZIP_WHOLE_FILE`` (must be repacked).
    Files whose first members each hold one record are ``GZIP_PER_RECORD``; the full index pass in
    :mod:`catalog.warc_reader` flags any later multi-record member on the records themselves.
    """
    src = url if isinstance(url, SourceFile) else resolve_source(url, storage_options)
    try:
        return _probe(src, max_probe_members)
    finally:
        if src is not url:
            src.close()


def _probe(src: SourceFile, max_probe_members: int) -> FileLayout:
    url, size = src.url, src.size
    fh = src.shared(0)
    head = fh.read(_READ_BLOCK)
    if not head.startswith(GZIP_MAGIC):
        return FileLayout(url, size, Compression.NONE, _record_format(head))
    fh.seek(0)
    buf = b""
    fmt = RecordFormat.UNKNOWN
    for member_index in range(max_probe_members):
        d = zlib.decompressobj(31)
        out = bytearray()
        while True:
            if not buf:
                buf = fh.read(_READ_BLOCK)
                if not buf:
                    break
            try:
                out += d.decompress(buf, _MEMBER_OUTPUT_CAP - len(out))
            except zlib.error:  # a corrupt member: the index pass quarantines it; layout so far stands
                return FileLayout(url, size, Compression.GZIP_PER_RECORD, fmt)
            if d.eof:
                buf = d.unused_data
                break
            buf = d.unconsumed_tail
            if len(out) >= _MEMBER_OUTPUT_CAP:
                break
        if not d.eof and len(out) >= _MEMBER_OUTPUT_CAP:
            break  # one huge member: cannot tell more without decoding it all; per-record so far
        if member_index == 0:
            fmt = _record_format(bytes(out[:64]))
            if fmt is RecordFormat.UNKNOWN:
                return FileLayout(url, size, Compression.GZIP_PER_RECORD, fmt)
        # Only a second "WARC/1." in the member can mean a second record; FastWARC confirms it. ARC.gz
        # writers put one record per member, but `gzip x.arc` puts them all in one.
        if fmt is RecordFormat.ARC:
            several = _arc_holds_more_than_one(bytes(out))
        else:
            several = out.find(b"WARC/1.", 5) >= 0 and _count_warc_records(bytes(out)) > 1
        if several:
            return FileLayout(url, size, Compression.GZIP_WHOLE_FILE, fmt)
        if not d.eof or not (buf or (buf := fh.read(_READ_BLOCK))):
            break
        if not buf.startswith(GZIP_MAGIC):
            break
    return FileLayout(url, size, Compression.GZIP_PER_RECORD, fmt)


def is_indexable_in_place(url: str, storage_options: dict[str, Any] | None = None) -> bool:
    """True if ``url`` is uncompressed or gzip-per-record (offsets usable for ranged reads), False if it
    must be repacked (whole-file gzip, or not a WARC/ARC file at all)."""
    return probe_layout(url, storage_options).indexable_in_place
