"""WARC, WET and ARC files as a :class:`~dedup.sources.DocumentSource`.

Records are read with the catalog's WARC reader (:mod:`catalog.warc_reader`: FastWARC with warcio as
fallback, every ARC/WARC layout, broken bytes quarantined and reading resumed) and turned into
documents with :func:`catalog.record_text.record_document` — exactly as ``haybale catalog cat`` and the
catalog input read the same records: transfer and content encodings removed within the decoded-size
cap, charset from the HTTP header, BOM or ``<meta>``.

- ``response``, ``resource`` and ``conversion`` (WET) records are documents: HTML bodies as ``html``,
  other text as ``text``. Other record types (request, metadata, warcinfo, revisit) hold no document
  and are passed over.
- A document record that is not text (an image, a PDF), whose block or decoded body is over the cap,
  or whose bytes no parser reads, is reported through ``on_bad_record`` with file, byte offset and
  reason; reading goes on. Odd but readable records (a false Content-Encoding) are reported as
  :class:`~dedup.record_rows.RecordWarning` and kept.
- A read that fails on the storage (an I/O error mid-file) is not bad bytes: the split fails
  (:func:`~dedup.sources.read_failed`, naming the file and saying to rerun with the same ``--run-id``)
  and nothing of the file is quarantined for it; a resume reads the file again.
- ``id`` is the WARC header named by ``id_field`` (default ``WARC-Record-ID``), ``url`` the header named
  by ``url_field`` (default ``WARC-Target-URI``, without wget's ``<...>``); ``metadata`` as
  :mod:`dedup.record_rows` describes. A record without the id header is a bad record.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import ArchiveError, DecodedSizeError, SourceReadError
from catalog.record_text import DOCUMENT_RECORD_TYPES, NotTextError, record_document
from catalog.warc_reader import Quarantined, iter_records
from dedup.errors import RecordError, RecordSkipped, SourceError
from dedup.record_rows import RecordWarning, RowBatches, clean_uri, header_value, record_metadata
from dedup.sources import BadRecordHandler, Split, _report, expand_urls, read_failed

DEFAULT_ID_FIELD = "WARC-Record-ID"
DEFAULT_URL_FIELD = "WARC-Target-URI"


class WarcSource:
    """WARC / WET / ARC files (plain, gzip per record or whole-file gzip) on any fsspec URL."""

    kind = "warc"
    suffixes = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz", ".arc", ".arc.gz")

    def __init__(self, urls: list[str], batch_size: int = 500, id_field: str | None = None,
                 url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES) -> None:
        self.urls = urls
        self.batch_size = batch_size
        self.id_field = id_field or DEFAULT_ID_FIELD
        self.url_field = url_field or DEFAULT_URL_FIELD
        self.max_decoded = max_decoded

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        options: tuple[tuple[str, str], ...] = ()
        if (self.id_field, self.url_field) != (DEFAULT_ID_FIELD, DEFAULT_URL_FIELD):
            options = (("id_field", self.id_field), ("url_field", self.url_field))
        if self.max_decoded != DEFAULT_MAX_DECODED_BYTES:
            options += (("max_decoded", str(self.max_decoded)),)
        return [Split("warc", f, options) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        id_field = options.get("id_field", DEFAULT_ID_FIELD)
        url_field = options.get("url_field", DEFAULT_URL_FIELD)
        cap = int(options.get("max_decoded", DEFAULT_MAX_DECODED_BYTES))
        rows = RowBatches(self.batch_size)
        try:
            records = iter_records(split.url, read_block=cap)
            for item in records:
                if isinstance(item, Quarantined):
                    _report(RecordError(split.url, item.offset, item.reason), on_bad_record)
                    continue
                if item.record_type.lower() not in DOCUMENT_RECORD_TYPES:
                    # counted by type, so the file's records add up (documents + these + quarantined)
                    if on_bad_record is not None:
                        on_bad_record(RecordSkipped(split.url, item.offset, item.record_type.lower() or "(no type)"))
                    continue
                where = f"{split.url} at offset {item.offset}"
                if item.block is None:
                    _report(RecordError(split.url, item.offset, f"record block of {item.content_length:,} bytes is "
                                        f"over the {cap:,}-byte cap: not read"), on_bad_record)
                    continue
                try:
                    doc = record_document(item.record_type, item.content_type, item.target_uri, item.block,
                                          source=where, max_decoded=cap,
                                          truncated=header_value(item.headers, "WARC-Truncated"),
                                          segment=header_value(item.headers, "WARC-Segment-Number"))
                except (NotTextError, DecodedSizeError) as exc:
                    _report(RecordError(split.url, item.offset, str(exc)), on_bad_record)
                    continue
                doc_id = header_value(item.headers, id_field)
                if doc_id is None:
                    _report(RecordError(split.url, item.offset, f"no WARC header {id_field!r} to use as the id "
                                        "(--id-field)"), on_bad_record)
                    continue
                url = header_value(item.headers, url_field)
                url = clean_uri(url) if url_field.lower() == DEFAULT_URL_FIELD.lower() else url
                # warcio's own warnings, caught instead of printed: counted and listed in the metadata
                doc.warnings.extend(f"{item.parser} warned: {note}" for note in item.notes or ())
                if on_bad_record is not None:
                    for warning in doc.warnings:
                        on_bad_record(RecordWarning(split.url, item.offset, warning))
                yield from rows.add(doc.kind, doc_id, url, doc.text,
                                    record_metadata(item.headers, doc, split.url, item.offset))
        except SourceReadError as exc:  # the storage failed, not the bytes: nothing is quarantined for it
            where = f"at byte {exc.offset:,}" if exc.offset is not None else "mid-file"
            raise read_failed(split.url, where, exc) from exc
        except ArchiveError as exc:
            raise SourceError(f"cannot read {split.url}: {exc}") from exc
        yield from rows.flush()
