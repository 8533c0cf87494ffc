"""haybale: data ingestion and dedup for model training.

Packages: ``catalog`` (volumes + sharded RocksDB catalog), ``ingest`` (Ray ingest jobs), ``dedup``
(the dedup batch job), ``deploy`` (running it on a Ray cluster). This package holds the ``haybale``
command and what every package shares (progress display).
"""
__version__ = "0.1.0"
