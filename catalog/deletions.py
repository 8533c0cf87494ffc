"""The root's deletion log: a ``catalog delete`` outlives ``catalog rebuild``.

Volumes are immutable, so a deleted key's record stays in its volume (or in the WARC file indexed in
place), and a rebuild from the volumes alone would bring the key back: a takedown undone without a
word. So :meth:`catalog.store.Store.delete` first writes what it deletes to ``ROOT/deletes/`` (one
JSON Lines file per call, written whole before the catalog changes, so an acknowledged delete is on the
root), and both rebuilds leave out what the log says was deleted.

What a delete removes is **the captures of the key that existed when it was made**; a capture written
later (the key ingested again) comes back, as it does in the live catalog. Each row names the deleted
capture (the file holding it, its offset, its WARC-Date) and the moment of the delete. A rebuild leaves
out a capture of that key when both hold:

- it is the deleted capture or an older one, in the order in which the catalog keeps the latest
  capture (:mod:`catalog.captures`): WARC-Date, then file, then offset; and
- the file it was read from (the volume, or the in-place index file that lists it) was written no
  later than the delete. A capture read from a file written after the delete was registered after it
  (an older WARC ingested again, or the same WARC indexed again by a later run) and is kept.

A capture the first rule covers and the second keeps is named in the rebuild's report
(``kept_after_delete``): that is also what a root copied without its files' times looks like (every
file then looks new), so a user sees which deleted keys came back and can delete them again.
"Written no later" compares the file's modification time, as the filesystem or the object store
reports it, with the deleting machine's clock. A delete racing a registration of the same key can
delete the newer capture while its row names the older one; a rebuild then brings the newer one back.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Iterable

import fsspec

from catalog.captures import date_order
from catalog.errors import CatalogError
from catalog.storage import write_atomic

DELETES_DIR = "deletes"
_SUFFIX = ".jsonl"
DELETED = "deleted"
WRITTEN_AFTER = "written after the delete"


@dataclass(frozen=True)
class Deletion:
    """One deleted key: the capture the catalog held for it, and when it was deleted."""

    key: str  # canonical
    url: str  # the volume or in-place WARC file holding the capture; relative to the root when under it
    offset: int
    date: str  # date_order() of the capture's WARC-Date ("" when it could not be read)
    deleted_at: float  # seconds since the epoch, the deleting machine's clock

    @property
    def order(self) -> tuple[str, str, int]:
        """Where the deleted capture sorts among the key's captures (date, file, offset)."""
        return self.date or _date_digits(self.deleted_at), self.url, self.offset


def _date_digits(moment: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(moment))


def root_relative(url: str, root: str) -> str:
    """``url`` relative to ``root`` when it lies under it (``volumes/RUN/vol-….warc.gz``), else as it
    is: a root moved or mounted elsewhere still matches its deletions."""
    prefix = root.rstrip("/") + "/"
    return url[len(prefix):] if root and url.startswith(prefix) else url


def log_deletions(deletes_url: str, rows: list[Deletion]) -> str:
    """Write ``rows`` as one new file under ``deletes_url`` (whole or not at all); returns its URL."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(rows[0].deleted_at if rows else time.time()))
    url = f"{deletes_url.rstrip('/')}/{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
    write_atomic(url, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows))
    return url


@dataclass
class DeletionLog:
    """Every deletion under a root's ``deletes/``, by key, and the rule a rebuild applies."""

    by_key: dict[str, list[Deletion]] = field(default_factory=dict)
    files: int = 0
    root: str = ""  # the root the log is under: capture URLs are compared relative to it
    _written_at: dict[str, float] = field(default_factory=dict)

    def verdict(self, key: str, url: str, offset: int, date: str | None, container: str) -> str | None:
        """What a rebuild does with the capture of canonical ``key`` at ``url``/``offset`` with WARC-Date
        ``date``, read from ``container`` (the volume itself, or the in-place index file listing it):
        None (no delete covers it: registered as usual), ``DELETED`` (left out) or ``WRITTEN_AFTER``
        (a delete covers it, but its file was written after that delete: registered, and reported)."""
        deletions = self.by_key.get(key)
        if not deletions:
            return None
        order = (date_order(date), root_relative(url, self.root), offset)
        covering = [d for d in deletions if order <= d.order]
        if not covering:
            return None
        written = self._written_by(container)
        return DELETED if any(written <= d.deleted_at for d in covering) else WRITTEN_AFTER

    def _written_by(self, container: str) -> float:
        """The modification time of ``container`` in seconds; +inf when it cannot be read (the capture
        is then kept, and reported)."""
        if container not in self._written_at:
            fs, path = fsspec.core.url_to_fs(container)
            try:
                self._written_at[container] = fs.modified(path).timestamp()
            except (OSError, NotImplementedError):
                self._written_at[container] = float("inf")
        return self._written_at[container]


def load_deletions(deletes_url: str) -> DeletionLog:
    """Every row of every file under ``deletes_url`` (none if it does not exist). Raises
    :class:`CatalogError` naming the file and line of a row that cannot be read: a rebuild that
    skipped it would bring deleted keys back."""
    fs, root = fsspec.core.url_to_fs(deletes_url)
    log = DeletionLog(root=deletes_url.rstrip("/").rsplit("/", 1)[0])
    if not fs.exists(root):
        return log
    paths = sorted(p for p in fs.find(root) if p.endswith(_SUFFIX))
    # one call for every file: object stores fetch them concurrently (a root with many small delete
    # calls holds many small files), a local disk reads them in turn
    contents = fs.cat(paths, on_error="raise") if paths else {}
    for path in paths:
        log.files += 1
        data = contents[path]
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = Deletion(**json.loads(line.decode("utf-8")))
            except (ValueError, TypeError) as exc:
                raise CatalogError(
                    f"deletion log {path} line {n} cannot be read ({exc}): repair or remove that line, "
                    "then rebuild again (a rebuild without it would bring the keys it deleted back)") from exc
            log.by_key.setdefault(row.key, []).append(row)
    return log


def deletions_of(rows: Iterable[tuple[str, str, int, str | None]], deleted_at: float, root: str) -> list[Deletion]:
    """:class:`Deletion` rows from (canonical key, file URL, offset, WARC-Date) at ``deleted_at``, the
    file URLs made relative to ``root`` when under it."""
    return [Deletion(key, root_relative(url, root), offset, date_order(date), deleted_at)
            for key, url, offset, date in rows]
