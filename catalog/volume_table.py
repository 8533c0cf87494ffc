"""The volume table: volume number → where the volume lives and what it holds.

Locations name volumes by a 32-bit number to stay small; this table maps the number to the volume's
URL (a packed haybale volume, or an existing WARC file indexed in place) and its metadata. It is a tiny
RocksDB of its own, written with ``sync`` so a volume is known before any record in it is registered.
"""
from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import Any, Iterator

import rocksdict as rd

from catalog.errors import CatalogError, CatalogLockedError

_NUM = struct.Struct(">I")
_VOL = b"v:"  # volume records: b"v:" + big-endian u32 number
_NEXT = b"next"
_BY_URL = b"url:"


class VolumeTable:
    """Allocates volume numbers and remembers each volume's URL and metadata."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        opts = rd.Options(raw_mode=True)
        opts.create_if_missing(True)
        access = rd.AccessType.read_only() if read_only else rd.AccessType.read_write()
        try:
            self.db = rd.Rdict(str(path), opts, access_type=access)
        except Exception as exc:
            if "lock" in str(exc).lower():
                raise CatalogLockedError(f"volume table {path}", f"wait for it to finish ({exc})") from exc
            raise CatalogError(f"cannot open volume table {path}: {exc}") from exc
        self._sync = rd.WriteOptions()
        self._sync.sync = True
        self._lock = threading.Lock()
        self._cache: dict[int, dict[str, Any]] = {}

    def add(self, url: str, info: dict[str, Any]) -> int:
        """Register a volume and return its number; the same URL returns its existing number."""
        with self._lock:
            existing = self.db.get(_BY_URL + url.encode())
            if existing is not None:
                number = _NUM.unpack(existing)[0]
                self.update(number, info)
                return number
            raw = self.db.get(_NEXT)
            number = _NUM.unpack(raw)[0] if raw else 1
            record = dict(info, url=url, number=number)
            batch = rd.WriteBatch(raw_mode=True)
            batch.put(_VOL + _NUM.pack(number), json.dumps(record).encode())
            batch.put(_BY_URL + url.encode(), _NUM.pack(number))
            batch.put(_NEXT, _NUM.pack(number + 1))
            self.db.write(batch, self._sync)
            self._cache[number] = record
            return number

    def next_number(self) -> int:
        """The number the next new volume will get."""
        raw = self.db.get(_NEXT)
        return _NUM.unpack(raw)[0] if raw else 1

    def restore_row(self, record: dict[str, Any]) -> None:
        """Put back a row (with its ``number`` and ``url``) kept elsewhere, e.g. the root's copy of the
        table after this one was restored from an older checkpoint; numbers after it stay unused."""
        number = int(record["number"])
        with self._lock:
            batch = rd.WriteBatch(raw_mode=True)
            batch.put(_VOL + _NUM.pack(number), json.dumps(record).encode())
            batch.put(_BY_URL + str(record["url"]).encode(), _NUM.pack(number))
            if number >= self.next_number():
                batch.put(_NEXT, _NUM.pack(number + 1))
            self.db.write(batch, self._sync)
            self._cache[number] = dict(record)

    def update(self, number: int, info: dict[str, Any]) -> None:
        record = dict(self.get(number), **info)
        self.db.put(_VOL + _NUM.pack(number), json.dumps(record).encode(), self._sync)
        self._cache[number] = record

    def get(self, number: int) -> dict[str, Any]:
        """The volume's record (``url`` and metadata). Raises :class:`CatalogError` if unknown."""
        cached = self._cache.get(number)
        if cached is not None:
            return cached
        raw = self.db.get(_VOL + _NUM.pack(number))
        if raw is None:
            raise CatalogError(f"volume number {number} is not in the volume table: rebuild the catalog")
        record = json.loads(raw)
        self._cache[number] = record
        return record

    def number_of(self, url: str) -> int | None:
        raw = self.db.get(_BY_URL + url.encode())
        return _NUM.unpack(raw)[0] if raw is not None else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        it = self.db.iter()
        it.seek(_VOL)
        rows = []
        while it.valid() and it.key().startswith(_VOL):
            rows.append(json.loads(it.value()))
            it.next()
        del it  # a live iterator would keep the table open
        yield from rows

    def close(self) -> None:
        self.db.close()
