"""Errors raised by the ``ingest`` package.

Bad *records* are not errors: readers quarantine them and go on. These exceptions are for bad
configuration or for a caller asking for something that cannot be done.

::

    HaybaleError (catalog.errors)
    └── IngestError             catch this for anything the ingest package raises
        ├── CrawlConfigError    a CrawlConfig field is out of range or inconsistent
        ├── UnsupportedURLError a URL that is not http(s) or has no host was given to the crawler
        └── IngestJobError      a job started and failed (a split failed, the error budget was
            │                   exceeded, a fetcher actor kept dying); rerun with the run id to resume
            ├── WarcJobError    more records quarantined than the WARC job's error budget allows
            └── FilesJobError   more files unreadable than the files job's error budget allows

``WarcSourceError`` (a WARC/ARC file cannot be opened, or a ranged read does not hold a record) is
:class:`catalog.errors.ArchiveError`, a ``CatalogError``: the WARC reader lives in the catalog package,
which ingest and dedup both use.
"""
from __future__ import annotations

from catalog.errors import ArchiveError as WarcSourceError
from catalog.errors import HaybaleError

__all__ = ["CrawlConfigError", "FilesJobError", "IngestError", "IngestJobError", "UnsupportedURLError",
           "WarcJobError", "WarcSourceError"]


class IngestError(HaybaleError):
    """Base class of every error raised by the ``ingest`` package."""


class CrawlConfigError(IngestError, ValueError):
    """A crawl setting is invalid; the message names the field and the accepted range."""


class UnsupportedURLError(IngestError, ValueError):
    """A URL the crawler cannot fetch (scheme other than http/https, no host)."""



class IngestJobError(IngestError):
    """A job started and failed; what is registered stays, and a rerun with the same run id resumes."""

    exit_status = 1


class WarcJobError(IngestJobError):
    """The WARC job stopped: more records were quarantined than its error budget allows."""


class FilesJobError(IngestJobError):
    """The files job stopped: more files could not be read than its error budget allows."""
