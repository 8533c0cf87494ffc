"""Bytes to text for HTML documents: BOM, then ``<meta charset>``, then UTF-8.

Contract: ``decode_html`` never raises on any byte string; bytes that do not decode in the chosen
charset become U+FFFD. The charset is taken from, in order: a byte-order mark, a ``<meta charset=...>``
or ``<meta http-equiv="Content-Type" content="...; charset=...">`` in the first 4 KiB (if Python
knows the codec), else UTF-8 (with replacement characters for invalid sequences).
"""
from __future__ import annotations

import codecs
import re

_META_SCAN_BYTES = 4096
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG: a page labelled latin-1/ascii is decoded as windows-1252 by every browser.
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252"}


def sniff_charset(data: bytes) -> str | None:
    """Python codec name declared by a BOM or a meta tag in ``data``, or None if none is usable."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    match = _META_CHARSET_RE.search(data, 0, _META_SCAN_BYTES)
    if match is None:
        return None
    label = match.group(1).decode("ascii", "replace").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page cannot really be UTF-16 if its meta tag was readable as ASCII.
    return "utf-8" if name.startswith("utf-16") or name.startswith("utf-32") else name


def decode_html(data: bytes) -> str:
    """Decode an HTML document's bytes to text; never raises (see module contract)."""
    charset = sniff_charset(data)
    if charset is not None:
        text = data.decode(charset, errors="replace")
        return text[1:] if text.startswith("\ufeff") else text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")
