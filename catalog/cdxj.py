"""CDXJ sidecar indexes, one per volume, in the pywb / Common Crawl line format.

Each line is ``<sort key> <14-digit timestamp> <JSON>``: the SURT for web records (``com,example)/a``),
the key itself for other records (spaces escaped as ``%20``), then a JSON object with ``url`` or
``key``, ``offset``, ``length``, ``filename``, ``mime``, ``status`` where known, and ``digest`` (the
catalog's xxh3-64 payload digest, hex). Lines are sorted, as CDX tools expect.

The sidecar makes the catalog rebuildable from storage alone and lets other tools use our index.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

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


def _timestamp(warc_date: str) -> str:
    """``2026-11-28T01:02:03Z`` → ``20261128010203`` (CDX's 14-digit timestamp)."""
    return (warc_date.translate(_NOT_DIGITS) + "00000000000000")[:14]


def cdxj_line(key: str, record: WarcRecord, offset: int, length: int, digest: int,
              filename: str, extra: dict[str, Any] | None = None) -> str:
    """One sidecar line for ``record`` stored at ``offset``/``length`` of ``filename``."""
    web = is_web_url(key)
    head = surt(key) if web else key.replace(" ", "%20")
    # Written by hand rather than json.dumps(dict): this runs once per record on the ingest hot path.
    text = (f'{{"{"url" if web else "key"}":{json.dumps(key)},"mime":{json.dumps(record.content_type.split(";")[0])},'
            f'"offset":{offset},"length":{length},"digest":"{digest:016x}",'
            f'"filename":{json.dumps(filename)},"type":"{record.record_type}"')
    if record.record_type == "response":
        status_line = record.block[:64].split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) >= 2 and parts[1].isdigit():
            text += f',"status":{int(parts[1])}'
    if extra:
        text += "," + json.dumps(extra, separators=(",", ":"))[1:-1]
    return f"{head} {_timestamp(record.date)} {text}}}\n"


def external_cdxj_line(key: str, *, record_type: str, content_type: str | None, date: str | None, offset: int,
                       length: int, digest: int, filename: str, status: int | None = None) -> str:
    """A line in :func:`cdxj_line`'s format for a record of a file we did not write (a WARC indexed in
    place): the fields come from the record's headers instead of a :class:`WarcRecord`, and
    ``filename`` is the file's full URL."""
    web = is_web_url(key)
    head = surt(key) if web else key.replace(" ", "%20")
    text = (f'{{"{"url" if web else "key"}":{json.dumps(key)},"mime":{json.dumps((content_type or "").split(";")[0])},'
            f'"offset":{offset},"length":{length},"digest":"{digest:016x}",'
            f'"filename":{json.dumps(filename)},"type":"{record_type}"')
    if record_type == "response" and status is not None:
        text += f',"status":{int(status)}'
    return f"{head} {_timestamp(date or '')} {text}}}\n"


@dataclass(frozen=True)
class CdxEntry:
    """A parsed sidecar line: the record's key and byte range and digest."""

    key: str
    offset: int
    length: int
    digest: int
    fields: dict[str, Any]


def parse_cdxj(text: str, source: str) -> Iterator[CdxEntry | tuple[int, str]]:
    """Entries of a sidecar; a line that does not parse yields ``(line number, reason)`` instead."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            _, _, payload = line.split(" ", 2)
            fields = json.loads(payload)
            key = fields.get("url") or fields["key"]
            yield CdxEntry(key, int(fields["offset"]), int(fields["length"]),
                           int(fields["digest"], 16), fields)
        except (ValueError, KeyError) as exc:
            yield (n, f"{source} line {n}: {exc}")
