"""Bytes to text for HTML documents: BOM, then ``<meta charset>``, then UTF-8.

Contract: ``decode_html`` never raises on any byte string; bytes that do not decode in the chosen
charset become U+FFFD. The decoding itself is :func:`catalog.text_decode.decode_text`, the one every
haybale path uses (here without a declared charset: a bare page has no HTTP headers).
"""
from __future__ import annotations

from catalog.text_decode import decode_text, sniff_charset

__all__ = ["decode_html", "sniff_charset"]


def decode_html(data: bytes) -> str:
    """Decode an HTML document's bytes to text; never raises (see module contract)."""
    return decode_text(data, None, html=True)[0]
