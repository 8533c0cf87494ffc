"""Content-encoding decoding with a hard cap on decoded bytes (gzip bombs end bounded in memory).

:class:`CappedDecoder` is fed raw body chunks and keeps at most ``max_output`` decoded bytes; once the cap
is reached ``capped`` turns True and further input is ignored. Memory stays O(max_output + chunk):
zlib output is requested with ``max_length`` and brotli with ``output_buffer_limit``.
"""
from __future__ import annotations

import zlib
from typing import Protocol

import brotli


class ContentDecodingError(ValueError):
    """The body does not decode with its declared content-encoding."""


DECODABLE = frozenset({"gzip", "x-gzip", "deflate", "br"})


def normalize_encoding(header: str | None) -> str | None:
    """The single content-coding to undo, ``None`` for identity/absent, or ``""`` for something we keep
    as is (several codings stacked, or an unknown coding such as zstd)."""
    if not header:
        return None
    parts = [p.strip().lower() for p in header.split(",") if p.strip() and p.strip().lower() != "identity"]
    if not parts:
        return None
    if len(parts) == 1 and parts[0] in DECODABLE:
        return parts[0]
    return ""


class _Codec(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...


class _ZlibCodec:
    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._d = zlib.decompressobj(wbits)
        self._raw_fallback = wbits == zlib.MAX_WBITS  # "deflate" is sometimes sent without the zlib header

    def feed(self, data: bytes, limit: int) -> bytes:
        out = bytearray()
        while data and len(out) < limit:
            try:
                out += self._d.decompress(data, limit - len(out))
            except zlib.error as exc:
                if self._raw_fallback and not out:
                    self._raw_fallback = False
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ContentDecodingError(str(exc)) from exc
            self._raw_fallback = False
            if self._d.eof:  # concatenated gzip members: start the next one
                data = self._d.unused_data
                if data:
                    self._d = zlib.decompressobj(self._wbits)
            else:
                data = self._d.unconsumed_tail
        if data and len(out) >= limit:
            out += b"\0"  # signals "more output pending" to the caller without decoding it
        return bytes(out)


class _BrotliCodec:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._d.process(data, output_buffer_limit=limit + 1)
        except brotli.error as exc:
            raise ContentDecodingError(str(exc)) from exc
        return out


class CappedDecoder:
    """Decodes one content-coding (``gzip``/``x-gzip``/``deflate``/``br``) or passes bytes through (None).

    Raises :class:`ContentDecodingError` from :meth:`feed` when the data is not valid for the coding.
    """

    def __init__(self, encoding: str | None, max_output: int) -> None:
        self.encoding = encoding
        self.max_output = max_output
        self.capped = False
        self._parts: list[bytes] = []
        self._size = 0
        self._codec: _Codec | None
        if encoding in ("gzip", "x-gzip"):
            self._codec = _ZlibCodec(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._codec = _ZlibCodec(zlib.MAX_WBITS)
        elif encoding == "br":
            self._codec = _BrotliCodec()
        else:
            self._codec = None

    def feed(self, chunk: bytes) -> None:
        if self.capped or not chunk:
            return
        room = self.max_output - self._size
        out = self._codec.feed(chunk, room) if self._codec is not None else chunk
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
