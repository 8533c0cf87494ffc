"""catalog: the ground floor of haybale — packed WARC volumes, the sharded RocksDB catalog that finds
any record with one ranged read, the query service and its client.

It imports neither ``ingest`` nor ``dedup``; they build on it. It also holds what every package
shares: the root of the error tree (:class:`HaybaleError`), fail points for chaos tests
(``catalog.failpoints``), the progress display (``catalog.progress``), the paths of a deployment root
(:class:`RootLayout`) and the storage helpers (``catalog.storage``).

Names load on first use: ``import catalog`` is cheap, and ``catalog.CatalogClient`` never imports
RocksDB.
"""
from __future__ import annotations

from catalog.exports import lazy_exports

_EXPORTS = {
    "Store": "catalog.store", "Catalog": "catalog.catalog", "RegisterResult": "catalog.catalog",
    "Location": "catalog.location", "RootLayout": "catalog.layout", "CatalogReader": "catalog.reader",
    "CatalogClient": "catalog.client", "MemoryCatalog": "catalog.memory",
    "VolumeWriter": "catalog.volume", "VolumeReader": "catalog.volume", "SealedVolume": "catalog.volume",
    "canonical_key": "catalog.keys", "key_id": "catalog.keys", "file_uri": "catalog.keys", "surt": "catalog.keys",
    "prepare_bulk": "catalog.bulk", "register_bulk": "catalog.bulk",  # rebuild: catalog.rebuild.rebuild
    "ServiceConfig": "catalog.service", "ServiceThread": "catalog.service_run", "spawn_service": "catalog.service_run",
    **{name: "catalog.errors" for name in (
        "HaybaleError", "MissingDependencyError", "CatalogError", "InvalidKeyError", "KeyNotFoundError",
        "CatalogLockedError", "SchemaVersionError", "CatalogNotFoundError", "RootError", "OwnerDiskLostError", "VolumeError",
        "CorruptRecordError", "VolumeNotFoundError", "ArchiveError", "DecodedSizeError", "ServiceError",
        "ServiceUnavailableError", "BadRequestError")},
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
