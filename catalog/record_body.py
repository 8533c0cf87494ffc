"""The body of an archived record, with transfer and content encodings removed: one reader for every path.

``haybale catalog cat``, the dedup WARC input and the dedup catalog input all turn a record's block
into its body here, so the same bytes give the same body everywhere. The rules follow warcio's
content stream (the reference reader the differential tests compare with):

- A ``response``, ``request`` or ``revisit`` record whose target URI is http(s) holds an HTTP message
  (whatever its WARC Content-Type says: wget leaves it out): status line, header lines up to the first
  empty line (``\\r\\n`` or bare ``\\n`` line ends), then the body. Every other record's body is its
  whole block.
- ``Transfer-Encoding: chunked`` is removed; where a chunk header does not parse, the rest of the body
  is taken as stored (servers that say chunked and are not); a body cut inside a chunk keeps what it
  holds.
- ``Content-Encoding`` codings are undone (:mod:`catalog.content_coding`), within a decoded-size cap:
  over the cap is :class:`~catalog.errors.DecodedSizeError`, never a truncated body. A false coding
  (``gzip`` over a plain body) is used as stored, with a warning.

Crawlers store responses differently: ours (like Common Crawl) stores the decoded body and renames the
original ``Content-Encoding`` header; wget and browsers store the bytes as sent, chunked and gzipped.
Both read back the same here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES, content_codings, decode_body, iter_decoded

HTTP_RECORD_TYPES = frozenset({"response", "request", "revisit"})


@dataclass
class HttpMessage:
    """An HTTP message as stored: status (or request) line, headers (names lower-cased), raw body."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key == lname:
                return value
        return None

    @property
    def status(self) -> int | None:
        parts = self.status_line.split(" ", 2)
        return int(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else None


@dataclass
class Body:
    """A record's body: ``data`` decoded from transfer and content codings; ``content_type`` the
    Content-Type that describes it (the HTTP header's for HTTP messages, else the record's own);
    ``warnings`` what was odd (false codings, cut streams) — callers count them."""

    data: bytes
    content_type: str | None
    http_status: int | None = None
    warnings: list[str] = field(default_factory=list)
    http: bool = False  # the record held an HTTP message (its body is after the HTTP headers)
    http_headers: list[tuple[str, str]] = field(default_factory=list)  # names lower-cased, as stored


def holds_http_message(record_type: str | None, target_uri: str | None) -> bool:
    """True when a record's block is an HTTP message (see the module docstring)."""
    uri = (target_uri or "").strip().lstrip("<").lower()
    return (record_type or "").lower() in HTTP_RECORD_TYPES and uri.startswith(("http:", "https:"))


def parse_http(block: bytes) -> HttpMessage:
    """Split an HTTP message into status line, headers and body, as warcio does (header lines run to
    the first empty line; continuation lines start with a space or tab; no empty line: all headers)."""
    pos, n = 0, len(block)
    lines: list[str] = []
    while pos < n:
        eol = block.find(b"\n", pos)
        end = n if eol < 0 else eol + 1
        line = block[pos:end].rstrip(b"\r\n")
        pos = end
        if not line:
            break
        lines.append(line.decode("latin-1"))
    if not lines:
        return HttpMessage("", [], block[pos:])
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip().lower(), value.strip()))
    return HttpMessage(lines[0].strip(), headers, block[pos:])


