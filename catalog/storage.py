"""Where bytes live: local paths versus fsspec URLs, and the one way haybale writes a file atomically.

Every package asks these questions through here, so "is this URL local" has one answer: a string
without a scheme, or with ``file://``, is a local path; anything else (``s3://``, ``gs://``,
``memory://``, ``http://``) goes through fsspec.

Object stores (``s3://``): whole-or-nothing writes without copies, and buckets that are checked,
never created.

Two habits of fsspec are wrong for haybale on object storage, and every writer goes through here
instead:

- ``fs.makedirs`` on s3fs *creates the bucket* when it is missing, so a typo in ``--root`` used to
  make a new bucket. :func:`ensure_parent` creates directories on local disk only and, on an object
  store, checks that the bucket exists (:func:`check_bucket`), raising :class:`RootError` naming it.
- writing ``x.tmp`` and then ``fs.mv`` to ``x`` is a server-side *copy* of every byte on S3.
  :func:`atomic_writer` writes to the final key instead, as a multipart upload that is completed only
  when the block ends without an error (an incomplete multipart upload is invisible to readers and
  listings; an error aborts it). Local paths keep the temporary name + fsync + rename.

Settings (endpoint, credentials) are those of s3fs/botocore: ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (or ``FSSPEC_S3_*``); see
README "Object storage".
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from typing import Any, Iterator

from catalog.errors import RootError, io_detail

# fsspec is imported where a URL is resolved, not with this module: `haybale dedup clean-html` on local
# folders uses the helpers here and must not pay fsspec's start-up (tests/dedup/clean checks it)

TMP_SUFFIX = ".tmp"


def is_local(url: str) -> bool:
    """True for a local path or a ``file://`` URL."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    """The path of a local ``url`` (``file://`` removed); other URLs unchanged."""
    return url[len("file://"):] if url.startswith("file://") else url


def url_of(fs: Any, path: str, like: str) -> str:
    """The URL to hand back for ``path`` found on ``fs`` while listing ``like``: a plain path when
    ``like`` is local, else the path with its protocol (``s3://bucket/x``)."""
    return path if is_local(like) else fs.unstrip_protocol(path)


def url_exists(url: str) -> bool:
    """Whether ``url`` (any fsspec URL or local path) names an existing file or directory."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return bool(fs.exists(path))


def remove_tree(url: str) -> None:
    """Remove ``url`` and everything under it; nothing if it does not exist."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass


def write_atomic(url: str, data: bytes | str) -> None:
    """Write ``url`` (any fsspec URL or local path) whole or not at all: on local disk a temporary name
    (fsynced), then a rename; on S3 one upload to the final key (:mod:`catalog.storage`). Local
    parent directories are created; a missing bucket raises :class:`~catalog.errors.RootError`."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    ensure_parent(fs, path)  # on S3: checks the bucket, never creates it
    write_atomic_on(fs, path, data, local=is_local(url))


def write_atomic_on(fs: Any, path: str, data: bytes | str, *, local: bool) -> None:
    """:func:`write_atomic` on an already resolved filesystem and path (the parent exists)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not local and is_multipart_store(fs):
        fs.pipe_file(path, raw)  # one PutObject (multipart past 100 MB): whole or absent, no copy
    else:
        # locally a temporary name of its own: two processes writing one file at once (two new jobs
        # creating one catalog's manifest) shared "x.tmp", so one's rename failed, or renamed the
        # other's half-overwritten bytes
        with atomic_writer(fs, path) as fh:
            fh.write(raw)


def write_json_atomic(url: str, obj: Any) -> None:
    """:func:`write_atomic` of ``obj`` as JSON."""
    write_atomic(url, json.dumps(obj))


def fsync_dir(path: str) -> None:
    """Make a rename in directory ``path`` durable (local disks only)."""
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- object stores -------------------------------------------------------------------------------
# protocols whose writes are uploads that complete on commit (no rename on the server)
_MULTIPART_PROTOCOLS = {"s3", "s3a"}
_checked_buckets: set[tuple[str, str]] = set()
_lock = threading.Lock()


def protocol_of(fs: Any) -> str:
    """The first protocol name of filesystem ``fs`` (``file``, ``s3``, ``memory``, ...)."""
    proto = fs.protocol
    return proto[0] if isinstance(proto, (tuple, list)) else proto


def is_multipart_store(fs: Any) -> bool:
    """True when ``fs`` is an object store whose uploads become visible only when completed (S3)."""
    return protocol_of(fs) in _MULTIPART_PROTOCOLS


def is_storage_error(exc: BaseException) -> bool:
    """True if ``exc`` is a storage failure: an OSError (s3fs's are, and some of aiohttp's), a botocore
    error (an endpoint that does not answer, missing credentials) or an aiohttp ``ClientError`` — which
    fsspec's HTTP reads raise as they are: a *503* (``ClientResponseError``), a connection dropped
    mid-body (``ClientPayloadError``, ``ServerDisconnectedError``) are not OSErrors."""
    return isinstance(exc, OSError) or any(
        cls.__name__ == "BotoCoreError" or (cls.__name__ == "ClientError" and cls.__module__.startswith("aiohttp"))
        for cls in type(exc).__mro__)


