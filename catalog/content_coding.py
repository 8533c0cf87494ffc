"""Content codings (gzip, deflate, br, zstd) undone in bounded memory: the one decoder of haybale.

Every path that turns stored bytes into a body uses this module: the crawler while it downloads
(:class:`CappedDecoder`, strict), and :mod:`catalog.record_body` when it reads archived records
(:func:`decode_body`, lenient), for ``catalog cat``, both dedup inputs and compressed small files.

A :class:`DecodingReader` hands out decoded bytes ``read(n)`` at a time, so the output held at once is
bounded by ``n`` whatever the ratio of the input (a gzip bomb of 1 GiB of zeros is read in pieces, or
refused by the cap, never inflated whole).

Lenient decoding (archives) follows warcio's content stream, the reference reader: a body that fails
to decode at its very first bytes is not in the declared coding (e.g. ``Content-Encoding: gzip`` over
a plain body, as ClueWeb stores it) and is used as stored; one that breaks later keeps what decoded.
Each such case comes back as a warning, which callers count.
"""
from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO, Callable, Iterator, Protocol

import brotli

from catalog.errors import DecodedSizeError

DEFAULT_MAX_DECODED_BYTES = 64 << 20
"""Decoded-size cap of one body when the caller gives none: far above any real page (Common Crawl
truncates bodies at 1 MiB compressed), far below what would endanger a worker's memory."""

READ_CHUNK = 1 << 20


class ContentDecodingError(ValueError):
    """The body does not decode with its declared content-coding."""


DECODABLE = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
"""Codings undone here; anything else (``compress``, ``sdch``, ...) is kept as stored."""


def content_codings(header: str | None) -> list[str]:
    """The codings named by a ``Content-Encoding`` header, in the order they were applied, lower-cased,
    without ``identity``."""
    if not header:
        return []
    return [p.strip().lower() for p in header.split(",") if p.strip() and p.strip().lower() != "identity"]


STREAMED = frozenset({"gzip", "x-gzip", "deflate", "br"})
"""Codings the crawler undoes while downloading (each with a bounded output per chunk)."""


def normalize_encoding(header: str | None) -> str | None:
    """The single content-coding the crawler undoes, ``None`` for identity/absent, or ``""`` for
    something it keeps as is (several codings stacked, or one not in :data:`STREAMED`)."""
    parts = content_codings(header)
    if not parts:
        return None
    if len(parts) == 1 and parts[0] in STREAMED:
        return parts[0]
    return ""


class DecodingReader(Protocol):
    def read(self, size: int) -> bytes:
        """Up to ``size`` decoded bytes; b"" at the end. Raises :class:`ContentDecodingError`."""
        ...

    @property
    def complete(self) -> bool:
        """True once the coded stream ended properly (False for a cut-off stream)."""
        ...


_INPUT_BLOCK = 1 << 16


class _ZlibReader:
    """gzip (every member, as Python's gzip reads them) or deflate (zlib-wrapped, else raw)."""

    def __init__(self, raw: BinaryIO, coding: str) -> None:
        self._wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._raw_fallback = coding == "deflate"  # "deflate" is often sent without the zlib header
        self._d = zlib.decompressobj(self._wbits)
        self._raw = raw
        self._data = b""
        self._started = False
        self._ended = False
        self.complete = False

    def _more(self) -> bool:
        if not self._data and not self._ended:
            self._data = self._raw.read(_INPUT_BLOCK)
            self._ended = not self._data
        return bool(self._data)

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size and self._more():
            try:
                out += self._d.decompress(self._data, size - len(out))
            except zlib.error as exc:
                if self._raw_fallback and not self._started:
                    self._raw_fallback = False
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ContentDecodingError(str(exc)) from exc
            self._started = True
            if self._d.eof:
                self.complete = True
                rest, self._data = self._d.unused_data, b""
                if not rest and self._more():
                    rest = self._data
                # concatenated gzip members continue; anything else after the end is not body
                if self._wbits > zlib.MAX_WBITS and rest[:2] == b"\x1f\x8b":
                    self._d = zlib.decompressobj(self._wbits)
                    self.complete = False
                    self._data = rest
                else:
                    self._data, self._ended = b"", True
            else:
                self._data = self._d.unconsumed_tail
        return bytes(out)


