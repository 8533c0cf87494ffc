"""One record of a WARC/ARC source file, read from its byte range the way the catalog reads it back.

Indexing in place is only correct if ``VolumeReader.read`` — one ranged read of ``[offset, offset+length)``,
:func:`catalog.warc_records.parse_record` (which decompresses only the *first* gzip member) and the
payload digest check — succeeds later. This module decides that per record:

- :func:`fast_digest` proves from a few header bytes that the payload a parser already read is exactly
  the payload ``parse_record`` will find in the range (same block, same payload start, whole record in
  the first gzip member), and returns its digest; else None. Cheap: it decompresses only the headers.
- :func:`exact_digest` runs the catalog's own parse on the range (the slow, always-correct path).
- :func:`read_warc_record` turns a range into a :class:`~catalog.warc_records.WarcRecord` to repack:
  every gzip member in the range is decompressed (records split over several members, which
  ``parse_record`` cannot serve in place, are read whole), and ARC records are converted with warcio.

Errors: :class:`RecordUnreadable` (an :class:`~ingest.errors.IngestError`) with the reason; callers
quarantine the record with its file and offset.
"""
from __future__ import annotations

import io
import struct
import zlib

from catalog.errors import CorruptRecordError
from catalog.record_body import holds_http_message
from catalog.warc_layout import SourceFile
from catalog.warc_messages import caught
from catalog.warc_raw_uri import target_uri_from_head
from catalog.warc_records import ParsedRecord, WarcRecord, parse_record, payload_digest, warc_date
from ingest.errors import IngestError

_HEAD_READ = 8192  # compressed bytes read to find a record's WARC and HTTP headers
_HEAD_OUT = 32768  # decompressed bytes looked at for them
_HEAD_STEP = 1024  # compressed bytes inflated at a time while looking for them
_MAX_RECORD = 1 << 31  # a record larger than this is not decompressed into memory for repacking


class RecordUnreadable(IngestError):
    """The bytes of a record's range do not form a record the catalog can store; the message says why."""


_WANTED = frozenset({"content-length", "warc-type", "content-type"})


def _first_headers(data: bytes, end: int) -> dict[str, str]:
    """Lower-cased name -> value of the first ``Content-Length``, ``WARC-Type`` and ``Content-Type``
    header in ``data[:end]``, split, decoded and stripped as :func:`parse_record` does and looked up
    as ``ParsedRecord.header`` does (UTF-8 never encodes ``:`` or CRLF inside another character, so
    splitting the bytes first gives the same lines)."""
    headers: dict[str, str] = {}
    for line in data[:end].split(b"\r\n")[1:]:
        colon = line.find(b":")
        if colon < 0:
            continue
        name = line[:colon].decode("utf-8", "replace").strip().lower()
        if name in _WANTED and name not in headers:
            headers[name] = line[colon + 1:].decode("utf-8", "replace").strip()
    return headers


def _head_of_member(chunk: bytes) -> bytes | None:
    """The first decompressed bytes of the gzip member starting ``chunk``: fed in small steps until
    they hold the WARC header and an HTTP header block (two blank lines), so that typically only a few
    hundred bytes are inflated. None if the member does not decompress."""
    d = zlib.decompressobj(31)
    out = b""
    try:
        for start in range(0, len(chunk), _HEAD_STEP):
            out += d.decompress(chunk[start:start + _HEAD_STEP], _HEAD_OUT - len(out))
            first = out.find(b"\r\n\r\n")
            if d.eof or len(out) >= _HEAD_OUT or (first >= 0 and out.find(b"\r\n\r\n", first + 4) >= 0):
                break
    except zlib.error:
        return None
    return out


def fast_digest(src: SourceFile, offset: int, length: int, gzipped: bool, payload: bytes) -> int | None:
    """``payload_digest(payload)`` if ``payload`` (as a parser read it) is provably the payload
    ``parse_record`` finds in ``[offset, offset+length)`` of ``src``; None when that cannot be shown
    cheaply (use :func:`exact_digest`).

    Both payloads are suffixes of the record's block, so they are equal when their lengths are; the
    catalog's payload start comes from the headers, and the gzip trailer (ISIZE) of the range's last
    member shows the first member holds the whole record (``parse_record`` reads only that one).
    """
    chunk = src.read(offset, offset + min(length, _HEAD_READ))
    if gzipped:
        if length < 18:
            return None
        (isize,) = struct.unpack("<I", src.read(offset + length - 4, offset + length))
        head = _head_of_member(chunk)
        if head is None:
            return None
        available = isize
    else:
        head, available = chunk, length
    end = head.find(b"\r\n\r\n")
    if end < 0 or not head.startswith(b"WARC/"):
        return None
    headers = _first_headers(head, end)
    try:
        content_length = int(headers.get("content-length", "-1") or -1)
    except ValueError:
        return None
    block_start = end + 4
    if content_length < 0 or block_start + content_length > available:
        return None
    payload_offset = 0
    if (headers.get("warc-type") or "").lower() == "response" and \
            (headers.get("content-type") or "").startswith("application/http"):
        http_end = head.find(b"\r\n\r\n", block_start, block_start + content_length)
        if http_end < 0:
            return None  # headers beyond what was decompressed, or "\n\n" line ends: decide exactly
        payload_offset = http_end + 4 - block_start
    if len(payload) != content_length - payload_offset:
        return None
    return payload_digest(payload)


def http_head(src: SourceFile, offset: int, length: int, gzipped: bool) -> tuple[int | None, str | None]:
    """(HTTP status, HTTP Content-Type) of the response record in the range, from its first bytes."""
    from catalog.cdxj import http_fields

    chunk = src.read(offset, offset + min(length, _HEAD_READ))
    head = _head_of_member(chunk) if gzipped else chunk
    if not head:
        return None, None
    end = head.find(b"\r\n\r\n")
    return http_fields(head[end + 4:]) if end >= 0 else (None, None)


