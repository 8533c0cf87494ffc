"""Canonical keys, key ids and SURT sort keys.

Every record in the catalog is addressed by a *canonical key*: a normalized URL for web records
(``http``/``https``) or a source URI for files (``file:///data/a.txt``, ``s3://bucket/x``), or any other
opaque string. Two spellings of the same URL map to one canonical key, so a re-crawl finds the record.

Contracts:

- :func:`canonical_key` is idempotent: ``canonical_key(canonical_key(k)) == canonical_key(k)``.
- :func:`key_id` is the 128-bit xxh3 hash of the canonical key's UTF-8 bytes (16 bytes, big-endian).
  64 bits would collide at ~10^10 keys; 128 bits do not in practice.
- :func:`sort_key` orders URL keys by SURT (``com,example)/path``) as CDX indexes do, so listing a host
  or a path prefix is one range scan per shard; other keys sort by themselves.
- Empty keys, keys over :data:`MAX_KEY_BYTES` and keys with NUL bytes raise :class:`InvalidKeyError`.
"""
from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

import xxhash

from catalog.errors import InvalidKeyError

MAX_KEY_BYTES = 4096
"""Longest canonical key accepted, in UTF-8 bytes (browsers and crawlers cap URLs near 2-8 KB)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as they are in a path or query; everything else is percent-encoded (RFC 3986).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$&'()*+,;=-._~%"
_FILE_SAFE = "/:@!$&'()*+,;=-._~%"
# a local path's bytes are escaped with the same set less "%", which is a byte of the name there
_FILE_NAME_SAFE = _FILE_SAFE.replace("%", "")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def is_web_url(key: str) -> bool:
    """True for keys that look like ``http://`` or ``https://`` URLs (case-insensitive)."""
    head = key[:8].lower()
    return head.startswith("http://") or head.startswith("https://")


def _check(key: str, original: str) -> str:
    if not key:
        raise InvalidKeyError(f"empty key {original!r}: give a non-empty URL, file URI or name")
    if "\x00" in key:
        raise InvalidKeyError(f"key {original[:80]!r} contains a NUL byte: remove it")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"key {original[:80]!r}... is {size} bytes, over the {MAX_KEY_BYTES}-byte limit: "
            "shorten it (e.g. hash a long query string)"
        )
    return key


def _normalize_percent(part: str) -> str:
    """Uppercase percent escapes and decode the ones that encode unreserved characters."""

    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT.sub(repl, part)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if path.endswith(("/.", "/..")):
        out.append("")
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


# A URL already in canonical form: lowercase scheme and host, no port, userinfo, fragment, percent
# escapes or characters needing escapes. Most keys (our own outputs) match and skip the slow path.
_SIMPLE_CANONICAL = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*"
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?")


def canonical_url(url: str) -> str:
    """Normalize an http(s) URL: lowercase scheme and host, IDNA host, default port and fragment
    dropped, dot segments resolved, spaces and unsafe characters percent-encoded, escapes uppercased.

    Query parameter order is kept (servers may depend on it). Raises :class:`InvalidKeyError` for a URL
    without a host.
    """
    if _SIMPLE_CANONICAL.fullmatch(url) and "/." not in url and not url.endswith("?"):
        return url
    raw = url.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidKeyError(f"URL {url[:120]!r} has no host: give an absolute http(s) URL")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError as exc:
        raise InvalidKeyError(f"URL {url[:120]!r} has an invalid host name: {exc}") from exc
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidKeyError(f"URL {url[:120]!r} has an invalid port: {exc}") from exc
    netloc = host
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    path = _normalize_percent(quote(parts.path or "/", safe=_PATH_SAFE))
    path = _remove_dot_segments(path)
    query = _normalize_percent(quote(parts.query, safe=_QUERY_SAFE)) if parts.query else ""
    return urlunsplit((scheme, netloc, path, query, ""))