# What reading a file that cannot be read as it is named raises: gone, not allowed, not a file (KeyError:
# an in-memory store's missing key). Any other storage error (EIO, a connection reset, a timeout, an
# object store's or web server's 5xx) is the storage failing on a file that may be fine.
MISSING_OR_REFUSED = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, KeyError)
_GONE_OR_REFUSED_STATUS = (401, 403, 404, 410)


def is_missing_or_refused(exc: BaseException) -> bool:
    """True if ``exc`` says the file is gone, not allowed or not a file (:data:`MISSING_OR_REFUSED`):
    reading it again will not help. fsspec's HTTP turns *every* failure of its size check into a
    ``FileNotFoundError`` (a 503 or a refused connection too); such an error counts only when its cause
    is an answer of 401, 403, 404 or 410."""
    if not isinstance(exc, MISSING_OR_REFUSED):
        return False
    cause = exc.__cause__
    if isinstance(exc, FileNotFoundError) and cause is not None and is_storage_error(cause):
        return getattr(cause, "status", None) in _GONE_OR_REFUSED_STATUS
    return True


def check_bucket(url: str) -> None:
    """Raise :class:`RootError` if ``url`` is on an S3 bucket that does not exist (or that these
    credentials cannot see). Never creates anything. Local paths and other stores pass. Each bucket is
    checked once per process."""
    if is_local(url):
        return
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if not is_multipart_store(fs):
        return
    bucket = path.split("/", 1)[0]
    endpoint = str(getattr(fs, "client_kwargs", {}).get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL", ""))
    with _lock:
        if (endpoint, bucket) in _checked_buckets:
            return
    try:
        fs.invalidate_cache(bucket)
        exists = fs.exists(bucket)
    except PermissionError as exc:
        raise RootError(f"bucket {bucket!r} of {url} cannot be read with these credentials ({exc}): "
                        "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy") from exc
    where = f" at endpoint {endpoint}" if endpoint else ""
    if not exists:
        # fs.exists answers False for an endpoint that does not answer too: ask once more, for the reason
        try:
            fs.call_s3("head_bucket", Bucket=bucket)
        except (FileNotFoundError, PermissionError):
            pass
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            raise RootError(f"the object store{where} holding {url} cannot be reached ({io_detail(exc)}): check "
                            "AWS_ENDPOINT_URL, the network and that the server is up, then run again") from exc
        raise RootError(f"bucket {bucket!r} of {url} does not exist{where}: haybale never creates buckets; "
                        "check the name for a typo, or create the bucket first (aws s3 mb s3://"
                        f"{bucket}) and run again")
    with _lock:
        _checked_buckets.add((endpoint, bucket))


def ensure_parent(fs: Any, path: str) -> None:
    """Make the parent directory of ``path`` on ``fs`` exist: created on local disk; on an object
    store (no directories) only the bucket is checked, so a missing bucket is an error, not created."""
    if protocol_of(fs) in ("file", "local"):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    elif is_multipart_store(fs):
        check_bucket(fs.unstrip_protocol(path))
    else:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)


def ensure_dir(fs: Any, path: str) -> None:
    """:func:`ensure_parent` for the directory ``path`` itself."""
    ensure_parent(fs, path.rstrip("/") + "/x")


@contextlib.contextmanager
def atomic_writer(fs: Any, path: str) -> Iterator[Any]:
    """A binary handle whose bytes appear at ``path`` whole, and only if the block ends without an
    error (see the module docstring). The parent must exist (:func:`ensure_parent`)."""
    proto = protocol_of(fs)
    if proto in ("file", "local"):
        target = local_path(path)
        tmp = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(target))
        return
    if is_multipart_store(fs):
        fh = open_uncommitted(fs, path)
        try:
            yield fh
        except BaseException:
            discard(fh)
            raise
        commit(fh)
        return
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"  # other stores: an upload, then a rename
    try:
        with fs.open(tmp, "wb") as fh:
            yield fh
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fs.rm(tmp)
        raise
    fs.mv(tmp, path)


def open_uncommitted(fs: Any, path: str, part_bytes: int | None = None) -> Any:
    """A write handle on an S3 key that uploads a part each ``part_bytes`` (default s3fs's 50 MiB; at
    least 5 MiB) and becomes visible only at :func:`commit` (a multipart upload, completed then);
    :func:`discard` aborts it."""
    if part_bytes is None:
        return fs.open(path, "wb", autocommit=False)
    return fs.open(path, "wb", autocommit=False, block_size=max(part_bytes, 5 << 20))


def commit(fh: Any) -> None:
    """Flush the last part of a handle from :func:`open_uncommitted` and complete its upload: the
    object appears whole, at once."""
    fh.close()
    fh.commit()


def discard(fh: Any) -> None:
    """Abort the upload of a handle from :func:`open_uncommitted`: nothing appears."""
    with contextlib.suppress(Exception):
        fh.discard()
    fh.closed = True  # an aborted upload must not be flushed again by the handle's finalizer
