"""The catalog service's read operations over one opened :class:`~catalog.store.Store`, and the wire
form of their answers (plain JSON-able values). Shared by the service (which runs them) and the
client (which decodes their answers); no HTTP here.

Wire forms:

- a location in a batch answer is a row ``[volume, offset, length, digest]`` in the order of
  :data:`LOCATION_FIELDS`, the digest as 16 lowercase hex digits (JSON numbers lose 64-bit precision
  in many clients); a single key's answer is an object with the same fields.
- ``format=packed`` batch answers (what :class:`~catalog.client.CatalogClient` asks for) are binary:
  for n keys, n found flags (one byte each, 1 = registered) then n packed 22-byte
  :class:`~catalog.location.Location` values (zeros where absent). Packing skips building a JSON row and
  a Location per key on both sides (see bench/catalog_service_bench.py for what it saves).
- a listing cursor is an opaque URL-safe string naming the last key of the previous page; the next
  page starts strictly after that key, in listing order (SURT order for URLs, as ``Catalog.list``).
"""
from __future__ import annotations

import base64
import binascii
import heapq
import itertools
from typing import Any, Sequence

from catalog.catalog import Catalog, prefix_upper_bound
from catalog.errors import BadRequestError
from catalog.keys import canonical_key, key_id, listing_prefix
from catalog.listing import key_of_listing_entry
from catalog.location import LOCATION_SIZE, Location
from catalog.store import Store

LOCATION_FIELDS = ("volume", "offset", "length", "digest")
LISTING_CHUNK_MAX = 4096


def location_row(loc: Location) -> list[Any]:
    return [loc.volume, loc.offset, loc.length, f"{loc.digest:016x}"]


def location_from_row(row: Sequence[Any]) -> Location:
    """Inverse of :func:`location_row`; raises ``ValueError``/``TypeError`` for a malformed row."""
    volume, offset, length, digest = row
    return Location(int(volume), int(offset), int(length), int(digest, 16))


def location_from_dict(obj: dict[str, Any]) -> Location:
    return Location(int(obj["volume"]), int(obj["offset"]), int(obj["length"]), int(obj["digest"], 16))


def describe(store: Store, key: str) -> dict[str, Any]:
    """What ``haybale catalog get`` prints: the key, its canonical form, its location and volume URL.
    Raises :class:`~catalog.errors.KeyNotFoundError` / :class:`~catalog.errors.InvalidKeyError`."""
    loc = store.catalog.get(key)
    return {"key": key, "canonical_key": canonical_key(key), **loc.as_dict(),
            "volume_url": store.volume_url(loc.volume)}


def location_rows(store: Store, keys: Sequence[str]) -> list[list[Any] | None]:
    """Location rows of ``keys`` in input order, None for keys not registered."""
    return [location_row(loc) if loc is not None else None for loc in store.catalog.get_many(keys)]


def packed_locations(store: Store, keys: Sequence[str]) -> bytes:
    """The ``format=packed`` answer for ``keys``: found flags, then packed locations (see above)."""
    values = store.catalog.get_many_ids([key_id(canonical_key(k)) for k in keys])
    flags = bytes(v is not None for v in values)
    empty = bytes(LOCATION_SIZE)
    return flags + b"".join(v if v is not None else empty for v in values)


def unpack_locations(data: bytes, count: int) -> list[Location | None]:
    """Inverse of :func:`packed_locations` for ``count`` keys; raises ``ValueError`` if ``data`` has
    the wrong size."""
    if len(data) != count * (1 + LOCATION_SIZE):
        raise ValueError(f"packed answer is {len(data)} bytes, expected {count * (1 + LOCATION_SIZE)} "
                         f"for {count} keys")
    out: list[Location | None] = [None] * count
    base = count
    for i in range(count):
        if data[i]:
            start = base + i * LOCATION_SIZE
            out[i] = Location.unpack(data[start:start + LOCATION_SIZE])
    return out


def mark(store: Store, key: str) -> dict[str, str] | None:
    found = store.catalog.mark_of(key)
    return {"status": found[0], "reason": found[1]} if found else None


def encode_cursor(listing_entry: bytes) -> str:
    return base64.urlsafe_b64encode(listing_entry).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> bytes:
    """The listing entry a cursor names; raises :class:`BadRequestError` for a malformed cursor."""
    try:
        entry = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        entry = b""
    if entry[:1] not in (b"u", b"k"):  # every listing entry is tagged u (URL) or k (other key)
        raise BadRequestError(
            f"cursor {cursor[:80]!r} is not a cursor this service returned: pass the 'next_cursor' "
            "of the previous page unchanged, or omit it to start at the first key", 400)
    return entry


def list_page(catalog: Catalog, prefix: str, limit: int, cursor: str | None = None
              ) -> tuple[list[str], str | None]:
    """Up to ``limit`` canonical keys under ``prefix`` (as :meth:`Catalog.list`), starting after
    ``cursor``; returns (keys, cursor of the next page or None when this page is the last).

    Paging is stable under concurrent registration: a page never repeats a key of an earlier page.
    """
    lower = listing_prefix(prefix).encode("utf-8", "surrogatepass")
    upper = prefix_upper_bound(lower)
    start = lower
    if cursor:
        # the smallest entry strictly greater than the cursor's entry is that entry + NUL
        start = max(lower, decode_cursor(cursor) + b"\x00")
    if upper is not None and start >= upper:
        return [], None
    chunk = min(limit + 1, LISTING_CHUNK_MAX)
    streams = [shard.scan_listing(start, upper, chunk=chunk) for shard in catalog.shards]
    entries = list(itertools.islice(heapq.merge(*streams), limit + 1))
    more = len(entries) > limit
    entries = entries[:limit]
    next_cursor = encode_cursor(entries[-1]) if more and entries else None
    return [key_of_listing_entry(e) for e in entries], next_cursor
