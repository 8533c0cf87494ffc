"""Every error haybale raises on purpose, in one tree. Catch :class:`HaybaleError` for all of them.

Each message names the bad input (key, path, URL, setting, volume and offset) and says what to do.
``exit_status`` is what the ``haybale`` command exits with: 2 for bad input or settings, 1 for a job
that started and failed (what it registered stays; rerun with the same run id to resume).

::

    HaybaleError                          (catalog.errors)
    ├── MissingDependencyError            an optional Python package a command needs is not installed
    ├── CatalogError                      (catalog.errors) the catalog and the volume store
    │   ├── InvalidKeyError               empty, oversized or malformed key (also a ValueError)
    │   ├── KeyNotFoundError              the key is not registered (also a KeyError)
    │   ├── CatalogLockedError            another process writes the catalog
    │   ├── SchemaVersionError            the catalog was written by another schema version
    │   ├── CatalogNotFoundError          no catalog at the root
    │   ├── RootError                     the root or catalog directory is unusable (e.g. a file)
    │   ├── OwnerDiskLostError            a catalog owner's directory is gone from the node hosting it
    │   ├── ClusterUnreachableError       the Ray cluster serving the owners did not answer (exit status 1)
    │   ├── VolumeError                   volume bytes cannot be written or read
    │   │   ├── CorruptRecordError        a record fails its checksum or does not parse
    │   │   └── VolumeNotFoundError       a volume named by the catalog is missing
    │   ├── ArchiveError                  a WARC/ARC file cannot be opened, or a byte range of it is not
    │   │                                 one record (ingest calls it WarcSourceError)
    │   ├── SourceReadError               reading a WARC/ARC file failed on its storage (an I/O error, not
    │   │                                 bad data): rerun to read it again (exit status 1)
    │   ├── DecodedSizeError              a body would decode past the decoded-size cap (a gzip bomb?):
    │   │                                 refused, never truncated
    │   └── ServiceError                  the catalog service failed to answer
    │       ├── ServiceUnavailableError   nothing answers at the service URL
    │       └── BadRequestError           the service rejected the request (also a ValueError)
    ├── IngestError                       (ingest.errors) getting data in
    │   ├── CrawlConfigError              a crawl setting is out of range (also a ValueError)
    │   ├── UnsupportedURLError           a URL the crawler cannot fetch (also a ValueError)
    │   └── IngestJobError                an ingest job failed (exit status 1)
    │       ├── WarcJobError              more records quarantined than the error budget allows
    │       └── FilesJobError             more files unreadable than the error budget allows
    └── DedupError                        (dedup.errors) the dedup job
        ├── ConfigError                   a dedup setting is invalid (also a ValueError)
        ├── SourceError                   an input cannot be listed or opened
        │   ├── InputReadError            a read of an input failed on its storage (not bad data): the
        │   │                                 unit is tried again, then the split fails; resume with the run id
        │   └── RecordError               one record of an input is unusable (its subclasses
        │                                     dedup.errors.RecordWarning, an odd record that is kept, and
        │                                     RecordSkipped, a WARC record that is not a document, are
        │                                     handed to on_bad_record, never raised)
        ├── JobError                      a stage of the job failed (exit status 1)
        │   └── StageError                a unit of a wave failed: names the run id to resume with
        └── CleanError                    (dedup.clean.errors) HTML and text cleaning
            ├── AdblockListError          the EasyList file cannot be read or has no rules
            ├── HtmlParseError            the HTML parser rejected a document
            └── CleanDirError             clean-html was given a source it cannot use
"""
from __future__ import annotations

from catalog.errors import (
                            ArchiveError,
                            BadRequestError,
                            CatalogError,
                            CatalogLockedError,
                            CatalogNotFoundError,
                            ClusterUnreachableError,
                            CorruptRecordError,
                            DecodedSizeError,
                            HaybaleError,
                            InvalidKeyError,
                            KeyNotFoundError,
                            MissingDependencyError,
                            OwnerDiskLostError,
                            RootError,
                            SchemaVersionError,
                            ServiceError,
                            ServiceUnavailableError,
                            SourceReadError,
                            VolumeError,
                            VolumeNotFoundError,
)
from dedup.clean.errors import AdblockListError, CleanDirError, CleanError, HtmlParseError
from dedup.errors import ConfigError, DedupError, InputReadError, JobError, RecordError, SourceError, StageError
from ingest.errors import (
                            CrawlConfigError,
                            FilesJobError,
                            IngestError,
                            IngestJobError,
                            UnsupportedURLError,
                            WarcJobError,
)

__all__ = [
    "AdblockListError", "ArchiveError", "BadRequestError", "CatalogError", "CatalogLockedError", "CatalogNotFoundError",
    "CleanDirError", "CleanError", "ClusterUnreachableError", "ConfigError", "CorruptRecordError", "CrawlConfigError", "DecodedSizeError",
    "DedupError", "FilesJobError",
    "HaybaleError", "HtmlParseError", "IngestError", "IngestJobError", "InputReadError", "InvalidKeyError", "JobError",
    "KeyNotFoundError", "MissingDependencyError", "OwnerDiskLostError", "RecordError", "RootError", "SchemaVersionError",
    "ServiceError", "ServiceUnavailableError", "SourceError", "SourceReadError", "StageError", "UnsupportedURLError",
    "VolumeError",
    "VolumeNotFoundError", "WarcJobError",
]