def canonical_key(key: str) -> str:
    """The canonical form of a key: :func:`canonical_url` for http(s) URLs, else the key unchanged.

    Raises :class:`InvalidKeyError` for empty, oversized or NUL-containing keys.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"key {key!r} is {type(key).__name__}, not str: decode it first")
    _check(key, key)
    if is_web_url(key):
        return _check(canonical_url(key), key)
    if key.startswith("file://"):
        # file URIs escape spaces and other unsafe characters, so "with space.txt" finds its record
        return _check("file://" + quote(key[len("file://"):], safe=_FILE_SAFE), key)
    return key


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def uri_text(raw: bytes) -> str:
    """A URI as written in an archive's header, as text: UTF-8, and each byte that is not part of UTF-8
    (a Latin-1 ``é`` some writers leave in) percent-escaped as a browser sends it (``caf%E9``), so two
    URIs that differ in such bytes keep different keys (decoding with replacement made them one)."""
    text = raw.decode("utf-8", "surrogateescape")
    return _ESCAPED_BYTE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def key_id(canonical: str) -> bytes:
    """16-byte id of a canonical key: xxh3_128 of its UTF-8 bytes, big-endian (top bits pick the slot)."""
    return xxhash.xxh3_128_digest(canonical.encode("utf-8", "surrogatepass"))


def surt(url: str) -> str:
    """SURT form of a canonical http(s) URL, as CDX indexes write it: ``com,example)/path?a=1&b=2``.

    Host labels reversed and comma-joined, a leading ``www`` dropped, scheme dropped, everything
    lowercased and query arguments sorted (as the ``surt`` package does by default).
    """
    rest = url[url.find("://") + 3:]
    slash = rest.find("/")
    host = rest[:slash] if slash >= 0 else ""
    if host and not any(ch in host for ch in ":@[") and host == host.lower() and "#" not in url:
        # fast path for canonical URLs without port or userinfo (the common case)
        tail = rest[slash:].lower()
        labels = host.split(".")
        if labels[0] == "www":
            labels = labels[1:]
        path, qmark, query = tail.partition("?")
        out = ",".join(reversed(labels)) + ")" + path
        if qmark and query:
            out += "?" + "&".join(sorted(query.split("&")))
        return out
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    if labels and labels[0] == "www":
        labels = labels[1:]
    head = ",".join(reversed(labels))
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        head += f":{port}"
    path = (parts.path or "/").lower()
    out = f"{head})" + path
    if parts.query:
        out += "?" + "&".join(sorted(parts.query.lower().split("&")))
    return out


def sort_key(canonical: str) -> str:
    """The order a key is listed in: ``u`` + SURT for URLs, ``k`` + the key for everything else.

    The tag keeps URLs and other keys in separate ranges of the listing index.
    """
    if is_web_url(canonical):
        return "u" + surt(canonical)
    return "k" + canonical


def listing_prefix(prefix: str) -> str:
    """The listing-index prefix that selects keys starting with ``prefix``.

    A URL prefix (``https://example.com/a``) becomes its SURT prefix (``ucom,example)/a``), so it also
    lists ``http://`` and ``www.`` variants; a bare SURT prefix (``com,example)``) is used as it is; a
    ``file://`` prefix is escaped as :func:`canonical_key` escapes file URIs; any other string selects
    non-URL keys with that prefix. The empty prefix lists everything.
    """
    if not prefix:
        return ""
    if is_web_url(prefix):
        parts = urlsplit(prefix.strip())
        if not parts.hostname:  # "https://" alone: every URL key (both schemes share SURT order)
            return "u"
        if not parts.path and not parts.query:
            # "https://example.com" means the whole host: SURT of host + ")".
            return "u" + surt(canonical_url(prefix)).rsplit(")", 1)[0] + ")"
        s = surt(canonical_url(prefix))
        if not prefix.endswith("/") and s.endswith("/") and parts.path in ("", "/"):
            s = s[:-1]
        return "u" + s
    if ")" in prefix and "," in prefix.split(")", 1)[0] or prefix.endswith(")"):
        return "u" + prefix.lower()
    if prefix.startswith("file://"):
        return "k" + canonical_key(prefix)  # spaces and other unsafe characters escaped, as in the keys
    return "k" + prefix


def file_uri(path: str) -> str:
    """The canonical key of a local file: its absolute ``file://`` URI, every byte of the path that is
    not URI-safe percent-escaped.

    The path is a file name, not a URI, so a ``%`` in it is escaped too (``a%20b.txt`` and ``a b.txt``
    are two files and get two keys), and a name that is not UTF-8 (Python hands it over with
    surrogate escapes) is escaped byte by byte, as the filesystem stores it. :func:`unquote_file_uri`
    gives the path back."""
    import os

    absolute = os.path.abspath(path)
    return "file://" + quote(os.fsencode(absolute), safe=_FILE_NAME_SAFE)


def unquote_file_uri(uri: str) -> str:
    """Inverse of :func:`file_uri` for ``file://`` URIs: the local path, bytes that are not UTF-8
    given back with surrogate escapes (what ``os.listdir`` returns for them)."""
    import os

    return os.fsdecode(unquote_to_bytes(uri[len("file://"):])) if uri.startswith("file://") else uri
