"""Content-encoding decoding for the crawler, with a hard cap on decoded bytes.

The decoder itself lives in :mod:`catalog.content_coding` (one decoder for every path that turns
stored or fetched bytes into a body); this module keeps the crawler's names.
"""
from __future__ import annotations

from catalog.content_coding import STREAMED as DECODABLE
from catalog.content_coding import CappedDecoder, ContentDecodingError, normalize_encoding

__all__ = ["DECODABLE", "CappedDecoder", "ContentDecodingError", "normalize_encoding"]