def split_http(block: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, raw body) of an HTTP message; the status line is dropped."""
    message = parse_http(block)
    return message.headers, message.body


def is_chunked(transfer_encoding: str | None) -> bool:
    codings = [c.strip().lower() for c in (transfer_encoding or "").split(",") if c.strip()]
    return bool(codings) and codings[-1] == "chunked"


def dechunk(body: bytes, warn: Callable[[str], None] | None = None) -> bytes:
    """Remove chunked transfer encoding, as warcio's ChunkedDataReader does: at a chunk header or
    terminator that does not parse, the rest is taken as stored; a body cut inside a chunk keeps what
    it holds."""
    out = bytearray()
    pos, n = 0, len(body)
    while pos < n:
        eol = body.find(b"\n", pos, pos + 64)
        header = body[pos:eol + 1] if eol >= 0 else body[pos:pos + 64]
        size = _chunk_size(header)
        if size is None:
            if warn is not None:
                warn(f"chunked body has a bad chunk header at byte {pos}: the rest is taken as stored")
            out += body[pos:]
            return bytes(out)
        start = pos + len(header)
        if size == 0:
            if body[start:start + 2] != b"\r\n" and warn is not None and start < n:
                warn("chunked body: bytes after the last chunk are not CRLF; ignored")
            return bytes(out)
        chunk = body[start:start + size]
        out += chunk
        if len(chunk) < size:
            if warn is not None:
                warn(f"chunked body ends inside a chunk ({len(chunk)} of {size} bytes): cut off when archived?")
            return bytes(out)
        pos = start + size
        if body[pos:pos + 2] != b"\r\n":
            if warn is not None:
                warn(f"chunked body: chunk at byte {start} is not followed by CRLF; the rest is taken as stored")
            out += body[pos:]
            return bytes(out)
        pos += 2
    return bytes(out)


def _chunk_size(header: bytes) -> int | None:
    if not header.endswith(b"\r\n"):
        return None
    try:
        size = int(header[:-2].split(b";", 1)[0], 16)
    except ValueError:
        return None
    return size if 0 <= size <= 1 << 31 else None


def truncation_warning(truncated: str, stored: int, message: HttpMessage | None) -> str:
    """The warning for a record archived cut short (its ``WARC-Truncated`` header is ``truncated``):
    how many body bytes were stored, and how many the server said it sent when it said so."""
    declared = message.header("content-length") if message is not None else None
    sent = f" of the {int(declared):,} the server sent" if declared is not None and declared.isdigit() else ""
    return (f"the record was cut short when it was archived (WARC-Truncated: {truncated}): the body is incomplete, "
            f"{stored:,} bytes as stored{sent}")


def segment_warning(segment: str) -> str:
    """The warning for the first segment of a record archived in segments (``WARC-Segment-Number``)."""
    return (f"the record is segment {segment} of a record archived in segments (WARC-Segment-Number): its "
            "continuation records are not joined to it, so the body is incomplete")


def record_body(record_type: str | None, content_type: str | None, target_uri: str | None, block: bytes, *,
                source: str, max_decoded: int = DEFAULT_MAX_DECODED_BYTES, truncated: str | None = None,
                segment: str | None = None) -> Body:
    """The body of a record (its type, WARC Content-Type, target URI and block), decoded as the module
    docstring says. Raises :class:`~catalog.errors.DecodedSizeError` naming ``source`` over the cap.
    ``truncated``: the record's ``WARC-Truncated`` header; when set, a warning says the body is incomplete.
    ``segment``: its ``WARC-Segment-Number``; when set, a warning says so too (the rest is in other records)."""
    warnings: list[str] = [segment_warning(segment)] if segment else []
    if not holds_http_message(record_type, target_uri):
        if truncated:
            warnings.append(truncation_warning(truncated, len(block), None))
        return Body(block, content_type, None, warnings)
    message = parse_http(block)
    data = message.body
    if truncated:
        warnings.append(truncation_warning(truncated, len(data), message))
    if is_chunked(message.header("transfer-encoding")):
        data = dechunk(data, warnings.append)
    codings = content_codings(message.header("content-encoding"))
    if codings:
        data = decode_body(data, codings, max_decoded=max_decoded, source=source, warn=warnings.append)
    return Body(data, message.header("content-type"), message.status, warnings, True, message.headers)


def iter_record_body(record_type: str | None, content_type: str | None, target_uri: str | None, block: bytes,
                     *, source: str, warn: Callable[[str], None], truncated: str | None = None,
                     segment: str | None = None) -> Iterator[bytes]:
    """:func:`record_body`'s bytes in pieces of at most 1 MiB decoded, with no cap: for streaming a
    body whole (``catalog cat --whole``) in bounded memory. Only the innermost content coding is
    streamed; outer ones of stacked codings are decoded within the default cap first."""
    if segment:
        warn(segment_warning(segment))
    if not holds_http_message(record_type, target_uri):
        if truncated:
            warn(truncation_warning(truncated, len(block), None))
        yield block
        return
    message = parse_http(block)
    if truncated:
        warn(truncation_warning(truncated, len(message.body), message))
    data = message.body
    if is_chunked(message.header("transfer-encoding")):
        data = dechunk(data, warn)
    codings = content_codings(message.header("content-encoding"))
    if len(codings) > 1:  # the outer codings (applied last) first, within the cap; the innermost streamed
        data = decode_body(data, codings[1:], max_decoded=DEFAULT_MAX_DECODED_BYTES, source=source, warn=warn)
        codings = codings[:1]
    if not codings:
        yield data
        return
    yield from iter_decoded(data, codings[0], source=source, warn=warn)
