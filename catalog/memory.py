"""An in-memory catalog: the :class:`~catalog.reader.CatalogReader` contract with no disk, no RocksDB and
no HTTP — a fake for tests of code that reads a catalog (like fsspec's ``memory://``), not a mock.

It keeps what a test puts in: a location, the record's content and raw bytes, a mark. Keys are
canonicalized and listed in the same order as the real catalog (the same listing entries), so a test
written against it holds for the embedded catalog and the service too
(``tests/catalog/test_reader_contract.py`` runs one suite against all three).
"""
from __future__ import annotations

import bisect
from typing import Any, Callable, Iterator, Sequence

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import DecodedSizeError, KeyNotFoundError
from catalog.keys import canonical_key
from catalog.listing import key_of_listing_entry, listing_bounds, listing_entry
from catalog.location import Location


class MemoryCatalog:
    """A catalog held in dicts. ``put`` what the test needs, then read it through the reader API."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._locations: dict[str, Location] = {}
        self._records: dict[str, tuple[bytes, bytes]] = {}
        self._marks: dict[str, tuple[str, str]] = {}
        self._entries: list[bytes] = []  # sorted listing entries
        self._volume_urls: dict[int, str] = {}

    # -- filling it ------------------------------------------------------------------------------
    def put(self, key: str, location: Location, content: bytes = b"", *, raw: bytes | None = None,
            volume_url: str | None = None) -> str:
        """Register ``key`` at ``location`` with its content (what ``cat`` returns) and raw WARC record
        (what ``cat(raw=True)`` returns; default: the content). Returns the canonical key."""
        canon = canonical_key(key)
        if canon not in self._locations:
            bisect.insort(self._entries, listing_entry(canon))
        self._locations[canon] = location
        self._records[canon] = (content, content if raw is None else raw)
        self._volume_urls.setdefault(location.volume, volume_url or f"memory://volumes/{location.volume}")
        return canon

    def mark(self, key: str, status: str, reason: str = "") -> None:
        canon = canonical_key(key)
        self._require(canon, key)
        self._marks[canon] = (status, reason)

    # -- the reader interface --------------------------------------------------------------------
    def _require(self, canon: str, key: str) -> Location:
        try:
            return self._locations[canon]
        except KeyError:
            raise KeyNotFoundError(f"key {key!r} is not in the catalog at {self.name}: check the spelling, or "
                                   "list nearby keys with `haybale catalog ls`", key=key) from None

    def get(self, key: str) -> Location:
        return self._require(canonical_key(key), key)

    def get_many(self, keys: Sequence[str]) -> list[Location | None]:
        return [self._locations.get(canonical_key(k)) for k in keys]

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]:
        lower, upper = listing_bounds(prefix)
        start = bisect.bisect_left(self._entries, lower)
        stop = len(self._entries) if upper is None else bisect.bisect_left(self._entries, upper)
        if limit is not None:
            stop = min(stop, start + limit)
        for entry in self._entries[start:stop]:
            yield key_of_listing_entry(entry)

    def items(self, prefix: str = "", limit: int | None = None) -> Iterator[tuple[str, Location]]:
        for key in self.list(prefix, limit):
            yield key, self._locations[key]

    def stats(self) -> dict[str, Any]:
        return {"catalog": self.name, "records": len(self._locations), "volumes": len(self._volume_urls),
                "volume_bytes": sum(loc.length for loc in self._locations.values()), "shards": 1, "slots": 1,
                "catalog_disk_bytes": 0}

    def cat(self, key: str, *, raw: bool = False, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
            warnings: list[str] | None = None) -> bytes:
        canon = canonical_key(key)
        self._require(canon, key)
        content, whole = self._records[canon]
        if raw:
            return whole
        if len(content) > max_decoded:
            raise DecodedSizeError(key, max_decoded)
        return content

    def cat_whole(self, key: str, write: Callable[[bytes], Any], warnings: list[str] | None = None) -> int:
        canon = canonical_key(key)
        self._require(canon, key)
        content = self._records[canon][0]
        for start in range(0, len(content), 1 << 20):
            write(content[start:start + (1 << 20)])
        return len(content)

    def mark_of(self, key: str) -> tuple[str, str] | None:
        return self._marks.get(canonical_key(key))

    def describe(self, key: str) -> dict[str, Any]:
        canon = canonical_key(key)
        loc = self._require(canon, key)
        return {"key": key, "canonical_key": canon, **loc.as_dict(), "volume_url": self._volume_urls[loc.volume]}

    def close(self) -> None:
        pass

    def __enter__(self) -> "MemoryCatalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
