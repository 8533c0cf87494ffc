"""The wire form of the catalog service's answers, shared by the service (which encodes them) and the
client (which decodes them). No HTTP and no RocksDB here: the client imports this module only.

Wire forms:

- a location in a batch answer is a row ``[volume, offset, length, digest]`` in the order of
  :data:`LOCATION_FIELDS`, the digest as 16 lowercase hex digits (JSON numbers lose 64-bit precision
  in many clients); a single key's answer is an object with the same fields.
- ``format=packed`` batch answers (what :class:`~catalog.client.CatalogClient` asks for) are binary:
  for n keys, n found flags (one byte each, 1 = registered) then n packed 22-byte
  :class:`~catalog.location.Location` values (zeros where absent). Packing skips building a JSON row and
  a Location per key on both sides (see bench/catalog_service_bench.py for what it saves).
- a listing cursor is an opaque URL-safe string naming the last key of the previous page; the next
  page starts strictly after that key, in listing order (SURT order for URLs, as ``Catalog.list``);
  the service sends it sealed with a check tag bound to the catalog and the prefix
  (:mod:`catalog.service_cursors`).
- ``cat`` answers the content as octet-stream; what was odd about the body (a false Content-Encoding
  used as stored, a cut stream) comes in the :data:`WARNINGS_HEADER` header as a JSON list of strings
  (ASCII-escaped), absent when there is nothing to say.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Sequence

from catalog.errors import BadRequestError
from catalog.location import LOCATION_SIZE, Location

LOCATION_FIELDS = ("volume", "offset", "length", "digest")
WARNINGS_HEADER = "Haybale-Warnings"


def location_row(loc: Location) -> list[Any]:
    return [loc.volume, loc.offset, loc.length, f"{loc.digest:016x}"]


def location_from_row(row: Sequence[Any]) -> Location:
    """Inverse of :func:`location_row`; raises ``ValueError``/``TypeError`` for a malformed row."""
    volume, offset, length, digest = row
    return Location(int(volume), int(offset), int(length), int(digest, 16))


def location_from_dict(obj: dict[str, Any]) -> Location:
    return Location(int(obj["volume"]), int(obj["offset"]), int(obj["length"]), int(obj["digest"], 16))


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
