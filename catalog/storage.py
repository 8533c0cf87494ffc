"""Where bytes live: local paths versus fsspec URLs, and the one way haybale writes a file atomically.

Every package asks these questions through here, so "is this URL local" has one answer: a string
without a scheme, or with ``file://``, is a local path; anything else (``s3://``, ``gs://``,
``memory://``, ``http://``) goes through fsspec.
"""
from __future__ import annotations

import json
import os
from typing import Any

import fsspec

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


def write_atomic(url: str, data: bytes | str) -> None:
    """Write ``url`` (any fsspec URL or local path) whole or not at all: a temporary name (fsynced on
    local disk), then a rename; on object stores a completed upload, then a move. Parent directories
    are created."""
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    write_atomic_on(fs, path, data, local=is_local(url))


def write_atomic_on(fs: Any, path: str, data: bytes | str, *, local: bool) -> None:
    """:func:`write_atomic` on an already resolved filesystem and path (the parent exists)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path + TMP_SUFFIX
    if local:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path))
    else:
        with fs.open(tmp, "wb") as fh:
            fh.write(raw)
        fs.mv(tmp, path)


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
