"""WARC and WET files as a :class:`~dedup.sources.DocumentSource` (read with FastWARC).

- WET ``conversion`` records become text documents (columns of ``DOCUMENT_SCHEMA``).
- WARC ``response`` records with an HTML content type become HTML documents
  (``HTML_DOCUMENT_SCHEMA``); the body is decoded with the charset of its Content-Type (UTF-8 if
  none), undecodable bytes replaced. Other responses (images, PDFs, ...) are skipped, not errors.
- ``id`` is the WARC-Record-ID, ``url`` the WARC-Target-URI, ``metadata`` JSON with the WARC date and
  the record's byte offset in the file.

A file that is not WARC (e.g. ARC) or breaks mid-way is reported through ``on_bad_record`` with the
byte offset of the last good record; the records before it are kept.
"""
from __future__ import annotations

import codecs
import json
from typing import Any, Iterator

import fsspec
import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecordType

from dedup.errors import RecordError, SourceError
from dedup.sources import DOCUMENT_SCHEMA, HTML_DOCUMENT_SCHEMA, BadRecordHandler, Split, _report, expand_urls

_HTML_TYPES = ("text/html", "application/xhtml+xml")


class WarcSource:
    """WARC / WET files (plain or gzip with one member per record) on any fsspec URL."""

    suffixes = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")

    def __init__(self, urls: list[str], batch_size: int = 500) -> None:
        self.urls = urls
        self.batch_size = batch_size

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        return [Split("warc", f) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        text_rows: dict[str, list[Any]] = {"id": [], "url": [], "text": [], "metadata": []}
        html_rows: dict[str, list[Any]] = {"id": [], "url": [], "html": [], "metadata": []}
        try:
            handle = fsspec.open(split.url, "rb").open()
        except OSError as exc:
            raise SourceError(f"cannot open {split.url}: {exc}") from exc
        offset = 0
        wanted = WarcRecordType.response | WarcRecordType.conversion
        with handle:
            records = iter(ArchiveIterator(handle, record_types=wanted, parse_http=True))
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # FastWARC raises plain OSError/ValueError on broken input.
                    _report(RecordError(split.url, offset, f"unreadable WARC data: {exc}"), on_bad_record)
                    break
                offset = int(record.stream_pos)
                try:
                    self._append(record, offset, text_rows, html_rows)
                except Exception as exc:
                    _report(RecordError(split.url, offset, f"unreadable record: {exc}"), on_bad_record)
                    continue
                if len(text_rows["id"]) >= self.batch_size:
                    yield pa.RecordBatch.from_pydict(text_rows, schema=DOCUMENT_SCHEMA)
                    text_rows = {name: [] for name in text_rows}
                if len(html_rows["id"]) >= self.batch_size:
                    yield pa.RecordBatch.from_pydict(html_rows, schema=HTML_DOCUMENT_SCHEMA)
                    html_rows = {name: [] for name in html_rows}
        if text_rows["id"]:
            yield pa.RecordBatch.from_pydict(text_rows, schema=DOCUMENT_SCHEMA)
        if html_rows["id"]:
            yield pa.RecordBatch.from_pydict(html_rows, schema=HTML_DOCUMENT_SCHEMA)

    @staticmethod
    def _append(record: Any, offset: int, text_rows: dict[str, list[Any]], html_rows: dict[str, list[Any]]) -> None:
        headers = record.headers
        metadata = json.dumps({"warc_date": headers.get("WARC-Date"), "warc_offset": offset})
        url = _clean_uri(headers.get("WARC-Target-URI"))
        if record.record_type == WarcRecordType.conversion:
            rows = text_rows
            body = record.reader.read().decode("utf-8", errors="replace")
        else:
            http = record.http_headers
            content_type = (http.get("Content-Type") or "") if http is not None else ""
            if not content_type.lower().startswith(_HTML_TYPES):
                return
            rows = html_rows
            body = record.reader.read().decode(_charset(content_type), errors="replace")
        rows["id"].append(record.record_id)
        rows["url"].append(url)
        rows["text" if rows is text_rows else "html"].append(body)
        rows["metadata"].append(metadata)


def _clean_uri(uri: str | None) -> str | None:
    # wget writes <http://...>; keep the URI itself.
    if uri is None:
        return None
    uri = uri.strip()
    return uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"' ")
            try:
                codecs.lookup(charset)
            except LookupError:
                return "utf-8"
            return charset
    return "utf-8"
