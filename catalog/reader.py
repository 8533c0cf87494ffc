"""What every catalog you can query offers, whatever it runs on.

Three implementations: :class:`catalog.store.Store` (the embedded catalog of a root, opened in this
process), :class:`catalog.client.CatalogClient` (the catalog service over HTTP) and
:class:`catalog.memory.MemoryCatalog` (an in-memory double for tests). Code that only reads — the
``haybale catalog`` commands, a notebook — takes a :class:`CatalogReader` and works with any of them.

Contract, the same for all three:

- ``get(key)`` returns the :class:`~catalog.location.Location` of ``key`` (any spelling of it: keys are
  canonicalized) or raises :class:`~catalog.errors.KeyNotFoundError` naming the key;
  :class:`~catalog.errors.InvalidKeyError` for an empty or oversized key.
- ``get_many(keys)`` returns locations in input order, None where absent.
- ``list(prefix, limit)`` yields canonical keys under a URL, SURT or key prefix, in listing order
  (SURT order for URLs); ``items`` the same with each key's location.
- ``stats()`` returns at least ``records``, ``volumes``, ``volume_bytes``, ``shards``, ``slots``,
  ``catalog_disk_bytes`` and ``catalog`` (where it lives).
- ``cat(key, raw=False, max_decoded=DEFAULT_MAX_DECODED_BYTES, warnings=None)`` returns the record's
  content (HTTP body with transfer and content encodings removed for web pages) or, with ``raw``, the
  whole WARC record. A body that would decode past ``max_decoded`` bytes is refused, never truncated:
  :class:`~catalog.errors.DecodedSizeError` naming the key and the cap (through the service, a
  :class:`~catalog.errors.ServiceError` carrying that message). What was odd about the body (a false
  Content-Encoding used as stored, a cut stream) is appended to ``warnings``.
- ``cat_whole(key, write, warnings=None)`` streams that content to ``write`` whatever its decoded size,
  in bounded memory, and returns the bytes written. It reads the volumes themselves: the HTTP client
  raises :class:`~catalog.errors.CatalogError` saying to use the root's store instead.
- ``mark_of(key)`` returns the (status, reason) dedup mark of a key, or None.
- ``describe(key)`` returns the key, its canonical form, its location fields (digest as hex) and its
  volume URL, as ``haybale catalog get`` prints them.
- ``close()`` releases it; each is also a context manager.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.location import Location


@runtime_checkable
class CatalogReader(Protocol):
    """Read access to a catalog (see the module docstring for the contract)."""

    def get(self, key: str) -> Location: ...

    def get_many(self, keys: Sequence[str]) -> list[Location | None]: ...

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]: ...

    def items(self, prefix: str = "", limit: int | None = None) -> Iterator[tuple[str, Location]]: ...

    def stats(self) -> dict[str, Any]: ...

    def cat(self, key: str, *, raw: bool = False, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
            warnings: list[str] | None = None) -> bytes: ...

    def cat_whole(self, key: str, write: Callable[[bytes], Any], warnings: list[str] | None = None) -> int: ...

    def mark_of(self, key: str) -> tuple[str, str] | None: ...

    def describe(self, key: str) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> "CatalogReader": ...

    def __exit__(self, *exc: object) -> None: ...
