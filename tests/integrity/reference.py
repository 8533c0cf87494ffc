"""Reference readers the integrity tests compare haybale's paths with, and builders of test WARCs from
real pages (never hand-written text).

The references: warcio's decoded content stream for WARC/ARC records (``content_stream()``: transfer
and content encodings removed, a false coding used as stored), Python's gzip for compressed files.
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

DOCUMENT_TYPES = ("response", "resource", "conversion")


@dataclass
class ReferenceRecord:
    offset: int  # in the file as stored (for whole-file gzip: in the decompressed stream)
    record_type: str
    target_uri: str
    date: str
    record_id: str | None
    body: bytes  # warcio's content stream
    headers: list[tuple[str, str]]


def warcio_records(path: Path) -> list[ReferenceRecord]:
    """Every record warcio reads in ``path``, with its decoded content stream. warcio refuses
    whole-file gzip WARCs, so those are gunzipped first (offsets are then decompressed offsets)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b" and ".arc" not in path.name:
        try:
            warcio_ok = [r.rec_type for r in ArchiveIterator(io.BytesIO(data))]
        except Exception:  # noqa: BLE001 - warcio's own exceptions for multi-record members
            warcio_ok = None
        if warcio_ok is None:
            data = gzip.decompress(data)
    out = []
    it = ArchiveIterator(io.BytesIO(data), arc2warc=True)
    try:
        for rec in it:
            body = rec.content_stream().read()  # before the offset, which ends the record
            h = rec.rec_headers
            out.append(ReferenceRecord(it.get_record_offset(), rec.rec_type, (h.get_header("WARC-Target-URI") or ""),
                                       h.get_header("WARC-Date") or "", h.get_header("WARC-Record-ID"), body,
                                       list(h.headers)))
    except Exception:  # noqa: BLE001 - warcio stops at damaged bytes; what it read before stands
        pass
    return out


def http_response(url: str, body: bytes, headers: list[tuple[str, str]], date: str, status: str = "200 OK"
                  ) -> tuple[str, bytes, StatusAndHeaders, str]:
    return url, body, StatusAndHeaders(status, headers, protocol="HTTP/1.1"), date


def write_warc(path: Path, responses: list[tuple[str, bytes, StatusAndHeaders, str]], *, gzip_records: bool = True
               ) -> None:
    """A WARC of response records (warcio's writer: its own record ids and digests), one gzip member
    per record (or plain). Bodies are stored as given, whatever their headers claim."""
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_records)
        for url, body, http_headers, date in responses:
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http_headers,
                                               warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)
