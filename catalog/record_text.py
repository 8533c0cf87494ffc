"""A record as a document: its text, whether it is HTML, and what was odd — the same on every path.

Both dedup inputs (WARC/WET files and the catalog) call :func:`record_document`, so one record gives
one text whichever way it is read. Steps: the body (:func:`catalog.record_body.record_body`:
transfer/content codings, within the decoded-size cap); a compressed small file (``.gz``, ``.zst``,
``.bz2``, ``.xz`` by its name, as ``ingest files`` stores ``page.html.gz``) decompressed within the same
cap; the kind from the media type (HTML types → ``html``, other ``text/*`` → ``text``, none or
``application/octet-stream`` → sniffed from the bytes, anything else → not a document); the text from
:func:`catalog.text_decode.decode_text` (BOM, declared charset, ``<meta>``, UTF-8).

Errors: :class:`NotTextError` for a record that is not a text document (an image, a PDF, a request),
:class:`~catalog.errors.DecodedSizeError` over the cap. Callers quarantine both with the reason.
"""
from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES, FILE_CODINGS, decode_body
from catalog.errors import CatalogError
from catalog.record_body import Body, record_body
from catalog.text_decode import charset_of_content_type, decode_text

DOCUMENT_RECORD_TYPES = frozenset({"response", "resource", "conversion"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SNIFF_BYTES = 4096
_COMPRESSED_TYPES = frozenset({"application/gzip", "application/x-gzip", "application/zstd", "application/x-bzip2",
                               "application/x-xz", "application/octet-stream"})
_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}


class NotTextError(CatalogError):
    """The record is not a text document (its type or media type says so); the message says which."""


@dataclass
class RecordDocument:
    """``kind`` is ``html`` or ``text``; ``warnings`` lists what was odd on the way (false codings,
    cut streams, undecodable bytes), for the caller to count."""

    kind: str
    text: str
    content_type: str | None
    http_status: int | None = None
    warnings: list[str] = field(default_factory=list)
    http_headers: list[tuple[str, str]] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def file_coding(name: str | None) -> tuple[str | None, str]:
    """(coding, name without its compression suffix) of a file name or URL, e.g. ``a.html.gz`` →
    (``gzip``, ``a.html``); (None, name) when the name has no compression suffix."""
    path = urlsplit(name).path if name and "://" in name else (name or "")
    for suffix, coding in FILE_CODINGS.items():
        if path.lower().endswith(suffix):
            return coding, path[: -len(suffix)]
    return None, path


def decompress_file(data: bytes, name: str | None, content_type: str | None, *, source: str,
                    max_decoded: int, warnings: list[str]) -> tuple[bytes, str | None]:
    """(bytes, content type) of a small file: decompressed within ``max_decoded`` when its name ends
    in ``.gz``/``.zst``/``.bz2``/``.xz`` (a name that says so over bytes that are not is used as stored,
    with a warning), with the content type guessed from the inner name when the stored one is a
    compression type or missing. Raises DecodedSizeError over the cap."""
    coding, inner = file_coding(name)
    if coding is None:
        return data, content_type
    if not data.startswith(_MAGIC[coding]):
        warnings.append(f"name ends in a {coding} suffix but the bytes are not {coding}: used as stored")
        return data, content_type
    data = decode_body(data, [coding], max_decoded=max_decoded, source=source, warn=warnings.append)
    if not content_type or media_type(content_type) in _COMPRESSED_TYPES:
        content_type = mimetypes.guess_type(inner)[0] or content_type
    return data, content_type


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<!--")) or b"<html" in head.lower()


def document_kind(data: bytes, content_type: str | None) -> str:
    """``html`` or ``text`` for a body of this media type, or raises :class:`NotTextError`."""
    media = media_type(content_type)
    if media in HTML_TYPES:
        return "html"
    if media.startswith("text/"):
        return "text"
    if media in ("", "application/octet-stream", "unknown/unknown"):
        head = data[:_SNIFF_BYTES]
        if _looks_like_html(head):
            return "html"
        if b"\x00" not in head:
            return "text"
        raise NotTextError(f"no text content type and the bytes are binary (content type {media or 'missing'!r})")
    raise NotTextError(f"content type {media!r} is not text")


def body_document(body: Body, *, name: str | None, source: str,
                  max_decoded: int = DEFAULT_MAX_DECODED_BYTES) -> RecordDocument:
    """The document of a decoded body (see the module docstring); ``name`` is the record's target URI
    or key, whose suffix may say the bytes are a compressed file."""
    warnings = list(body.warnings)
    data, content_type = body.data, body.content_type
    # a stored file (resource) named .gz etc.; over HTTP only a body served as a compressed type
    if not body.http or media_type(content_type) in _COMPRESSED_TYPES:
        data, content_type = decompress_file(data, name, content_type, source=source, max_decoded=max_decoded,
                                             warnings=warnings)
    kind = document_kind(data, content_type)
    text, warning = decode_text(data, charset_of_content_type(content_type), html=kind == "html")
    if warning:
        warnings.append(warning)
    return RecordDocument(kind, text, content_type, body.http_status, warnings, body.http_headers)


def record_document(record_type: str | None, content_type: str | None, target_uri: str | None, block: bytes, *,
                    source: str, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
                    truncated: str | None = None, segment: str | None = None) -> RecordDocument:
    """The document a WARC record holds. Raises :class:`NotTextError` for record types that carry no
    document (request, metadata, warcinfo, revisit) and for non-text bodies, DecodedSizeError over
    the cap. ``truncated`` (the record's WARC-Truncated header) adds a warning: the text is incomplete;
    so does ``segment`` (its WARC-Segment-Number: the rest is in continuation records, not joined)."""
    kind = (record_type or "").lower()
    if kind not in DOCUMENT_RECORD_TYPES:
        raise NotTextError(f"a {kind or 'untyped'} record holds no document")
    body = record_body(kind, content_type, target_uri, block, source=source, max_decoded=max_decoded,
                       truncated=truncated, segment=segment)
    return body_document(body, name=target_uri, source=source, max_decoded=max_decoded)
