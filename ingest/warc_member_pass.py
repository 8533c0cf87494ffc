"""The fastest in-place index pass: a gzip-per-record WARC read member by member, each record parsed
exactly as the catalog will read it back.

For a file that is a plain sequence of gzip members, each holding exactly one whole WARC record (what
Common Crawl and every well-behaved writer produce), a record's catalog range is its member, and the
digest ``VolumeReader.read`` checks later is :func:`catalog.warc_records.parse_record` of that member's
decompressed bytes (the first member of the range: here the only one). This pass decompresses each
member once with zlib and reads it the way ``parse_record`` does (restricted to records where no
reading could differ; tested against ``parse_record``) — so the digest is the one the catalog checks,
with no second read of the range and no re-inflating of headers (what ``fast_digest`` does after
FastWARC) — and builds the same plan the FastWARC passes build (keys, locations, CDXJ lines, WARC-Dates,
skipped types, records without a usable key quarantined).

It gives up — returns None, and the caller runs the FastWARC pass and, if need be, the strict one —
on the first thing that is not that simple shape: bytes that are not a gzip member (junk, zero padding,
a truncated or corrupt member), a member that decompresses to more than ``MAX_MEMBER_BYTES``, to
something other than one ``WARC/1.0``/``WARC/1.1`` record followed by exactly its ``CRLF CRLF``
(several records in a member, trailing bytes), or WARC headers a strict parser might read otherwise
(a continuation line, a lone CR or LF, bytes that are not UTF-8). So on every file where it
answers, it answers what the other passes answer; damaged files never reach its output.
"""
from __future__ import annotations

import zlib
from typing import Any, Callable

from catalog.cdxj import _json_str, external_cdxj_lines, http_fields
from catalog.warc_layout import SourceFile
from catalog.warc_records import KEYED_RECORD_TYPES, payload_digest

MAX_MEMBER_BYTES = 64 << 20  # decompressed bytes of one member beyond which the pass gives up
_READ = 8 << 20  # compressed bytes read from the file at a time
_FEED = 4096  # compressed bytes fed to the decompressor first (small records: little copying of the rest)
_VERSIONS = (b"WARC/1.0\r\n", b"WARC/1.1\r\n")

# (offset, length, record) -> None
RecordSink = Callable[[int, int, "MemberRecord"], None]


class _GiveUp(Exception):
    """The file is not a plain sequence of one-record gzip members: let the general passes read it."""


def _inflate(buf: memoryview, at: int) -> tuple[bytes, int] | None:
    """(decompressed bytes, compressed length) of the whole gzip member at ``buf[at:]``, or None if
    the member does not end inside ``buf``. Raises :class:`_GiveUp` if it is not a sound member."""
    if buf[at:at + 2] != b"\x1f\x8b":
        raise _GiveUp("not a gzip member")
    d = zlib.decompressobj(31)
    out = []
    produced = 0
    fed = at
    step = _FEED
    try:
        while fed < len(buf):
            piece = buf[fed:fed + step]
            fed += len(piece)
            chunk = d.decompress(piece, MAX_MEMBER_BYTES + 1 - produced)
            produced += len(chunk)
            out.append(chunk)
            if d.unconsumed_tail or produced > MAX_MEMBER_BYTES:
                raise _GiveUp("member too large to read at once")
            if d.eof:
                return b"".join(out), fed - len(d.unused_data) - at
            step = 1 << 20
    except zlib.error as exc:
        raise _GiveUp(f"member does not decompress: {exc}") from exc
    return None


class MemberRecord:
    """One record of a member, read as :func:`catalog.warc_records.parse_record` reads it:
    ``fields`` the first value of each WARC header (names lower-cased, values stripped, as
    ``ParsedRecord.header`` finds them), ``block`` its content block, ``payload_offset`` where the
    payload starts in it (``ParsedRecord.payload_offset``)."""

    __slots__ = ("fields", "block", "payload_offset")

    def __init__(self, fields: dict[str, str], block: bytes, payload_offset: int) -> None:
        self.fields, self.block, self.payload_offset = fields, block, payload_offset


def _all_fields(raw: bytes) -> dict[str, str]:
    """Every header: names and values split at the first colon and stripped, names lower-cased, the
    first of repeated names wins (``ParsedRecord.header``)."""
    try:
        head = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _GiveUp("WARC headers are not UTF-8") from exc
    fields: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            continue  # parse_record skips a line without a colon
        name = name.strip().lower()
        if name not in fields:
            fields[name] = value.strip()
    return fields


def _check_record(data: bytes) -> MemberRecord:
    """The record ``data`` holds, if it is exactly one simple record (else :class:`_GiveUp`).

    The same reading as ``parse_record`` (headers split at the first CRLF CRLF, lines at CRLF, names
    and values at the first colon and stripped, the first of repeated names wins, the block is
    Content-Length bytes after the headers), restricted to headers without anything a strict parser
    could read otherwise; ``tests/ingest/test_warc_member_pass.py`` checks it against ``parse_record``."""
    if not data.startswith(_VERSIONS):
        raise _GiveUp("no WARC/1.0 or WARC/1.1 version line")
    end = data.find(b"\r\n\r\n")
    raw = data[10:end]
    crlf = raw.count(b"\r\n")
    # no lone CR or LF, no continuation line: each header is one CRLF-ended line, read alike by all
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf or b"\n " in raw or b"\n\t" in raw or \
            raw[:1] in (b" ", b"\t"):
        raise _GiveUp("a WARC header line a strict parser may read otherwise")
    fields = _all_fields(raw)
    length = fields.get("content-length", "")
    if not length.isdigit() or not length.isascii():
        raise _GiveUp("Content-Length is not a number")
    start = end + 4
    stop = start + int(length)
    if len(data) != stop + 4 or not data.endswith(b"\r\n\r\n"):
        raise _GiveUp("not exactly one record and its CRLF CRLF")
    block = data[start:stop]
    payload_offset = 0
    if fields.get("warc-type", "").lower() == "response" and fields.get("content-type", "").startswith(
            "application/http"):
        http_end = block.find(b"\r\n\r\n")
        if http_end < 0:
            raise _GiveUp("HTTP headers without CRLF CRLF")
        payload_offset = http_end + 4
    return MemberRecord(fields, block, payload_offset)


