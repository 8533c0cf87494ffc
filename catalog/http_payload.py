"""The body of an HTTP response stored in a WARC record, with transfer and content encodings removed.

Crawlers store responses differently: ours (like Common Crawl) stores the decoded body and renames the
original ``Content-Encoding`` header; wget and browsers store the bytes as sent, chunked and gzipped.
:func:`http_body` undoes both so ``haybale catalog cat`` always prints what the page says.
"""
from __future__ import annotations

import zlib

from catalog.errors import CorruptRecordError

MAX_DECODED_BYTES = 256 << 20


def split_http(block: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, raw body) of an HTTP message; the status line is dropped."""
    end = block.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = block.find(b"\n\n"), 2
    if end < 0:
        return [], b""
    lines = block[:end].decode("latin-1").replace("\r\n", "\n").split("\n")[1:]
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip().lower(), value.strip()))
    return headers, block[end + sep:]


def dechunk(body: bytes) -> bytes:
    """Remove chunked transfer encoding; stops at the last chunk or at the first malformed size line
    (returning what decoded so far, since archived bodies are often cut)."""
    out = bytearray()
    pos = 0
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        size_text = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            break
        if size == 0:
            break
        out += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out)


def decode_content(body: bytes, encoding: str, source: str) -> bytes:
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return body
    try:
        if enc in ("gzip", "x-gzip"):
            d = zlib.decompressobj(47)
            return d.decompress(body, MAX_DECODED_BYTES)
        if enc == "deflate":
            try:
                return zlib.decompressobj().decompress(body, MAX_DECODED_BYTES)
            except zlib.error:
                return zlib.decompressobj(-15).decompress(body, MAX_DECODED_BYTES)
        if enc == "br":
            import brotli

            return brotli.decompress(body)
    except (zlib.error, Exception) as exc:
        raise CorruptRecordError(f"{source}: body declares Content-Encoding {encoding!r} but does not "
                                 f"decode ({exc}); use --raw to get the stored bytes") from exc
    raise CorruptRecordError(f"{source}: unsupported Content-Encoding {encoding!r}; use --raw")


def http_body(block: bytes, source: str = "") -> bytes:
    """The decoded body of the HTTP response ``block`` (status line + headers + body)."""
    headers, body = split_http(block)
    hmap = dict(headers)
    if "chunked" in hmap.get("transfer-encoding", "").lower():
        body = dechunk(body)
    encodings = [e for e in hmap.get("content-encoding", "").split(",") if e.strip()]
    for enc in reversed(encodings):
        body = decode_content(body, enc, source)
    return body
