"""Entries found under an input directory or glob: which a job reads as files, and why it does not read
the others. One rule for ingest (``ingest.file_sources``) and dedup (``dedup.sources``), which differ
only in whether they follow symbolic links (``follow_links``).

``info`` is fsspec's entry info (``type``; ``islink`` on local filesystems, where a link's ``type`` is
``other``).
"""
from __future__ import annotations

import os
from typing import Any


def is_regular_input(path: str, info: dict[str, Any], *, follow_links: bool) -> bool:
    """A regular file, or (``follow_links``) a local symbolic link to one."""
    if info.get("islink"):
        return follow_links and os.path.isfile(path)
    return info.get("type") == "file"


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
    return f"not a file ({info.get('type')})"
