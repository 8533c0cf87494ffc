"""The root of haybale's errors, and the errors raised by the catalog and the volume store.

Every message names the bad input (key, volume, offset, path) and says what to do. The root lives
here, in the bottom layer, so that every package's errors can derive from it; the whole tree is drawn
in :mod:`haybale.errors`.

::

    HaybaleError                      catch this for anything haybale raises
    ├── MissingDependencyError        an optional Python package a command needs is not installed
    └── CatalogError                  anything the catalog raises
        ├── InvalidKeyError           empty, oversized or malformed key
        ├── KeyNotFoundError          (also a KeyError) the key is not registered
        ├── CatalogLockedError        another writer holds a shard
        ├── SchemaVersionError        the catalog on disk was written by another schema version
        ├── CatalogNotFoundError      no catalog at the root (and create=False)
        ├── RootError                 the deployment root (or catalog directory) is unusable
        ├── ClusterUnreachableError   the Ray cluster serving the catalog's owners did not answer
        ├── VolumeError               anything about volume bytes
        │   ├── CorruptRecordError    a record's bytes fail their checksum or do not parse
        │   └── VolumeNotFoundError   a volume file named by the catalog is missing
        ├── ArchiveError              a WARC/ARC source file cannot be opened, or a byte range of it
        │                             is not one record (also ingest's WarcSourceError)
        ├── SourceReadError           reading a WARC/ARC source file failed on its storage (an I/O
        │                             error, not bad bytes): the file must be read again
        ├── DecodedSizeError          a body would decode past the decoded-size cap (a gzip bomb?)
        └── ServiceError              the catalog service failed to answer a request
            ├── ServiceUnavailableError  nothing answers at the service URL (not started, stopped)
            └── BadRequestError       (also a ValueError) the service rejected the request's input
"""
from __future__ import annotations


class HaybaleError(Exception):
    """Base class of every error haybale raises on purpose: the message names the input and the fix.

    ``exit_status`` is what the ``haybale`` command exits with when this error ends it: 2 for bad
    input or settings (fix them and run again), 1 for a job that started and failed
    (:attr:`exit_status` is 1 on those classes).
    """

    exit_status: int = 2


class MissingDependencyError(HaybaleError):
    """An optional Python package that a command or function needs is not installed."""


class CatalogError(HaybaleError):
    """Base class of every error raised by the ``catalog`` package."""


class InvalidKeyError(CatalogError, ValueError):
    """A key is empty, too long, not a string, or otherwise unusable."""


class KeyNotFoundError(CatalogError, KeyError):
    """The key is not in the catalog. ``key``, when the raiser gives it, is the key as asked for (the
    query service answers with it rather than with the message, which names the server's directory)."""

    def __init__(self, message: str = "key not found", key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:  # pickled (Ray) with its key
        return type(self), (str(self), self.key)

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "key not found"


class CatalogLockedError(CatalogError):
    """Another process holds the write lock of a shard (RocksDB allows one writer per directory).

    ``what``: the locked thing ("catalog DIR"); ``advice``: what to do, which a caller that knows more
    (the command line) replaces by raising ``CatalogLockedError(err.what, its_advice)``."""

    def __init__(self, what: str, advice: str = "wait for it to finish, or open it read-only") -> None:
        super().__init__(f"{what} is open for writing by another process: {advice}")
        self.what, self.advice = what, advice

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled (Ray) with its parts, not its message
        return type(self), (self.what, self.advice)


class SchemaVersionError(CatalogError):
    """The catalog manifest was written by an incompatible schema version."""


class CatalogNotFoundError(CatalogError):
    """No catalog exists at the given root."""


class OwnerDiskLostError(CatalogError):
    """A catalog owner's directory is missing on the node that hosts it now, though it held data."""


class RootError(CatalogError):
    """The deployment root or the catalog directory cannot be used: a file where a directory belongs,
    a remote root without a local catalog directory."""


class ClusterUnreachableError(CatalogError):
    """This process could not connect to the Ray cluster that serves the root's owners (the root's local
    head, or ``--address`` / ``RAY_ADDRESS``)."""

    exit_status = 1


class VolumeError(CatalogError):
    """A volume cannot be written or read."""


class CorruptRecordError(VolumeError):
    """A record's stored bytes do not match their checksum, or do not parse as a WARC record."""

    def __init__(self, message: str, volume: str = "", offset: int = -1) -> None:
        super().__init__(message)
        self.volume = volume
        self.offset = offset


class VolumeNotFoundError(VolumeError):
    """A volume referenced by the catalog does not exist in storage."""


class ArchiveError(CatalogError):
    """A WARC/ARC source file cannot be opened, or bytes at an offset are not one record."""


class SourceReadError(CatalogError):
    """Reading a WARC/ARC source file failed on its storage — an ``OSError`` from the disk or the
    object store in the middle of the file — not on its bytes: nothing from ``offset`` on was read, so
    nothing of it may be quarantined as bad data (it may be fine). Whoever reads the file fails the unit
    of work that reads it, so that a rerun reads the file again.

    ``url`` names the file, ``offset`` where the failed read started (None: unknown), ``detail`` the
    storage's error (type and message). Picklable (it crosses Ray task boundaries).
    """

    exit_status = 1

    def __init__(self, url: str, offset: int | None, detail: str) -> None:
        where = f"a read from byte {offset:,}: " if offset is not None else ""
        super().__init__(f"reading {url} failed with an I/O error ({where}{detail}): this is the storage "
                         "failing, not bad data; check the storage is reachable, then read the file again")
        self.url, self.offset, self.detail = url, offset, detail

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str]]:
        return type(self), (self.url, self.offset, self.detail)


def io_detail(exc: BaseException) -> str:
    """An I/O error as ``Type: message`` on one line (at most 300 characters), for messages."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no message'}"[:300]


class DecodedSizeError(CatalogError):
    """A record's body would decode to more than the decoded-size cap: refused, never truncated.

    ``source`` names the record (file or key, and offset), ``cap`` the cap in bytes.
    """

    def __init__(self, source: str, cap: int, what: str = "decoding") -> None:
        super().__init__(f"{source}: body is larger than the decoded-size cap of {cap:,} bytes once "
                         f"{what} is undone (a compression bomb, or a huge document): it is refused, "
                         "not truncated; raise the cap if the document is wanted, or read the stored "
                         "record with `haybale catalog cat --raw`")
        self.source = source
        self.cap = cap


# -- errors of the catalog query service (catalog.service / catalog.client) ----------------------


class ServiceError(CatalogError):
    """The catalog service answered with an error, or an answer that is not what the API promises.

    ``status`` is the HTTP status (0 when there was no answer) and ``url`` the request's URL.
    """

    def __init__(self, message: str, status: int = 0, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ServiceUnavailableError(ServiceError):
    """No catalog service answers at the given URL (connection refused, reset or timed out)."""


class BadRequestError(ServiceError, ValueError):
    """The service rejected a request: a missing or malformed parameter, bad JSON, a batch too large."""