def exact_digest(src: SourceFile, offset: int, length: int) -> int:
    """The digest ``VolumeReader.read`` checks for the range: :func:`parse_record` on exactly its bytes.

    Raises :class:`RecordUnreadable` with the catalog's reason when those bytes cannot be served alone.
    """
    try:
        return payload_digest(parse_record(src.read(offset, offset + length), source=src.url, offset=offset).payload)
    except CorruptRecordError as exc:
        raise RecordUnreadable(str(exc)) from exc


def _all_members(raw: bytes, where: str) -> bytes:
    """Every gzip member in ``raw`` decompressed and joined (``raw`` itself if it is not gzip)."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    out = bytearray()
    data = raw
    while data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(31)
        try:
            out += d.decompress(data, _MAX_RECORD - len(out))
        except zlib.error as exc:
            raise RecordUnreadable(f"{where}: gzip member does not decompress ({exc})") from exc
        if not d.eof:
            raise RecordUnreadable(f"{where}: gzip member ends early or exceeds {_MAX_RECORD} bytes")
        data = d.unused_data
    return bytes(out)


def clean_target_uri(uri: str | None) -> str | None:
    """The target URI without surrounding whitespace and the ``<...>`` some writers (wget) add."""
    if uri is None:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri or None


ORIGIN_FILE = "Haybale-Source-File"
ORIGIN_OFFSET = "Haybale-Source-Offset"
ORIGIN_DECOMPRESSED = "Haybale-Source-Offset-Decompressed"


def origin_headers(file: str, offset: int, decompressed: bool = False) -> list[tuple[str, str]]:
    """The headers a repacked record gets after its own: the source file's URL and the record's byte
    offset in it (for a whole-file gzip: in the decompressed stream, marked by a third header)."""
    headers = [(ORIGIN_FILE, file), (ORIGIN_OFFSET, str(offset))]
    if decompressed:
        headers.append((ORIGIN_DECOMPRESSED, "true"))
    return headers


def read_warc_record(src: SourceFile, offset: int, length: int, origin: list[tuple[str, str]] | None = None
                     ) -> WarcRecord:
    """The WARC record in ``[offset, offset+length)`` as a faithful copy to write into a volume: every
    header as stored (record id, dates, digests, ``WARC-Warcinfo-ID``, ``WARC-Concurrent-To``, ...), its
    version line and block unchanged, then the ``origin`` headers (:func:`origin_headers`). Raises
    :class:`RecordUnreadable`."""
    where = f"{src.url} at offset {offset}"
    data = _all_members(src.read(offset, offset + length), where).lstrip(b"\r\n")
    try:
        parsed = parse_record(data, source=src.url, offset=offset)
    except CorruptRecordError as exc:
        raise RecordUnreadable(str(exc)) from exc
    uri = clean_target_uri(parsed.header("WARC-Target-URI")) or ""
    ctype = parsed.header("Content-Type") or "application/octet-stream"
    return WarcRecord((parsed.header("WARC-Type") or "resource").lower(), uri, parsed.block, ctype,
                      parsed.payload_offset, parsed.header("WARC-Date") or warc_date(), list(origin or []),
                      original_headers=parsed.headers, version=parsed.version or "WARC/1.0",
                      original_head=parsed.head)


def read_arc_record(src: SourceFile, offset: int, length: int, origin: list[tuple[str, str]] | None = None
                    ) -> WarcRecord:
    """The ARC record in ``[offset, offset+length)`` as a WARC record: ``response`` if its content is
    an HTTP message, else ``resource``; the ``origin`` headers name where it came from. Raises
    :class:`RecordUnreadable`."""
    from warcio.archiveiterator import ArchiveIterator

    where = f"{src.url} at offset {offset}"
    data = _all_members(src.read(offset, offset + length), where)
    # warcio's warnings on these bytes were caught and reported when the reader read them
    # (SourceRecord.notes): here they are caught again, not printed
    try:
        with caught([]):
            records = ArchiveIterator(io.BytesIO(data), arc2warc=True, no_record_parse=True)
            rec = next(iter(records))
            declared = rec.rec_headers.get_header("Content-Length") or ""
            if not declared.isdigit():
                raise RecordUnreadable(f"ARC header length field {declared!r} is not a number")
            block = rec.raw_stream.read()
    except RecordUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - warcio raises many types for bad ARC bytes
        raise RecordUnreadable(f"warcio cannot read the ARC record ({type(exc).__name__}: {exc})") from exc
    uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
    if not uri.isascii():  # warcio decoded a line that is not UTF-8 as Latin-1: keep its bytes as the key does
        uri = target_uri_from_head(data, True) or uri
    uri = clean_target_uri(uri) or ""
    date = rec.rec_headers.get_header("WARC-Date") or warc_date()
    extra = [("WARC-IP-Address", ip)] if (ip := rec.rec_headers.get_header("WARC-IP-Address")) else []
    extra += origin or []
    if block.startswith(b"HTTP/") or holds_http_message("response", uri):
        # an http(s) capture is an HTTP message, as every reader (warcio, catalog.record_body) takes it
        ctype = "application/http; msgtype=response"
        probe = ParsedRecord([("WARC-Type", "response"), ("Content-Type", ctype)], block)
        return WarcRecord("response", uri, block, ctype, probe.payload_offset, date, extra)
    return WarcRecord("resource", uri, block, "application/octet-stream", 0, date, extra)
