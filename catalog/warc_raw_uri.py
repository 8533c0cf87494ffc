"""The target URI of a record read again from its bytes, for parsers that decode header bytes as Latin-1.

warcio (the parser of ARC files and the last resort for WARC) decodes a header line that is not UTF-8
as Latin-1, so a Latin-1 ``é`` came out as the character ``é`` and its key as ``caf%C3%A9``; FastWARC's
path keeps the byte (``caf%E9``, :func:`catalog.keys.uri_text`). The value alone cannot say which
decoding was used (``café`` is also what the UTF-8 bytes ``caf\\xc3\\xa9`` decode to), so for a URI with
characters outside ASCII the header is read again from the file and decoded as the FastWARC path
decodes it: the same URL gets the same key whichever parser read it.
"""
from __future__ import annotations

import zlib

from catalog.keys import uri_text
from catalog.warc_layout import SourceFile

_HEAD = 65536  # bytes of a record's start looked at for its header


def _record_head(src: SourceFile, pos: int, gzipped: bool) -> bytes:
    if not gzipped:
        return src.read(pos, pos + _HEAD)
    d = zlib.decompressobj(31)
    try:
        return d.decompress(src.read(pos, pos + _HEAD), _HEAD)
    except zlib.error:
        return b""


def target_uri_from_head(head: bytes, arc: bool) -> str | None:
    """The target URI in ``head`` (the first bytes of one uncompressed WARC or ARC record) as the
    FastWARC path gives it — UTF-8, each byte that is not UTF-8 percent-escaped — if its bytes are not
    UTF-8; None when they are (a parser's decoded value is then right) or there is no such header."""
    head = head.lstrip(b"\r\n")
    raw = None
    if arc:  # "URL IP-address Archive-date Content-type Archive-length" (the URL may hold spaces)
        parts = head.split(b"\n", 1)[0].rstrip(b"\r").rsplit(b" ", 4)
        raw = parts[0] if len(parts) == 5 else None
    else:
        end = head.find(b"\r\n\r\n")
        for line in head[:end if end >= 0 else len(head)].split(b"\r\n")[1:]:
            name, sep, value = line.partition(b":")
            if sep and name.strip().lower() == b"warc-target-uri":
                raw = value.strip()
                break
    if raw is None:
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return uri_text(raw)
    return None


def raw_target_uri(src: SourceFile, pos: int, gzipped: bool, arc: bool) -> str | None:
    """:func:`target_uri_from_head` of the record at ``pos`` of ``src`` (an uncompressed or
    gzip-per-record file)."""
    return target_uri_from_head(_record_head(src, pos, gzipped), arc)