class _StdlibReader:
    """bzip2 or xz (every stream), with the standard library's bounded ``max_length`` output."""

    def __init__(self, raw: BinaryIO, coding: str) -> None:
        import bz2
        import lzma

        self._make: Callable[[], Any] = bz2.BZ2Decompressor if coding == "bzip2" else lzma.LZMADecompressor
        self._errors = (OSError, EOFError, ValueError, lzma.LZMAError)
        self._d = self._make()
        self._raw = raw
        self._data = b""
        self._ended = False
        self.complete = False

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            if self._d.eof:
                self.complete = True
                rest = self._d.unused_data or (b"" if self._ended else self._raw.read(_INPUT_BLOCK))
                if not rest:
                    self._ended = True
                    break
                self._d, self.complete = self._make(), False
                self._data = rest
            needs_input = self._d.needs_input
            if needs_input and not self._data:
                self._data = b"" if self._ended else self._raw.read(_INPUT_BLOCK)
                if not self._data:
                    self._ended = True
                    break
            try:
                out += self._d.decompress(self._data if needs_input else b"", size - len(out))
            except self._errors as exc:
                raise ContentDecodingError(str(exc)) from exc
            if needs_input:
                self._data = b""
        return bytes(out)


class _BrotliReader:
    def __init__(self, raw: BinaryIO) -> None:
        self._d = brotli.Decompressor()
        self._raw = raw
        self._ended = False

    @property
    def complete(self) -> bool:
        return bool(self._d.is_finished())

    def read(self, size: int) -> bytes:
        out = bytearray()
        try:
            while len(out) < size and not self._d.is_finished():
                # drain pending output first: brotli may hold more than one call's limit
                piece = self._d.process(b"", output_buffer_limit=size - len(out))
                if piece:
                    out += piece
                    continue
                data = b"" if self._ended else self._raw.read(_INPUT_BLOCK)
                if not data:
                    self._ended = True
                    break  # all input consumed, no output pending: a cut-off stream
                out += self._d.process(data, output_buffer_limit=size - len(out))
        except brotli.error as exc:
            raise ContentDecodingError(str(exc)) from exc
        return bytes(out)


class _ZstdReader:
    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
        self.complete = False

    def read(self, size: int) -> bytes:
        try:
            out = self._reader.read(size)
        except self._error as exc:
            raise ContentDecodingError(str(exc)) from exc
        if not out and size:
            # zstandard's bounded reader cannot tell a cut-off frame from a whole one (its unbounded
            # decompressobj could): a truncated .zst reads as complete up to the cut
            self.complete = True
        return bytes(out)


FILE_CODINGS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bzip2", ".xz": "xz"}
"""File-name suffix -> coding of compressed files (small files, JSONL)."""


def open_decoding(raw: BinaryIO | bytes, coding: str) -> DecodingReader:
    """A reader of ``raw`` (bytes, or a binary file read from its current position) decoded from
    ``coding``: one of :data:`DECODABLE` or ``bzip2``/``xz``."""
    stream: BinaryIO = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    if coding in ("gzip", "x-gzip", "deflate"):
        return _ZlibReader(stream, coding)
    if coding in ("bzip2", "xz"):
        return _StdlibReader(stream, coding)
    if coding == "br":
        return _BrotliReader(stream)
    if coding == "zstd":
        return _ZstdReader(stream)
    raise ContentDecodingError(f"unsupported content-coding {coding!r}")


