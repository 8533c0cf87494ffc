"""Bytes to text, the one way every haybale path does it: BOM, then the declared charset, then
``<meta charset>``, then UTF-8.

Order (the WHATWG encoding sniffing order browsers use): a byte-order mark wins; else the charset of
the HTTP ``Content-Type`` (or a record's own content type); else, for HTML, a ``<meta charset=...>`` or
``<meta http-equiv="Content-Type" content="...; charset=...">`` in the first 4 KiB; else UTF-8. Labels
are looked up as Python codecs after the WHATWG aliases (``iso-8859-1``/``ascii`` mean windows-1252);
an unknown label is ignored. Bytes that do not decode become U+FFFD and a warning says so: text is
never silently garbled, and :func:`decode_text` never raises.
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
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252", "x-sjis": "shift_jis"}


def codec_of(label: str | None) -> str | None:
    """Python codec name for a charset label, or None if there is no label or Python has no such codec."""
    if not label:
        return None
    label = label.strip().strip("\"' ").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_of_content_type(content_type: str | None) -> str | None:
    """The codec named by ``charset=`` in a Content-Type value, or None."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset":
            return codec_of(value)
    return None


def bom_charset(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def meta_charset(data: bytes) -> str | None:
    """The codec declared by a ``<meta>`` tag in the first 4 KiB of an HTML document, or None."""
    match = _META_CHARSET_RE.search(data, 0, _META_SCAN_BYTES)
    if match is None:
        return None
    name = codec_of(match.group(1).decode("ascii", "replace"))
    if name is None:
        return None
    # A page cannot really be UTF-16 if its meta tag was readable as ASCII.
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


def sniff_charset(data: bytes) -> str | None:
    """Codec declared by a BOM or a meta tag in ``data``, or None if none is usable."""
    return bom_charset(data) or meta_charset(data)


def choose_charset(data: bytes, declared: str | None = None, *, html: bool = True) -> tuple[str, str]:
    """(codec, where it came from: ``bom``/``declared``/``meta``/``default``) for ``data``."""
    if (name := bom_charset(data)) is not None:
        return name, "bom"
    if (name := codec_of(declared)) is not None:
        return name, "declared"
    if html and (name := meta_charset(data)) is not None:
        return name, "meta"
    return "utf-8", "default"


def decode_text(data: bytes, declared: str | None = None, *, html: bool = True) -> tuple[str, str | None]:
    """(text, warning) of ``data``: the charset chosen as the module docstring says; a leading BOM
    removed; the warning (else None) says that undecodable bytes were replaced. Never raises."""
    charset, origin = choose_charset(data, declared, html=html)
    try:
        text, warning = data.decode(charset), None
    except UnicodeDecodeError as exc:
        text = data.decode(charset, errors="replace")
        warning = (f"not valid {charset} ({origin} charset; {exc.reason} at byte {exc.start}): undecodable "
                   "bytes replaced by U+FFFD")
    return (text[1:] if text.startswith("\ufeff") else text), warning
