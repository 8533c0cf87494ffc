"""The catalog service's read operations over one opened :class:`~catalog.store.Store` (no HTTP here);
their answers' wire form is :mod:`catalog.wire`.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

from catalog.catalog import Catalog
from catalog.keys import canonical_key, key_id
from catalog.listing import key_of_listing_entry, listing_bounds
from catalog.location import LOCATION_SIZE
from catalog.store import Store
from catalog.wire import LOCATION_FIELDS, decode_cursor, encode_cursor, location_row

__all__ = ["LOCATION_FIELDS", "describe", "list_page", "location_rows", "mark", "packed_locations"]
LISTING_CHUNK_MAX = 4096


def describe(store: Store, key: str) -> dict[str, Any]:
    """What ``haybale catalog get`` prints: the key, its canonical form, its location and volume URL.
    Raises :class:`~catalog.errors.KeyNotFoundError` / :class:`~catalog.errors.InvalidKeyError`."""
    return store.describe(key)


def location_rows(store: Store, keys: Sequence[str]) -> list[list[Any] | None]:
    """Location rows of ``keys`` in input order, None for keys not registered."""
    return [location_row(loc) if loc is not None else None for loc in store.catalog.get_many(keys)]


def packed_locations(store: Store, keys: Sequence[str]) -> bytes:
    """The ``format=packed`` answer for ``keys``: found flags, then packed locations (see
    :mod:`catalog.wire`)."""
    values = store.catalog.get_many_ids([key_id(canonical_key(k)) for k in keys])
    flags = bytes(v is not None for v in values)
    empty = bytes(LOCATION_SIZE)
    return flags + b"".join(v if v is not None else empty for v in values)


def mark(store: Store, key: str) -> dict[str, str] | None:
    found = store.catalog.mark_of(key)
    return {"status": found[0], "reason": found[1]} if found else None


def list_page(catalog: Catalog, prefix: str, limit: int, cursor: str | None = None
              ) -> tuple[list[str], str | None]:
    """Up to ``limit`` canonical keys under ``prefix`` (as :meth:`Catalog.list`), starting after
    ``cursor``; returns (keys, cursor of the next page or None when this page is the last).

    Paging is stable under concurrent registration: a page never repeats a key of an earlier page.
    """
    lower, upper = listing_bounds(prefix)
    start = lower
    if cursor:
        # the smallest entry strictly greater than the cursor's entry is that entry + NUL
        start = max(lower, decode_cursor(cursor) + b"\x00")
    if upper is not None and start >= upper:
        return [], None
    chunk = min(limit + 1, LISTING_CHUNK_MAX)
    entries = list(itertools.islice(catalog.listing_entries(start, upper, chunk=chunk), limit + 1))
    more = len(entries) > limit
    entries = entries[:limit]
    next_cursor = encode_cursor(entries[-1]) if more and entries else None
    return [key_of_listing_entry(e) for e in entries], next_cursor
