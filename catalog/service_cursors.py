"""Listing cursors as the service hands them out: the backend's own cursor, sealed with a check tag
bound to the catalog and the prefix. No HTTP here.

A backend's cursor only names a position in listing order (the last key of the previous page), so any
string that decodes to a listing entry "works": a cursor cut when copied, edited, from a listing of
another prefix or from another root's service would silently start the page somewhere else, skipping
keys or ending the listing early. The service therefore sends ``<backend cursor>.<tag>``, the tag an
8-byte BLAKE2b of the catalog's identity (its ``catalog_id``; for another reader, its description),
the prefix and the backend cursor, and refuses a cursor whose tag does not match with a 400 naming it.
This is a check against mistakes, not a secret: anyone with a token may list from anywhere anyway.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from catalog.errors import BadRequestError

_SEP = "."


def _tag(inner: str, scope: str, prefix: str) -> str:
    digest = hashlib.blake2b("\x00".join((scope, prefix, inner)).encode("utf-8", "surrogatepass"),
                             digest_size=8, person=b"haybale-cursor").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def seal_cursor(inner: str, scope: str, prefix: str) -> str:
    """The cursor the service sends for the backend's cursor ``inner`` of a listing of ``prefix``."""
    return f"{inner}{_SEP}{_tag(inner, scope, prefix)}"


def open_cursor(cursor: str, scope: str, prefix: str) -> str:
    """The backend's cursor inside ``cursor``; :class:`BadRequestError` (400) unless this service sealed
    it for a listing of ``prefix`` over the catalog ``scope`` names."""
    inner, sep, tag = cursor.rpartition(_SEP)
    if not sep or not inner or not hmac.compare_digest(tag.encode("ascii", "replace"),
                                                       _tag(inner, scope, prefix).encode("ascii")):
        raise BadRequestError(
            f"cursor {cursor[:80]!r} is not a cursor this service returned for prefix {prefix[:80]!r} (it was "
            "changed or cut, or it comes from a listing of another prefix, another catalog, or this catalog "
            "before a rebuild): pass the 'next_cursor' of the previous page unchanged with the same prefix, "
            "or omit it to start at the first key", 400)
    return inner
