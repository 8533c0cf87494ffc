"""The decoded body of an HTTP response stored in a WARC record (kept for its callers; the reader
itself is :mod:`catalog.record_body`)."""
from __future__ import annotations

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.record_body import dechunk, parse_http, record_body, split_http

__all__ = ["dechunk", "http_body", "split_http"]


def http_body(block: bytes, source: str = "", max_decoded: int = DEFAULT_MAX_DECODED_BYTES) -> bytes:
    """The decoded body of the HTTP response ``block`` (status line + headers + body)."""
    message = parse_http(block)
    return record_body("response", None, "http:", block, source=source, max_decoded=max_decoded).data \
        if message.status_line or message.headers else message.body
