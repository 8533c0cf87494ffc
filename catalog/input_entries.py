"""Entries found under an input directory or glob: which a job reads as files, and why it does not read
the others. One rule for ingest (``ingest.file_sources``) and dedup (``dedup.sources``), which differ
only in whether they follow symbolic links (``follow_links``).

``info`` is fsspec's entry info (``type``; ``islink`` on local filesystems, where a link's ``type`` is
``other``). On object stores an empty object whose key ends in ``/`` is a "directory marker" (what a
console's "Create folder" writes): it is not read and is reported as such; an object whose key ends in
``/`` and that holds bytes is a file like any other.
"""
from __future__ import annotations

import os
from typing import Any


def is_regular_input(path: str, info: dict[str, Any], *, follow_links: bool) -> bool:
    """A regular file, or (``follow_links``) a local symbolic link to one."""
    if info.get("islink"):
        return follow_links and os.path.isfile(path)
    return info.get("type") == "file" and not is_directory_marker(path, info)


def is_directory_marker(path: str, info: dict[str, Any]) -> bool:
    """An empty object whose key ends in ``/`` (an object store's placeholder for a folder)."""
    return path.endswith("/") and not int(info.get("size") or 0)


def not_read_reason(path: str, info: dict[str, Any], *, local: bool, follow_links: bool) -> str:
    """Why an entry that is neither a directory nor :func:`is_regular_input` is not read."""
    if local and info.get("islink"):
        if not os.path.exists(path):
            return "a symbolic link to nothing (its target does not exist)"
        if follow_links:
            return ("a symbolic link to a directory or to what is not a regular file, not followed: give its "
                    "target as an input")
        return ("a symbolic link inside an input directory, not followed: pass --follow-links, or give the link "
                "or its target as an input, to read it")
    if local:
        return "not a regular file (a FIFO, socket or device)"
    if is_directory_marker(path, info):
        return "a directory marker (an empty object whose key ends in '/'), not a file"
    return f"not a file ({info.get('type')})"
