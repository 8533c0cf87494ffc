"""Finding where a damaged WARC file can be read again, and whether its last record is whole.

All functions read bounded amounts: one record, or blocks of ``_SCAN_BLOCK`` bytes while scanning.
"""
from __future__ import annotations

import zlib

from catalog.warc_layout import SourceFile

_SCAN_BLOCK = 1 << 20
_GZIP_MEMBER_START = b"\x1f\x8b\x08"


def _starts_record(head: bytes) -> bool:
    return head.lstrip(b"\r\n").startswith(b"WARC/")


def _member_head(data: bytes) -> bytes | None:
    """First decompressed bytes of a gzip member starting at ``data[0]``, or None if it is not one."""
    d = zlib.decompressobj(31)
    try:
        return d.decompress(data, 64)
    except zlib.error:
        return None


def record_end(src: SourceFile, offset: int, gzipped: bool, content_length: int) -> int | None:
    """End offset of the record at ``offset``: its gzip member's end, or header + Content-Length + CRLFCRLF
    for an uncompressed record. None if that cannot be told (corrupt member, no header end)."""
    size = src.size
    if gzipped:
        d = zlib.decompressobj(31)
        pos = offset
        while pos < size:
            data = src.read(pos, min(size, pos + _SCAN_BLOCK))
            try:
                while data and not d.eof:
                    d.decompress(data, _SCAN_BLOCK)
                    data = d.unconsumed_tail
            except zlib.error:
                return None
            if d.eof:
                return pos + (min(size, pos + _SCAN_BLOCK) - pos) - len(d.unused_data)
            pos += _SCAN_BLOCK
        return None
    head = src.read(offset, min(size, offset + 65536))
    header_end = head.find(b"\r\n\r\n")
    if header_end < 0:
        return None
    return min(size, offset + header_end + 4 + content_length + 4)


def next_record_start(src: SourceFile, start: int, gzipped: bool) -> int | None:
    """Offset of the first record start at or after ``start``: a gzip member that decompresses to
    ``WARC/...``, or a line beginning with ``WARC/1.`` in an uncompressed file. None if there is none."""
    size = src.size
    pos = start
    needle = _GZIP_MEMBER_START if gzipped else b"WARC/1."
    while pos < size:
        block = src.read(pos, min(size, pos + _SCAN_BLOCK + 64))
        i = block.find(needle)
        while 0 <= i < _SCAN_BLOCK:
            at = pos + i
            if gzipped:
                head = _member_head(src.read(at, min(size, at + 65536)))
                if head is not None and _starts_record(head):
                    return at
            elif at == 0 or block[i - 1:i] == b"\n" or (i == 0 and src.read(at - 1, at) == b"\n"):
                return at
            i = block.find(needle, i + 1)
        pos += _SCAN_BLOCK
    return None


def starts_member(src: SourceFile, offset: int) -> bool:
    """True if a gzip member starts at ``offset`` (its magic bytes and deflate method are there)."""
    return src.read(offset, offset + 3) == _GZIP_MEMBER_START


def is_blank(src: SourceFile, start: int, stop: int) -> bool:
    """True if ``[start, stop)`` holds only line ends, blanks and zero bytes (padding some writers leave)."""
    pos = start
    while pos < stop:
        block = src.read(pos, min(stop, pos + _SCAN_BLOCK))
        if not block or block.strip(_BLANK):
            return bool(not block)
        pos += len(block)
    return True


_BLANK = b"\r\n \t\x00"