def http_status_and_type(record: MemberRecord) -> tuple[int | None, str | None]:
    """(status, Content-Type) of a response's HTTP head, as :func:`catalog.cdxj.http_fields` reads it:
    directly for a head of CRLF-ended lines without continuations, else through ``http_fields``."""
    head = record.block[:record.payload_offset - 4] if record.payload_offset else b""
    if not head or b"\r\r" in head or head.count(b"\n") != head.count(b"\r\n") or b"\n " in head \
            or b"\n\t" in head:
        return http_fields(record.block[:65536])
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].strip().split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else None
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "content-type":
            return status, value.strip()
    return status, None


def each_record(src: SourceFile, sink: RecordSink) -> bool:
    """Call ``sink(offset, length, record)`` for every record of ``src`` in order; False (having
    called it for a prefix only: the caller discards what it collected) if the file is not a plain
    sequence of one-record gzip members."""
    try:
        with src.open() as fh:
            pending = b""
            base = 0  # file offset of pending[0]
            while True:
                block = fh.read(_READ)
                buf = memoryview(pending + block if pending else block)
                at = 0
                while at < len(buf):
                    member = _inflate(buf, at)
                    if member is None:
                        if not block:
                            raise _GiveUp("last member is truncated")
                        break
                    data, length = member
                    sink(base + at, length, _check_record(data))
                    at += length
                pending = bytes(buf[at:])
                base += at
                if not block:
                    return not pending
    except _GiveUp:
        return False


def member_inflate_available() -> bool:
    """True if members can be inflated by the compiled loop here (imported on first use: the driver,
    which never indexes, does not load numba)."""
    from ingest.warc_member_inflate import available

    return available()


def _python_add(plan: Any, url: str, record_key: Callable[[str | None], str], unreadable: type[Exception],
                offset: int, length: int, record: MemberRecord, rows: list[Any] | None) -> None:
    """Add one record, read in Python, to ``plan`` as the FastWARC pass would: counted, skipped by type,
    quarantined without a usable key, or keyed (its CDXJ fields appended to ``rows``; with ``rows``
    None its line is written into ``plan.lines`` at once)."""
    fields = record.fields
    counts = plan.counts
    counts.records += 1
    kind = (fields.get("warc-type") or "").lower()
    if kind not in KEYED_RECORD_TYPES:
        kind = kind or "unknown"
        counts.skipped[kind] = counts.skipped.get(kind, 0) + 1
        return
    try:
        key = record_key(fields.get("warc-target-uri"))
    except unreadable as exc:
        plan.quarantine.append((offset, str(exc), True))
        return
    digest = payload_digest(memoryview(record.block)[record.payload_offset:])  # type: ignore[arg-type]
    plan.records.append((key, offset, length, digest))
    date = fields.get("warc-date")
    plan.dates.append(date or "")
    status, mime = http_status_and_type(record) if kind == "response" else (None, fields.get("content-type"))
    row = (key, kind, mime, date, offset, length, digest, status, fields.get("warc-payload-digest"))
    if rows is None:
        plan.lines += external_cdxj_lines(url, [row])
    else:
        rows.append(row)


def plan_members(src: SourceFile, plan: Any, record_key: Callable[[str | None], str],
                 unreadable: type[Exception]) -> bool:
    """Fill ``plan`` (an ``_InPlacePlan`` of :mod:`ingest.warc_indexing`, still empty) for ``src``
    as the FastWARC pass would: counts, keyed records with locations, digests, dates and CDXJ lines,
    records whose target URI is not a key quarantined (``record_key`` raises ``unreadable``). False if
    the file is not of the simple shape (``plan`` is then to be discarded).

    Where the system zlib can be called from compiled code, members are inflated and common records
    read in batches (:mod:`ingest.warc_member_batches`); the answer is the same."""
    url = src.url
    if member_inflate_available():
        from ingest.warc_member_batches import GiveUp, plan_member_batches

        def python_record(plan: Any, offset: int, length: int, data: bytes) -> None:
            try:
                record = _check_record(data)
            except _GiveUp as exc:
                raise GiveUp(str(exc)) from exc
            _python_add(plan, url, record_key, unreadable, offset, length, record, None)

        return plan_member_batches(src, plan, _json_str(url), MAX_MEMBER_BYTES, python_record)
    rows: list[Any] = []  # the CDXJ fields of each keyed record: the lines are written in one loop at the end
    if not each_record(src, lambda offset, length, record: _python_add(plan, url, record_key, unreadable, offset,
                                                                        length, record, rows)):
        return False
    # the lines external_cdxj_line writes for each record (HTTP status and media type of a response
    # from its HTTP head, as catalog.cdxj.http_fields reads it), in one loop
    plan.lines = external_cdxj_lines(url, rows)
    return True
