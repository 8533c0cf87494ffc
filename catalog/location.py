"""Where a record's bytes live, as a compact fixed-width value.

A :class:`Location` names a volume by number (the catalog's volume table maps numbers to URLs), the
byte range of the record in it, and a 64-bit digest of the record's content (the payload for web
records, the file bytes for files). The digest makes registration idempotent (same key + same digest =
nothing to do) and is checked on every read, so a corrupted or misdirected read is caught.

Binary layout, little-endian, 22 bytes: ``volume u32 | offset u48 | length u32 | digest u64``.
Offsets up to 256 TiB and records up to 4 GiB are representable; larger raise ``ValueError``.
"""
from __future__ import annotations

import struct
from typing import Any, NamedTuple

import numpy as np

LOCATION_SIZE = 22
_STRUCT = struct.Struct("<IIHIQ")
MAX_OFFSET = (1 << 48) - 1
MAX_LENGTH = (1 << 32) - 1

# numpy view of packed locations, for vectorized bulk encoding
LOCATION_DTYPE = np.dtype(
    [("volume", "<u4"), ("off_lo", "<u4"), ("off_hi", "<u2"), ("length", "<u4"), ("digest", "<u8")]
)
assert LOCATION_DTYPE.itemsize == LOCATION_SIZE


class Location(NamedTuple):
    """One record's place: ``length`` bytes at ``offset`` of volume number ``volume``.

    A named tuple rather than a dataclass: lookups create millions of these, and tuples are cheap.
    """

    volume: int
    offset: int
    length: int
    digest: int

    def pack(self) -> bytes:
        """The 22-byte catalog value. Raises ``ValueError`` if a field is out of range."""
        if not 0 <= self.offset <= MAX_OFFSET or not 0 < self.length <= MAX_LENGTH:
            raise ValueError(f"location out of range: offset={self.offset} length={self.length}")
        return _STRUCT.pack(
            self.volume, self.offset & 0xFFFFFFFF, self.offset >> 32, self.length, self.digest
        )

    @staticmethod
    def unpack(value: bytes) -> "Location":
        """Inverse of :meth:`pack`. Raises ``ValueError`` for a value of the wrong size."""
        if len(value) != LOCATION_SIZE:
            raise ValueError(f"catalog value is {len(value)} bytes, expected {LOCATION_SIZE}")
        vol, lo, hi, length, digest = _STRUCT.unpack(value)
        return Location(vol, lo | (hi << 32), length, digest)

    def as_dict(self) -> dict[str, Any]:
        return {"volume": self.volume, "offset": self.offset, "length": self.length,
                "digest": f"{self.digest:016x}"}


def pack_many(volume: np.ndarray, offset: np.ndarray, length: np.ndarray,
              digest: np.ndarray) -> np.ndarray:
    """Pack equal-length arrays into an array of 22-byte values (dtype ``S22``), vectorized."""
    n = len(volume)
    out = np.empty(n, dtype=LOCATION_DTYPE)
    off = np.asarray(offset, dtype=np.uint64)
    if n and (int(off.max()) > MAX_OFFSET):
        raise ValueError("an offset exceeds 2^48-1")
    out["volume"] = volume
    out["off_lo"] = (off & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    out["off_hi"] = (off >> np.uint64(32)).astype(np.uint16)
    out["length"] = length
    out["digest"] = digest
    return out.view(f"S{LOCATION_SIZE}")


def split_fixed(buf: bytes | np.ndarray, width: int) -> list[bytes]:
    """Cut a buffer of fixed-width records into a list of ``bytes``.

    Use this instead of ``ndarray.tolist()`` on ``S``-dtype arrays: numpy strips trailing NUL bytes
    from those, which silently corrupts binary ids and values.
    """
    data = buf.tobytes() if isinstance(buf, np.ndarray) else buf
    return [data[i:i + width] for i in range(0, len(data), width)]
