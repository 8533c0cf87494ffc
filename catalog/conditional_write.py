"""Conditional writes of small control files on the root: create-if-absent and replace-if-unchanged.

The catalog's meta record (:mod:`catalog.catalog_meta`) must exist exactly once per root, whoever
creates it first, and a change of its slot map must not overwrite a change made meanwhile. Both need
a conditional write from the store.

This is the **local-disk** version (issue 10, section 0: helper B provides the object-store one behind
the same two names). Other fsspec stores get :func:`create_exclusive` through the filesystem's own
exclusive-create mode (``"xb"``) where it has one (the ``memory://`` filesystem does), and a clear
error where it has none; :func:`replace_if_match` is local-only here. Contracts:

- :func:`create_exclusive` writes ``data`` to ``url`` only if nothing is there; the file appears whole
  (written to a private temporary name, fsynced, then hard-linked into place, which fails if the name
  exists). Returns True if this call created it, False if it existed.
- :func:`replace_if_match` replaces ``url`` with ``data`` only if its current bytes are ``expected``;
  returns False (and writes nothing) otherwise. Writers are serialized by an exclusive ``flock`` on a
  sibling lock file, so two concurrent replacements cannot both succeed.
"""
from __future__ import annotations

import fcntl
import os
import uuid

from catalog.errors import RootError
from catalog.storage import fsync_dir, is_local, local_path


def _local(url: str) -> str:
    if not is_local(url):
        raise RootError(f"{url}: conditional writes on object storage are not available in this build; "
                        "use a local root, or a haybale with the S3 conditional-write support")
    return local_path(url)


def create_exclusive(url: str, data: bytes | str) -> bool:
    """Create ``url`` holding ``data`` if it does not exist; True if this call created it."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not is_local(url):
        return _create_exclusive_fsspec(url, raw)
    path = local_path(url)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(raw)
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


def _create_exclusive_fsspec(url: str, raw: bytes) -> bool:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    try:
        with fs.open(path, "xb") as fh:
            fh.write(raw)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError, TypeError) as exc:
        raise RootError(f"{url}: this store offers no exclusive create ({exc}); use a local root, or a "
                        "haybale with conditional writes for this store") from exc


def replace_if_match(url: str, data: bytes | str, expected: bytes | str) -> bool:
    """Replace ``url`` with ``data`` if it currently holds exactly ``expected``; True if replaced."""
    path = _local(url)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    want = expected.encode("utf-8") if isinstance(expected, str) else expected
    parent = os.path.dirname(os.path.abspath(path))
    lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            with open(path, "rb") as fh:
                if fh.read() != want:
                    return False
        except FileNotFoundError:
            return False
        tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(parent)
        return True
    finally:
        os.close(lock_fd)
