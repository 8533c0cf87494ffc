"""Archived records as dedup rows, shared by the WARC/WET input and the catalog input.

Both inputs turn a record into a document with :func:`catalog.record_text.record_document`, so one
record gives one text whichever input reads it. This module holds what they share on top: which WARC
header is the id and which the url (``--id-field`` / ``--url-field``), the metadata of a record (every
WARC header, the HTTP status and headers, where it was read, and any decoding warnings), and the
batching of rows into the ``text`` and ``html`` schemas.

Metadata of a record (a JSON object, see dedup/README.md)::

    {"warc_headers": {name: value, ...},      # every WARC header as stored (a repeated name: a list)
     "http_status": 200, "http_headers": {name: value, ...},   # names lower-cased; HTTP records only
     "content_type": "text/html; charset=...", "source": FILE_OR_VOLUME, "offset": N,
     "warnings": ["declares Content-Encoding 'gzip' but is not gzip ...", ...]}   # only when any
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pyarrow as pa

from catalog.record_text import RecordDocument
from dedup.errors import RecordWarning
from dedup.sources import DOCUMENT_SCHEMA, HTML_DOCUMENT_SCHEMA

KEY_FIELD = "key"  # the catalog input's name for the catalog key as a field

__all__ = ["KEY_FIELD", "RecordWarning", "RowBatches", "clean_uri", "header_value", "headers_object",
           "record_metadata"]


def header_value(headers: list[tuple[str, str]] | None, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    lname = name.lower()
    for key, value in headers or ():
        if key.lower() == lname:
            return value
    return None


def headers_object(headers: list[tuple[str, str]] | None) -> dict[str, Any]:
    """Headers as a JSON object in their order; a repeated name keeps every value, as a list."""
    out: dict[str, Any] = {}
    for key, value in headers or ():
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def clean_uri(uri: str | None) -> str | None:
    """A target URI without the ``<...>`` wget writes around it."""
    if uri is None:
        return None
    uri = uri.strip()
    return uri[1:-1].strip() if uri.startswith("<") and uri.endswith(">") else uri


def record_metadata(headers: list[tuple[str, str]] | None, doc: RecordDocument, source: str, offset: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"warc_headers": headers_object(headers)}
    if doc.http_status is not None or doc.http_headers:
        meta["http_status"] = doc.http_status
        meta["http_headers"] = headers_object(doc.http_headers)
    meta["content_type"] = doc.content_type
    meta["source"] = source
    meta["offset"] = offset
    if extra:
        meta.update(extra)
    if doc.warnings:
        meta["warnings"] = list(doc.warnings)
    return meta


class RowBatches:
    """Rows of ``text`` and ``html`` documents, cut into record batches of ``batch_size``."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._rows: dict[str, dict[str, list[Any]]] = {
            "text": {"id": [], "url": [], "text": [], "metadata": []},
            "html": {"id": [], "url": [], "html": [], "metadata": []},
        }

    def add(self, kind: str, doc_id: str, url: str | None, content: str, metadata: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        rows = self._rows[kind]
        rows["id"].append(doc_id)
        rows["url"].append(url)
        rows[kind].append(content)
        rows["metadata"].append(json.dumps(metadata, ensure_ascii=False))
        if len(rows["id"]) >= self.batch_size:
            yield self._batch(kind)

    def flush(self) -> Iterator[pa.RecordBatch]:
        for kind in ("text", "html"):
            if self._rows[kind]["id"]:
                yield self._batch(kind)

    def _batch(self, kind: str) -> pa.RecordBatch:
        rows = self._rows[kind]
        batch = pa.RecordBatch.from_pydict(rows, schema=HTML_DOCUMENT_SCHEMA if kind == "html" else DOCUMENT_SCHEMA)
        for values in rows.values():
            values.clear()
        return batch
