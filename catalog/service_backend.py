"""What the HTTP service reads from: any :class:`~catalog.reader.CatalogReader`, behind one small
interface the handlers call (:class:`ServeBackend`). No HTTP here.

Two backends:

- :class:`RootBackend`: the deployment root's own catalog, opened read-only and following a live writer
  (:class:`~catalog.service_store.RefreshingStore`). It uses the store's fast paths (lookups by key id
  answered in packed form, listing pages that start at a cursor's listing entry).
- :class:`ReaderBackend`: any other reader: the shard owners' client on a Ray cluster, or
  :class:`~catalog.client.CatalogClient` relaying to another service (``haybale serve --upstream``).
  Only the :class:`~catalog.reader.CatalogReader` methods are used, plus ``list_page(prefix, limit,
  cursor)`` when the reader has one (answering ``{"keys", "next_cursor"}`` or ``(keys, next_cursor)``,
  its cursor passed through unchanged); without it a page after a cursor lists from the prefix and
  skips the entries up to the cursor (listing order is compared by listing entry, so a cursor key
  deleted meanwhile still works).

Both are wrapped by :class:`MeteredBackend`, which counts every call (its method, how long it took and
whether it failed) for ``/metrics``: these are the owner and store calls.

A backend that cannot be reached (an owner that is down, an upstream service that does not answer, an
object store that refuses connections) raises; :func:`is_unavailable` says which exceptions mean that,
and the service answers them with 503 and a ``Retry-After`` hint.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Protocol, Sequence

from catalog import service_reads as reads
from catalog.errors import CatalogNotFoundError, ServiceUnavailableError
from catalog.listing import listing_bounds, listing_entry
from catalog.location import LOCATION_SIZE, Location
from catalog.reader import CatalogReader
from catalog.service_metrics import Metrics
from catalog.service_store import RefreshingStore
from catalog.wire import decode_cursor, encode_cursor, location_row

# exceptions of a backend that is not reachable now (by class name: the Ray ones without importing ray)
_UNAVAILABLE_NAMES = {"RayActorError", "ActorDiedError", "ActorUnavailableError", "GetTimeoutError",
                      "RaySystemError", "OwnerDiedError", "NodeDiedError", "ObjectLostError",
                      "ClientConnectorError", "EndpointConnectionError", "ConnectTimeoutError"}


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means the catalog's owners or store cannot be reached now (retry later), not
    that the request was wrong or the data is bad."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _UNAVAILABLE_NAMES:
            return True
    if isinstance(exc, (ServiceUnavailableError, CatalogNotFoundError)):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


class ServeBackend(Protocol):
    """What the handlers need. Every method blocks: call them from the service's thread pool."""

    def record(self, key: str) -> dict[str, Any]:
        """``describe(key)`` plus ``mark`` ({status, reason} or None); KeyNotFoundError if absent."""

    def locations(self, keys: Sequence[str]) -> list[Location | None]: ...

    def packed(self, keys: Sequence[str]) -> bytes:
        """n found flags then n packed locations (see :mod:`catalog.wire`)."""

    def list_page(self, prefix: str, limit: int, cursor: str | None
                  ) -> tuple[list[str], str | None, list[Any] | None]:
        """(keys, next cursor or None, location rows or None when the backend did not fetch them)."""

    def content(self, key: str, raw: bool, max_decoded: int, warnings: list[str]) -> tuple[bytes, Location]: ...

    def cursor_scope(self) -> str:
        """What listing cursors are bound to (:mod:`catalog.service_cursors`): the same catalog gives
        the same scope in every worker and after a restart, another catalog another one."""

    def mark(self, key: str) -> dict[str, str] | None: ...

    def stats(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def refresh(self, force: bool) -> bool: ...

    def close(self) -> None: ...


def _with_mark(described: dict[str, Any], mark: tuple[str, str] | None) -> dict[str, Any]:
    return {**described, "mark": {"status": mark[0], "reason": mark[1]} if mark else None}


def _packed(values: Sequence[Location | None]) -> bytes:
    empty = bytes(LOCATION_SIZE)
    return bytes(v is not None for v in values) + b"".join(v.pack() if v is not None else empty for v in values)


class RootBackend:
    """The root's catalog, read-only, following a writer (see the module docstring)."""

    def __init__(self, store: RefreshingStore) -> None:
        self.store = store
        self.catalog_dir = str(store.catalog_dir)
        self.description = f"catalog {store.catalog_dir}"

    def record(self, key: str) -> dict[str, Any]:
        return self.store.run(lambda s: _with_mark(reads.describe(s, key), s.catalog.mark_of(key)))

    def locations(self, keys: Sequence[str]) -> list[Location | None]:
        return self.store.run(lambda s: s.catalog.get_many(keys))

    def packed(self, keys: Sequence[str]) -> bytes:
        return self.store.run(lambda s: reads.packed_locations(s, keys))

    def list_page(self, prefix: str, limit: int, cursor: str | None
                  ) -> tuple[list[str], str | None, list[Any] | None]:
        keys, nxt = self.store.run(lambda s: reads.list_page(s.catalog, prefix, limit, cursor))
        return keys, nxt, None

    def cursor_scope(self) -> str:
        """The catalog's id (from its meta record, which every worker and restart reads the same)."""
        return self.store.run(lambda s: f"catalog {s.catalog.meta.catalog_id}")

    def content(self, key: str, raw: bool, max_decoded: int, warnings: list[str]) -> tuple[bytes, Location]:
        def read(s: Any) -> tuple[bytes, Location]:
            loc = s.catalog.get(key)
            return s.cat(key, raw=raw, max_decoded=max_decoded, warnings=warnings), loc
        return self.store.run(read)

    def mark(self, key: str) -> dict[str, str] | None:
        return self.store.run(lambda s: reads.mark(s, key))

    def stats(self) -> dict[str, Any]:
        return self.store.run(lambda s: s.catalog.stats())

    def status(self) -> dict[str, Any]:
        return {"backend": "root", "root": self.store.root, "catalog": self.catalog_dir, **self.store.status()}

    def refresh(self, force: bool) -> bool:
        return self.store.refresh(force=force)

    def close(self) -> None:
        self.store.close()


class ReaderBackend:
    """Any :class:`CatalogReader` (the owners' client, a :class:`~catalog.client.CatalogClient`, ...).
    ``refresh`` is passed on when the reader has one; ``close`` closes the reader."""

    def __init__(self, reader: CatalogReader, description: str) -> None:
        self.reader = reader
        self.description = description

    def record(self, key: str) -> dict[str, Any]:
        return _with_mark(self.reader.describe(key), self.reader.mark_of(key))

    def locations(self, keys: Sequence[str]) -> list[Location | None]:
        return self.reader.get_many(keys)

    def packed(self, keys: Sequence[str]) -> bytes:
        return _packed(self.reader.get_many(keys))

    def list_page(self, prefix: str, limit: int, cursor: str | None
                  ) -> tuple[list[str], str | None, list[Any] | None]:
        own = getattr(self.reader, "list_page", None)
        if callable(own):  # the reader pages itself; its cursor is passed through unchanged
            page = own(prefix, limit, cursor)
            if isinstance(page, dict):  # CatalogClient's form
                return list(page["keys"]), page.get("next_cursor"), None
            keys, next_cursor = page  # (keys, next cursor), as catalog.service_reads.list_page
            return list(keys), next_cursor, None
        after = decode_cursor(cursor) if cursor else None
        lower, _ = listing_bounds(prefix)
        keys_iter = iter(self.reader.list(prefix))
        if after is not None and after >= lower:
            keys_iter = itertools.dropwhile(lambda k: listing_entry(k) <= after, keys_iter)
        keys = list(itertools.islice(keys_iter, limit + 1))
        more = len(keys) > limit
        keys = keys[:limit]
        return keys, (encode_cursor(listing_entry(keys[-1])) if more and keys else None), None

    def cursor_scope(self) -> str:
        """The reader's description (e.g. the upstream service's URL)."""
        return self.description

    def content(self, key: str, raw: bool, max_decoded: int, warnings: list[str]) -> tuple[bytes, Location]:
        loc = self.reader.get(key)
        return self.reader.cat(key, raw=raw, max_decoded=max_decoded, warnings=warnings), loc

    def mark(self, key: str) -> dict[str, str] | None:
        found = self.reader.mark_of(key)
        return {"status": found[0], "reason": found[1]} if found else None

    def stats(self) -> dict[str, Any]:
        return self.reader.stats()

    def status(self) -> dict[str, Any]:
        return {"backend": "reader", "reader": self.description}

    def refresh(self, force: bool) -> bool:
        own = getattr(self.reader, "refresh", None)
        if not callable(own):
            return False
        answer = own(force=force)
        return bool(answer.get("reopened")) if isinstance(answer, dict) else bool(answer)

    def close(self) -> None:
        self.reader.close()


class MeteredBackend:
    """``backend`` with every call counted in ``metrics`` (``haybale_backend_calls_total`` by method and
    outcome, ``haybale_backend_call_seconds``). Unknown attributes pass through."""

    def __init__(self, backend: Any, metrics: Metrics) -> None:
        self._backend = backend
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._backend, name)
        if name not in _METERED or not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._metered(name, target, *args, **kwargs)
        return call

    def _metered(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        outcome = "ok"
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            outcome = "unavailable" if is_unavailable(exc) else type(exc).__name__
            raise
        finally:
            self._metrics.backend_call(name, outcome, time.perf_counter() - start)


_METERED = {"record", "locations", "packed", "list_page", "content", "mark", "stats", "refresh"}


def location_rows(locations: Sequence[Location | None]) -> list[list[Any] | None]:
    return [location_row(loc) if loc is not None else None for loc in locations]

