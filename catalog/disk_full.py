"""Telling a full disk apart from other failures, wherever it surfaces: an ``OSError`` with ENOSPC or
EDQUOT (Python, pyarrow, fsspec), or RocksDB's ``IO error: No space left on device`` (rocksdict raises
a plain ``Exception``), possibly wrapped by a Ray task (``cause``) or raised from another exception."""
from __future__ import annotations

import errno

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_ROCKSDB_FULL = ("No space left on device", "Disk quota exceeded")


def disk_full(exc: BaseException) -> bool:
    """True if ``exc``, or anything it was raised from or wraps, says a disk is full or over quota."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _FULL_ERRNOS:
            return True
        if rocksdb_io_error(e) and any(s in str(e) for s in _ROCKSDB_FULL):
            return True
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return False


def rocksdb_io_error(exc: BaseException) -> bool:
    """True if ``exc`` is RocksDB's I/O error (rocksdict raises a plain ``Exception`` with its message),
    after which a RocksDB instance refuses writes until it is opened again."""
    return type(exc) is Exception and str(exc).startswith("IO error: ")