def iter_decoded(data: bytes, coding: str, *, source: str, warn: Callable[[str], None],
                 chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """Decoded pieces of ``data`` (at most ``chunk`` bytes each), leniently (see the module docstring):
    ``warn`` is called once for a false or unsupported coding, a stream that breaks or ends early."""
    if coding not in DECODABLE and coding not in FILE_CODINGS.values():
        warn(f"unsupported Content-Encoding {coding!r}: body used as stored")
        yield data
        return
    reader = open_decoding(data, coding)
    produced = 0
    while True:
        try:
            piece = reader.read(chunk)
        except ContentDecodingError as exc:
            if produced == 0:
                warn(f"declares Content-Encoding {coding!r} but is not {coding} ({exc}): body used as stored")
                yield data
            else:
                warn(f"Content-Encoding {coding!r} breaks after {produced} decoded bytes ({exc}): the rest "
                     "of the body is dropped")
            return
        if not piece:
            break
        produced += len(piece)
        yield piece
    if not reader.complete:
        if produced == 0 and data:
            warn(f"declares Content-Encoding {coding!r} but holds no complete {coding} data: body used as stored")
            yield data
            return
        warn(f"{coding} body ends early (cut off when archived?): {produced} decoded bytes kept")


def decode_body(data: bytes, codings: list[str], *, max_decoded: int, source: str,
                warn: Callable[[str], None]) -> bytes:
    """``data`` with ``codings`` (as applied, outermost last) undone, at most ``max_decoded`` bytes.

    Raises :class:`~catalog.errors.DecodedSizeError` naming ``source`` when the decoded body would
    exceed ``max_decoded``: a cap is an error, never a silent truncation. Memory: the input plus at
    most ``max_decoded`` + one chunk.
    """
    for coding in reversed(codings):
        out = bytearray()
        for piece in iter_decoded(data, coding, source=source, warn=warn,
                                  chunk=min(READ_CHUNK, max_decoded + 1)):
            out += piece
            if len(out) > max_decoded:
                raise DecodedSizeError(source, max_decoded, f"Content-Encoding {coding}")
        data = bytes(out)
    return data


class CappedDecoder:
    """The crawler's incremental decoder (gzip, deflate, br): fed raw body chunks as they arrive, keeps at most
    ``max_output`` decoded bytes (``capped`` turns True once more would come; further input is
    ignored). Strict: raises :class:`ContentDecodingError` from :meth:`feed` for data that is not in
    the coding — a live server that lies is an error worth retrying, unlike an archive.
    ``encoding`` None passes bytes through.
    """

    def __init__(self, encoding: str | None, max_output: int) -> None:
        self.encoding = encoding
        self.max_output = max_output
        self.capped = False
        self._parts: list[bytes] = []
        self._size = 0
        self._zlib: zlib._Decompress | None = None
        self._brotli: brotli.Decompressor | None = None
        self._wbits = 0
        self._raw_fallback = False
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
            self._raw_fallback = encoding == "deflate"
            self._zlib = zlib.decompressobj(self._wbits)
        elif encoding == "br":
            self._brotli = brotli.Decompressor()

    def _zlib_feed(self, data: bytes, limit: int) -> bytes:
        out = bytearray()
        while data and len(out) < limit:
            assert self._zlib is not None
            try:
                out += self._zlib.decompress(data, limit - len(out))
            except zlib.error as exc:
                if self._raw_fallback and not out and not self._size:
                    self._raw_fallback = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ContentDecodingError(str(exc)) from exc
            self._raw_fallback = False
            if self._zlib.eof:  # concatenated gzip members: start the next one
                data = self._zlib.unused_data
                if data:
                    self._zlib = zlib.decompressobj(self._wbits)
            else:
                data = self._zlib.unconsumed_tail
        if data and len(out) >= limit:
            out += b"\0"  # "more output pending", without decoding it
        return bytes(out)

    def feed(self, chunk: bytes) -> None:
        if self.capped or not chunk:
            return
        room = self.max_output - self._size
        if self._zlib is not None:
            out = self._zlib_feed(chunk, room)
        elif self._brotli is not None:
            try:
                out = self._brotli.process(chunk, output_buffer_limit=room + 1)
            except brotli.error as exc:
                raise ContentDecodingError(str(exc)) from exc
        else:
            out = chunk
        if len(out) > room:
            out = out[:room]
            self.capped = True
        self._parts.append(out)
        self._size += len(out)

    @property
    def size(self) -> int:
        return self._size

    def result(self) -> bytes:
        return b"".join(self._parts)


def decompress_file_strict(data: bytes, coding: str, *, max_decoded: int, source: str) -> bytes:
    """A whole compressed file (``gzip``, ``zstd``, ``bzip2``, ``xz``) decompressed, strictly: raises
    :class:`ContentDecodingError` for corrupt data, ``EOFError`` for a cut-off stream and
    :class:`~catalog.errors.DecodedSizeError` past ``max_decoded`` bytes (memory stays bounded)."""
    reader = open_decoding(data, coding)
    out = bytearray()
    while piece := reader.read(min(READ_CHUNK, max_decoded + 1)):
        out += piece
        if len(out) > max_decoded:
            raise DecodedSizeError(source, max_decoded, f"{coding} compression")
    if not reader.complete:
        raise EOFError(f"{source}: {coding} data ends early after {len(out):,} bytes (file truncated)")
    return bytes(out)
