"""Which files in a ``clean-html`` destination the command wrote, so it never replaces a user's own.

``clean-html SRC DST`` writes ``DST/<name>.txt`` for each page. It used to write over any file of
that name, such as notes kept in DST or a ``page.txt`` beside ``page.html`` when DST is SRC, without
a word. Each run now lists what it wrote in ``DST/.haybale-clean-html.json``. A later run may replace
those files: rerunning into the same folder refreshes them. It replaces a file it did not write only
with ``overwrite``; otherwise :func:`refuse_foreign_outputs` raises before anything is written.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from .errors import CleanDirError

MANIFEST = ".haybale-clean-html.json"


def written_before(fs: Any, dst_root: str) -> set[str]:
    """The relative names earlier runs wrote into ``dst_root`` (none without a manifest)."""
    path = f"{dst_root}/{MANIFEST}"
    if not fs.exists(path):
        return set()
    try:
        return set(json.loads(fs.cat_file(path).decode("utf-8"))["written"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CleanDirError(f"{path} is not a clean-html manifest ({exc}): remove it, or choose another "
                            "destination") from exc


def refuse_foreign_outputs(fs: Any, dst_root: str, names: Iterable[str], overwrite: bool) -> set[str]:
    """Raise :class:`CleanDirError` when writing ``names`` (relative) would replace files in
    ``dst_root`` that no clean-html run wrote, unless ``overwrite``. Returns the earlier runs' names."""
    before = written_before(fs, dst_root)
    if overwrite:
        return before
    foreign = sorted(n for n in names if n not in before and fs.exists(f"{dst_root}/{n}"))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5:,} more" if len(foreign) > 5 else "")
        raise CleanDirError(f"clean-html would replace {len(foreign):,} files in {dst_root} that it did not write "
                            f"({shown}): choose another destination, or pass --overwrite to replace them")
    return before


def record_outputs(fs: Any, dst_root: str, names: set[str]) -> None:
    """Write the manifest: every name this and earlier runs wrote into ``dst_root``."""
    with fs.open(f"{dst_root}/{MANIFEST}", "wb") as out:
        out.write(json.dumps({"written": sorted(names)}, indent=0).encode("utf-8"))
