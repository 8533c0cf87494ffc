"""haybale: data ingestion and dedup for model training.

The Python API, one import away (names load on first use: ``import haybale`` starts neither Ray nor
RocksDB)::

    import haybale

    with haybale.Store("./haybale-data") as store:                # a deployment root: catalog + volumes
        haybale.run_files_job(store, ["./corpus"], haybale.FilesJobConfig(run_id="corpus-1"))
        haybale.run_warc_job(store, ["crawl/*.warc.gz"], haybale.WarcJobConfig())
        loc = store.get("file:///abs/corpus/a.txt")              # Location(volume, offset, length, digest)
        data = store.cat("file:///abs/corpus/a.txt")
        haybale.dedup_catalog(store, ["https://"], "out/")       # dedup the catalog's pages, mark them
    haybale.run_dedup(haybale.source_for_inputs(["data/"]), "out2/")
    with haybale.CatalogClient("http://127.0.0.1:7480") as client:   # the catalog service
        keys = list(client.list("https://example.com/"))

Errors: every error haybale raises on purpose is a :class:`HaybaleError` (tree in
:mod:`haybale.errors`). Packages, bottom to top: ``catalog`` (volumes, catalog, the shared ground),
``ingest`` and ``dedup``, then this package (the API, the ``haybale`` command, the demo).
"""
from __future__ import annotations

from catalog.exports import lazy_exports
from haybale.version import __version__

_ERRORS = (
    "HaybaleError", "MissingDependencyError", "CatalogError", "InvalidKeyError", "KeyNotFoundError",
    "CatalogLockedError", "SchemaVersionError", "CatalogNotFoundError", "RootError", "OwnerDiskLostError",
    "ClusterUnreachableError", "VolumeError", "CorruptRecordError", "VolumeNotFoundError", "ArchiveError", "SourceReadError", "DecodedSizeError",
    "ServiceError",
    "ServiceUnavailableError", "BadRequestError",
    "IngestError", "IngestJobError", "WarcJobError", "FilesJobError", "CrawlConfigError", "UnsupportedURLError",
    "DedupError", "ConfigError", "SourceError", "InputReadError", "RecordError", "JobError", "StageError", "CleanError",
    "AdblockListError",
    "HtmlParseError", "CleanDirError",
)
_EXPORTS = {
    # a deployment root, the catalog, the catalog service
    "Store": "catalog.store", "Catalog": "catalog.catalog", "Location": "catalog.location",
    "RootLayout": "catalog.layout", "CatalogReader": "catalog.reader", "CatalogClient": "catalog.client",
    "MemoryCatalog": "catalog.memory", "canonical_key": "catalog.keys", "rebuild": "catalog.rebuild",
    # ingest jobs
    "FilesJobConfig": "ingest.files_job", "run_files_job": "ingest.files_job",
    "WarcJobConfig": "ingest.warc_job", "run_warc_job": "ingest.warc_job",
    "CrawlConfig": "ingest.crawl.config", "CrawlJobConfig": "ingest.crawl_summary",
    "run_crawl_job": "ingest.crawl_job",
    # dedup
    "DedupConfig": "dedup.config", "MinHashConfig": "dedup.minhash", "run_dedup": "dedup.job",
    "source_for_inputs": "dedup.inputs", "dedup_catalog": "haybale.api",
    "CleanConfig": "dedup.clean", "clean_html": "dedup.clean", "clean_text": "dedup.clean",
    # errors
    **{name: "haybale.errors" for name in _ERRORS},
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
