"""Where owner checkpoints, the volume-row log and the edit log live on the root, and reading them back.

The layout (:mod:`catalog.owner_checkpoint` writes checkpoints, :mod:`catalog.owner_edit_log` edits,
:mod:`catalog.owner_replay` reads the volume rows back)::

    ROOT/catalog-checkpoints/<catalog_id>/owner-NNNN/...     one owner's checkpoints and edits
    ROOT/catalog-checkpoints/<catalog_id>/volume-rows/...    every volume-table row (owner 0)
"""
from __future__ import annotations

import json
from typing import Any

import fsspec

from catalog.storage import write_atomic


def checkpoints_url(root: str, catalog_id: str) -> str:
    return f"{root.rstrip('/')}/catalog-checkpoints/{catalog_id}"


def owner_prefix(root: str, catalog_id: str, owner: int) -> str:
    """Where owner ``owner``'s checkpoints live on the root."""
    return f"{checkpoints_url(root, catalog_id)}/owner-{owner:04d}"


# -- the volume-row log (owner 0 writes it as rows change) -----------------------------------------
def log_volume_row(root: str, catalog_id: str, row: dict[str, Any]) -> None:
    """Write volume-table row ``row`` (with its ``number``) to the root, whole or not at all."""
    write_atomic(f"{checkpoints_url(root, catalog_id)}/volume-rows/{int(row['number']):010d}.json",
                 json.dumps(row, sort_keys=True))


def log_volume_row_of(root: str, catalog_id: str, table: Any, number: int) -> None:
    """Log row ``number`` of volume table ``table`` on a remote root (a local root's owner directories
    are on the root's own disk, so its table needs no second copy there)."""
    from catalog.storage import is_local

    if not is_local(root):
        log_volume_row(root, catalog_id, table.get(number))


def logged_volume_rows(root: str, catalog_id: str, start: int = 1) -> list[dict[str, Any]]:
    """The logged volume rows numbered ``>= start``, by number."""
    fs, base = fsspec.core.url_to_fs(f"{checkpoints_url(root, catalog_id)}/volume-rows")
    try:
        fs.invalidate_cache(base)  # s3fs caches listings per process: an owner lives long
        names = fs.ls(base, detail=False)
    except FileNotFoundError:
        return []
    wanted = sorted(p for p in names if p.endswith(".json") and int(p.rsplit("/", 1)[-1][:-5]) >= start)
    if not wanted:
        return []
    texts = fs.cat(wanted)
    return [json.loads(texts[p]) for p in wanted]


# -- checkpoint manifests ---------------------------------------------------------------------------
def _manifest_names(root: str, catalog_id: str, owner: int) -> tuple[Any, list[str]]:
    fs, base = fsspec.core.url_to_fs(f"{owner_prefix(root, catalog_id, owner)}/manifests")
    try:
        fs.invalidate_cache(base)
        return fs, sorted(p for p in fs.ls(base, detail=False) if p.endswith(".json"))
    except FileNotFoundError:
        return fs, []


def _latest_seq(root: str, catalog_id: str, owner: int) -> int:
    names = _manifest_names(root, catalog_id, owner)[1]
    return int(names[-1].rsplit("/", 1)[-1][:-5]) if names else 0


def latest_manifest(root: str, catalog_id: str, owner: int) -> dict[str, Any] | None:
    """The newest complete checkpoint manifest of owner ``owner`` (None if it never checkpointed)."""
    fs, names = _manifest_names(root, catalog_id, owner)
    return json.loads(fs.cat_file(names[-1])) if names else None
