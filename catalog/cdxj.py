"""CDXJ sidecar indexes, one per volume, in the pywb / Common Crawl line format.

Each line is ``<sort key> <14-digit timestamp> <JSON>``: the SURT for web records (``com,example)/a``),
the key itself for other records (spaces escaped as ``%20``), then a JSON object as Common Crawl's
index writes it — ``url`` (``key`` for non-web keys), ``mime`` (for an HTTP response the media type of
its HTTP ``Content-Type``, else of the record's), ``status`` (HTTP status, a string, responses only),
``digest`` (SHA-1 of the payload in base32, the record's ``WARC-Payload-Digest`` when it has one),
``length``, ``offset``, ``filename`` — plus ``xxh3`` (the catalog's xxh3-64 payload digest, hex) and
``type`` (the WARC record type). Lines are sorted, as CDX tools expect. A record whose WARC-Date is not
a date (``garbage``) gets the timestamp its digits give (zeros if none), the one the catalog orders it
by, and its date as written in ``warc_date``, which ``catalog rebuild`` orders by.

Sidecars written before the ``xxh3`` field held the xxh3 digest in ``digest`` (16 hex digits):
:func:`parse_cdxj` reads both.

The sidecar makes the catalog rebuildable from storage alone and lets other tools use our index.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from catalog.keys import is_web_url, surt
from catalog.warc_records import WarcRecord

SIDECAR_SUFFIX = ".cdxj"


def sidecar_url(volume_url: str) -> str:
    """``x.warc.gz`` → ``x.cdxj`` (also ``x.warc`` → ``x.cdxj``)."""
    for suffix in (".warc.gz", ".warc", ".arc.gz", ".arc"):
        if volume_url.endswith(suffix):
            return volume_url[: -len(suffix)] + SIDECAR_SUFFIX
    return volume_url + SIDECAR_SUFFIX


_NOT_DIGITS = str.maketrans("", "", "-:TZ. ")


_ZEROS = "00000000000000"


def date_problem(warc_date: str | None) -> str | None:
    """Why ``warc_date`` gives no CDX timestamp of its own (it is neither a WARC-Date nor an ARC date:
    something besides digits and ``-:TZ.`` and blanks), or None if it does (an absent date too)."""
    if not warc_date:
        return None
    kept = warc_date.translate(_NOT_DIGITS)
    if kept and kept.isascii() and kept.isdigit():
        return None
    return f"WARC-Date {warc_date[:64]!r} is not a date"


def _stamp(warc_date: str) -> tuple[str, str]:
    """(CDX's 14-digit timestamp, ``,"warc_date":"..."`` or ""): ``2026-11-28T01:02:03Z`` →
    ``20261128010203``. A date that is not one (:func:`date_problem`) gets the timestamp of its digits
    as :func:`catalog.captures.date_order` orders it (all zeros if it has none: the oldest), so CDX
    tools read 14 digits that sort the record where the catalog does, and the line keeps the date as
    written in ``warc_date``."""
    kept = warc_date.translate(_NOT_DIGITS)
    if kept.isdigit() and kept.isascii() or not warc_date:
        return (kept + _ZEROS)[:14], ""
    digits = "".join(ch for ch in warc_date if ch.isdigit())  # as date_order takes them
    return ((digits + _ZEROS)[:14] if digits.isascii() else _ZEROS), f',"warc_date":{_json_str(warc_date)}'


def http_fields(block: bytes) -> tuple[int | None, str | None]:
    """(status, Content-Type) of the HTTP message at the start of ``block`` (only its head is read)."""
    from catalog.record_body import parse_http

    end = block.find(b"\r\n\r\n", 0, 65536)
    message = parse_http(block[:end + 4] if end >= 0 else block[:65536])
    return message.status, message.header("content-type")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip()


def _json_str(text: str) -> str:
    """``json.dumps(text)``; printable ASCII without quotes or backslashes (nearly every URL, media
    type and digest) is written as it is, which is what ``json.dumps`` writes for it, 5x faster."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


def _line(key: str, *, record_type: str, mime: str, date: str, offset: int, length: int, digest: int,
          sha1: str | None, filename: str, status: int | None, extra: dict[str, Any] | None) -> str:
    web = is_web_url(key)
    head = surt(key) if web else key.replace(" ", "%20")
    timestamp, date_field = _stamp(date)
    # Written by hand rather than json.dumps(dict): this runs once per record on the ingest hot path.
    text = f'{{"{"url" if web else "key"}":{_json_str(key)},"mime":{_json_str(mime)}'
    if record_type == "response" and status is not None:
        text += f',"status":"{int(status)}"'
    if sha1:
        text += f',"digest":{_json_str(sha1.split(":", 1)[-1])}'
    text += (f',"length":{length},"offset":{offset},"filename":{_json_str(filename)},'
             f'"xxh3":"{digest:016x}","type":"{record_type}"{date_field}')
    if extra:
        text += "," + json.dumps(extra, separators=(",", ":"))[1:-1]
    return f"{head} {timestamp} {text}}}\n"


def cdxj_line(key: str, record: WarcRecord, offset: int, length: int, digest: int,
              filename: str, extra: dict[str, Any] | None = None) -> str:
    """One sidecar line for ``record`` stored at ``offset``/``length`` of ``filename``."""
    status, mime = None, record.content_type
    if record.record_type == "response" and record.payload_offset:
        status, mime = http_fields(record.block)
    return _line(key, record_type=record.record_type, mime=_media(mime), date=record.date, offset=offset,
                 length=length, digest=digest, sha1=record.payload_sha1(), filename=filename, status=status,
                 extra=extra)


def external_cdxj_line(key: str, *, record_type: str, content_type: str | None, date: str | None, offset: int,
                       length: int, digest: int, filename: str, status: int | None = None,
                       payload_sha1: str | None = None) -> str:
    """A line in :func:`cdxj_line`'s format for a record of a file we did not write (a WARC indexed in
    place): the fields come from the record's headers instead of a :class:`WarcRecord` —
    ``content_type`` is the HTTP Content-Type for responses, ``payload_sha1`` the record's
    ``WARC-Payload-Digest`` — and ``filename`` is the file's full URL."""
    return _line(key, record_type=record_type, mime=_media(content_type), date=date or "", offset=offset,
                 length=length, digest=digest, sha1=payload_sha1, filename=filename, status=status, extra=None)


# (key, record type, content type, WARC-Date, offset, length, xxh3 digest, HTTP status, payload SHA-1)
ExternalRow = tuple[str, str, "str | None", "str | None", int, int, int, "int | None", "str | None"]


def external_cdxj_lines(filename: str, rows: Iterable[ExternalRow]) -> list[str]:
    """``[external_cdxj_line(key, record_type=..., ..., filename=filename) for each row]`` (the same
    lines, tested against it) for the records of one file, in one loop: what is the same for every
    line of the file (its JSON-quoted name) is written once, and no keyword arguments are passed per
    record (the in-place index pass writes one line per record of a WARC file)."""
    name = _json_str(filename)
    out = []
    append = out.append
    for key, record_type, content_type, date, offset, length, digest, status, sha1 in rows:
        web = is_web_url(key)
        head = surt(key) if web else key.replace(" ", "%20")
        mime = (content_type or "").split(";")[0].strip()
        text = f'{{"{"url" if web else "key"}":{_json_str(key)},"mime":{_json_str(mime)}'
        if record_type == "response" and status is not None:
            text += f',"status":"{int(status)}"'
        if sha1:
            text += f',"digest":{_json_str(sha1.split(":", 1)[-1])}'
        timestamp, date_field = _stamp(date or "")
        append(f'{head} {timestamp} {text},"length":{length},"offset":{offset},"filename":{name},'
               f'"xxh3":"{digest:016x}","type":"{record_type}"{date_field}}}\n')
    return out


@dataclass(frozen=True)
class CdxEntry:
    """A parsed sidecar line: the record's key and byte range and digest."""

    key: str
    offset: int
    length: int
    digest: int
    fields: dict[str, Any]
    timestamp: str = ""  # the line's 14-digit timestamp, or its ``warc_date`` (a WARC-Date that is not a date)


def parse_cdxj(text: str, source: str) -> Iterator[CdxEntry | tuple[int, str]]:
    """Entries of a sidecar; a line that does not parse yields ``(line number, reason)`` instead."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            _, timestamp, payload = line.split(" ", 2)
            fields = json.loads(payload)
            key = fields.get("url") or fields["key"]
            xxh3 = fields["xxh3"] if "xxh3" in fields else fields["digest"]  # older sidecars: digest was xxh3
            # a line whose record's date is not one keeps it as written: ordered as the ingest job ordered it
            timestamp = fields.get("warc_date", timestamp)
            yield CdxEntry(key, int(fields["offset"]), int(fields["length"]), int(xxh3, 16), fields, timestamp)
        except (ValueError, KeyError) as exc:
            yield (n, f"{source} line {n}: {exc}")