def truncation_problem(src: SourceFile, offset: int, length: int, content_length: int) -> str | None:
    """Why the record at ``[offset, offset+length)`` is cut short, or None if it is whole.

    Parsers hand out a record whose file ends early (an interrupted download or copy) as if it were
    complete; the last record of a file is where that happens, so callers check only it: its gzip
    member(s) must end properly and its block must hold ``Content-Length`` bytes after the header.
    """
    stop = offset + length
    data = src.read(offset, min(stop, offset + _SCAN_BLOCK))
    if data.startswith(b"\x1f\x8b"):
        # streamed: a block read at a time, only the head (for the header end) and a count kept, so a
        # range of gigabytes (where a parser stopped early) is checked in bounded memory
        pos = offset + len(data)
        head = bytearray()
        total = 0
        d = zlib.decompressobj(31)
        in_member = False  # has ``d`` been fed bytes of a member it has not finished?
        while True:
            try:
                while data:
                    in_member = True
                    out = d.decompress(data, _SCAN_BLOCK)
                    total += len(out)
                    if len(head) < 65536:
                        head += out[:65536 - len(head)]
                    data = d.unconsumed_tail
                    if d.eof:
                        data, d, in_member = d.unused_data, zlib.decompressobj(31), False
            except zlib.error as exc:
                return f"last record's gzip member is corrupt ({exc}): file damaged"
            data = src.read(pos, min(stop, pos + _SCAN_BLOCK))
            pos += len(data)
            if not data:
                break
        if in_member:
            return f"last record's gzip member ends early after {total} bytes: file truncated"
        header_end = bytes(head).find(b"\r\n\r\n")
        block = total - header_end - 4 if header_end >= 0 else -1
    else:  # the header is in the first block; the block runs to the end of the range (clipped to the file)
        header_end = data.find(b"\r\n\r\n")
        block = min(stop, src.size) - offset - header_end - 4 if header_end >= 0 else -1
    if block < content_length:
        return f"last record holds {max(block, 0)} of its {content_length} Content-Length bytes: file truncated"
    return None


def _member_end(src: SourceFile, pos: int, stop: int) -> tuple[int, int, bytes, bool] | None:
    """Inflate the gzip member at ``pos`` (not past ``stop``) a block at a time: (its end offset, its
    decompressed size, its first 64 KiB decompressed, whether every byte of it is blank), or None if
    no whole member starts there."""
    d = zlib.decompressobj(31)
    head = bytearray()
    total, blank, at = 0, True, pos
    while at < stop and not d.eof:
        data = src.read(at, min(stop, at + _SCAN_BLOCK))
        at += len(data)
        try:
            while data and not d.eof:
                out = d.decompress(data, _SCAN_BLOCK)
                total += len(out)
                if len(head) < 65536:
                    head += out[:65536 - len(head)]
                if blank and out.strip(b"\r\n \t"):
                    blank = False
                data = d.unconsumed_tail
        except zlib.error:
            return None
        if d.eof:
            return at - len(d.unused_data) - len(data), total, bytes(head), blank
    return None


def foreign_member(src: SourceFile, start: int, stop: int, content_length: int) -> int | None:
    """Offset of a gzip member in ``[start, stop)`` that is not part of the record at ``start``: one
    after the members holding the record's header and ``Content-Length`` bytes that decompresses to
    anything but line ends and blanks (a gzipped file concatenated between records). None if there is
    none, or if the members cannot be told apart (a corrupt member: the caller's checks report it).

    Cheap for the common range of one member: only its compressed bytes are searched for a second
    member's magic; members are inflated only when one is found."""
    pos, found = start + 1, False
    while pos < stop and not found:
        block = src.read(pos, min(stop, pos + _SCAN_BLOCK + 2))
        found = block.find(_GZIP_MEMBER_START) >= 0
        pos += _SCAN_BLOCK
    if not found:
        return None
    pos, total, need, head = start, 0, None, b""
    while pos < stop:
        member = _member_end(src, pos, stop)
        if member is None:
            return None
        end, size, first, blank = member
        if need is not None and total >= need:
            if not blank:
                return pos
        else:
            total += size
            if len(head) < 65536:
                head += first
            header_end = head.find(b"\r\n\r\n")
            if header_end >= 0:
                need = header_end + 4 + content_length
        pos = end
    return None
