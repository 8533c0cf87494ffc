"""Entries of the listing index: what a key is listed as, and the key an entry lists.

An entry is the key's sort key (:func:`catalog.keys.sort_key`: ``u`` + SURT for web URLs, ``k`` + the
key for everything else). A URL entry also needs the URL itself, since SURT drops the scheme and a
leading ``www.``: after a NUL byte comes one of three forms:

- one *scheme tag* byte (1-4) — when the URL is exactly ``scheme://[www.]`` + the host and path
  spelled by the SURT (almost every canonical URL);
- a *path tag* byte (5-8: the scheme tag + 4) and the URL's own path and query — when only the path
  differs from the SURT's (SURT lowercases paths and sorts query arguments, so ``/Upper/Case`` and
  ``?b=2&a=1`` need it): the host is still read from the SURT, so it is not stored twice;
- else the whole URL (ports, user info, hosts SURT cannot spell back).

The tag form halves the listing index's bytes (~94 → ~50 per entry for crawl URLs), and with it the
compression work of a bulk load; the path form saves the scheme and host (~30 raw bytes) of the
URLs whose path or query SURT rewrites (measured in deploy/SCALING.md, "Where the bytes go").
Every form decodes, and an entry is only written in a short
form when it decodes back to the URL exactly, so catalogs written before a form existed read
unchanged.

Entries of one key that differ only in form never coexist: a key gets its entry once, when first
registered, and a delete removes both forms (:func:`listing_entries_of`).
"""
from __future__ import annotations

from catalog.keys import listing_prefix, sort_key

LISTING_SEP = b"\x00"
# tag byte -> (scheme, "www." prefix dropped by SURT)
_TAGS = {1: ("http", False), 2: ("https", False), 3: ("http", True), 4: ("https", True)}
_TAG_OF = {form: bytes([tag]) for tag, form in _TAGS.items()}
_PATH_TAG = 4  # added to a scheme tag: the URL's own path and query follow the tag byte


def _host_head(surt: str, scheme: str, www: bool) -> str:
    """``scheme://[www.]host`` of a URL from its SURT (the part before ``)``)."""
    return f"{scheme}://{'www.' if www else ''}{'.'.join(reversed(surt.partition(')')[0].split(',')))}"


def _url_from_surt(surt: str, scheme: str, www: bool) -> str:
    head, _, path = surt.partition(")")
    host = ".".join(reversed(head.split(",")))
    return f"{scheme}://{'www.' if www else ''}{host}{path}"


def listing_entry(canonical: str) -> bytes:
    """The listing-index entry of a canonical key (see the module docstring)."""
    sk = sort_key(canonical)
    encoded = sk.encode("utf-8", "surrogatepass")
    if sk[:1] != "u":
        return encoded
    scheme_end = canonical.find("://")
    scheme = canonical[:scheme_end]
    www = canonical.startswith("www.", scheme_end + 3)
    tag = _TAG_OF.get((scheme, www))
    if tag is not None:
        if _url_from_surt(sk[1:], scheme, www) == canonical:
            return encoded + LISTING_SEP + tag
        head = _host_head(sk[1:], scheme, www)
        rest = canonical[len(head):]
        if canonical.startswith(head) and rest.startswith("/"):
            return (encoded + LISTING_SEP + bytes([tag[0] + _PATH_TAG])
                    + rest.encode("utf-8", "surrogatepass"))
    return encoded + LISTING_SEP + canonical.encode("utf-8", "surrogatepass")


def full_listing_entry(canonical: str) -> bytes:
    """The entry in its long form (the whole URL after the SURT), as older catalogs wrote every URL
    that the SURT does not spell back (and still write the ones whose host it cannot)."""
    encoded = sort_key(canonical).encode("utf-8", "surrogatepass")
    if encoded[:1] != b"u":
        return encoded
    return encoded + LISTING_SEP + canonical.encode("utf-8", "surrogatepass")


def listing_entries_of(canonical: str) -> list[bytes]:
    """Every entry the key may be listed under (its short form and the long form), for deletes."""
    short, full = listing_entry(canonical), full_listing_entry(canonical)
    return [short] if short == full else [short, full]


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix`` (None = unbounded)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def listing_bounds(prefix: str) -> tuple[bytes, bytes | None]:
    """The range of listing entries ``lower <= e < upper`` of the keys under a URL, SURT or key
    ``prefix`` (``upper`` None: to the end)."""
    lower = listing_prefix(prefix).encode("utf-8", "surrogatepass")
    return lower, prefix_upper_bound(lower)


def key_of_listing_entry(entry: bytes) -> str:
    """The canonical key an entry lists (either form)."""
    if entry[:1] != b"u":
        return entry[1:].decode("utf-8", "surrogatepass")
    sk, _, tail = entry.partition(LISTING_SEP)
    if len(tail) == 1 and tail[0] in _TAGS:
        scheme, www = _TAGS[tail[0]]
        return _url_from_surt(sk[1:].decode("utf-8", "surrogatepass"), scheme, www)
    if len(tail) > 1 and tail[0] - _PATH_TAG in _TAGS:  # the long form starts with "http", never 5-8
        scheme, www = _TAGS[tail[0] - _PATH_TAG]
        return (_host_head(sk[1:].decode("utf-8", "surrogatepass"), scheme, www)
                + tail[1:].decode("utf-8", "surrogatepass"))
    return tail.decode("utf-8", "surrogatepass")
