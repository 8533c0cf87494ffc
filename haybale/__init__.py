"""haybale: data ingestion and dedup for model training.

Packages, bottom to top: ``catalog`` (volumes + sharded RocksDB catalog, and what every package
shares: the error root, fail points, progress display), ``ingest`` (Ray ingest jobs) and ``dedup``
(the dedup batch job), and this package: the ``haybale`` command and the demo.
"""
__version__ = "0.1.0"
