"""How :class:`~catalog.owned_catalog.OwnedCatalog` reaches one owner (in this process or a Ray actor),
gathers answers, and the volume table client (owner 0 keeps the table)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterator

from catalog.catalog_meta import CatalogMeta


class VolumeTableClient:
    """The volume table (kept by owner 0), with :class:`~catalog.volume_table.VolumeTable`'s methods."""

    def __init__(self, catalog: Any) -> None:  # an OwnedCatalog (not imported: it imports this module)
        self._catalog = catalog
        self._cache: dict[int, dict[str, Any]] = {}

    def _call(self, method: str, *args: Any) -> Any:
        return _gather([self._catalog._call(0, "volume_call", method, *args)])[0]

    def add(self, url: str, info: dict[str, Any]) -> int:
        self._catalog._require_writable()
        return int(self._call("add", url, info))

    def update(self, number: int, info: dict[str, Any]) -> None:
        self._catalog._require_writable()
        self._cache.pop(number, None)
        self._call("update", number, info)

    def get(self, number: int) -> dict[str, Any]:
        row = self._cache.get(number)
        if row is None:
            row = self._cache[number] = self._call("get", number)
        return row

    def number_of(self, url: str) -> int | None:
        return self._call("number_of", url)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._call("rows"))


class _LocalOwner:
    """An owner store in this process; calls run on a thread pool (RocksDB reads release the GIL)."""

    def __init__(self, store: Any, pool: ThreadPoolExecutor) -> None:
        self.store, self.pool = store, pool

    def call(self, method: str, *args: Any) -> Future[Any]:
        return self.pool.submit(getattr(self.store, method), *args)

    def adopt(self, meta: CatalogMeta) -> None:
        self.store.set_meta(meta)


class _RayOwner:
    """An owner actor."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def call(self, method: str, *args: Any) -> Any:
        return self.handle.call.remote(method, *args)

    def adopt(self, meta: CatalogMeta) -> None:
        """Owner actors reload the meta record themselves when a request comes at a newer epoch."""


def _gather(calls: list[Any]) -> list[Any]:
    if not calls:
        return []
    if isinstance(calls[0], Future):
        return [c.result() for c in calls]
    import ray

    return ray.get(calls)
