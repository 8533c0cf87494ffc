"""Conditional writes of small control files on the root: create-if-absent and replace-if-unchanged.

The catalog's meta record must exist exactly once per root, whoever creates it first, and a change
of its slot map must not overwrite a change made meanwhile. Both need a conditional write from the
store; these two functions give it on a local root and on S3 (the same names on both):

- :func:`create_exclusive` writes ``data`` to ``url`` only if nothing is there, and the object appears
  whole. Returns True if this call created it, False if something was there already.
  Local: written to a private temporary name, fsynced, then hard-linked into place (``link`` fails
  if the name exists). S3: ``PutObject`` with ``If-None-Match: *`` (the server refuses with 412 when
  the key exists; AWS S3 since 2024-08, and moto's server — tests/storage checks it).
- :func:`replace_if_match` replaces ``url`` with ``data`` only if its current bytes are exactly
  ``expected``; returns False (and writes nothing) otherwise or when ``url`` is missing.
  Local: writers are serialized by an exclusive ``flock`` on a sibling lock file, so two concurrent
  replacements cannot both succeed. S3: the current object's bytes and ETag are read, and the new
  bytes are put with ``If-Match: <that ETag>``, so a replacement made by anyone after the read makes
  the put fail (412) and this call return False.

A missing bucket raises :class:`~catalog.errors.RootError` naming it (never created). ``memory://``
(one process: a lock here) is served for tests and notebooks; other stores (``gs://``) are refused with
a message: they have no conditional write here.
"""
from __future__ import annotations

import fcntl
import os
import threading
import uuid

import fsspec

from catalog.errors import RootError
from catalog.storage import check_bucket, fsync_dir, is_local, is_multipart_store, local_path


def _raw(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def create_exclusive(url: str, data: bytes | str) -> bool:
    """Create ``url`` holding ``data`` if it does not exist; True if this call created it."""
    if url.startswith("memory://"):
        return _memory_create(url, _raw(data))
    if not is_local(url):
        return _s3_create(url, _raw(data))
    path = local_path(url)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(_raw(data))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails if the name exists: the first creator wins
        created = True
    except FileExistsError:
        created = False
    finally:
        os.unlink(tmp)
    if created:
        fsync_dir(parent)
    return created


def replace_if_match(url: str, data: bytes | str, expected: bytes | str) -> bool:
    """Replace ``url`` with ``data`` if it currently holds exactly ``expected``; True if replaced."""
    if url.startswith("memory://"):
        return _memory_replace(url, _raw(data), _raw(expected))
    if not is_local(url):
        return _s3_replace(url, _raw(data), _raw(expected))
    path = local_path(url)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return False  # nothing there to match
    lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            with open(path, "rb") as fh:
                if fh.read() != _raw(expected):
                    return False
        except FileNotFoundError:
            return False
        tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(_raw(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(parent)
        return True
    finally:
        os.close(lock_fd)


# memory:// lives in this process only, so a lock here serializes every writer it can have
_memory_lock = threading.Lock()


def _memory_create(url: str, data: bytes) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    try:
        with _memory_lock, fs.open(path, "xb") as fh:
            fh.write(data)
    except FileExistsError:
        return False
    return True


def _memory_replace(url: str, data: bytes, expected: bytes) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    with _memory_lock:
        try:
            if fs.cat_file(path) != expected:
                return False
        except FileNotFoundError:
            return False
        fs.pipe_file(path, data)
    return True


def _s3(url: str) -> tuple[object, str, str]:
    fs, path = fsspec.core.url_to_fs(url)
    if not is_multipart_store(fs):
        raise RootError(f"{url}: conditional writes are available on local disk and S3 only; "
                        "use a local or s3:// root")
    check_bucket(url)
    bucket, _, key = path.partition("/")
    if not key:
        raise RootError(f"{url} names a bucket, not an object: give a path inside the bucket")
    return fs, bucket, key


def _refused(exc: OSError) -> bool:
    """True when an s3fs error is the server refusing a condition: 412 ``PreconditionFailed``, or 409
    ``ConditionalRequestConflict`` (AWS: another conditional write to the key is in flight)."""
    if isinstance(exc, FileExistsError):
        return True
    cause = exc.__cause__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code in ("PreconditionFailed", "ConditionalRequestConflict")


def _s3_create(url: str, data: bytes) -> bool:
    fs, bucket, key = _s3(url)
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")  # type: ignore[attr-defined]
    except OSError as exc:
        if _refused(exc):
            return False
        raise
    finally:
        fs.invalidate_cache(f"{bucket}/{key}")  # type: ignore[attr-defined]
    return True


def _s3_replace(url: str, data: bytes, expected: bytes) -> bool:
    fs, bucket, key = _s3(url)
    path = f"{bucket}/{key}"
    try:
        etag = fs.info(path, refresh=True)["ETag"]  # type: ignore[attr-defined]
        current = fs.cat_file(path)  # type: ignore[attr-defined]
    except FileNotFoundError:
        return False
    if current != expected:
        return False
    try:
        # if the object changed after the info above, its ETag differs and the server refuses
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfMatch=etag)  # type: ignore[attr-defined]
    except FileNotFoundError:  # deleted meanwhile
        return False
    except OSError as exc:
        if _refused(exc):
            return False
        raise
    finally:
        fs.invalidate_cache(path)  # type: ignore[attr-defined]
    return True
