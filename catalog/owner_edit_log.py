"""The owners' edit log on the root: marks and deletes made since a checkpoint survive a lost owner.

A restore (:mod:`catalog.owner_checkpoint`) rebuilds an owner from its latest checkpoint plus the
volumes sealed since, read back from their CDXJ sidecars. Sidecars hold registrations only: a mark
(``dedup run`` with marks, ``catalog mark``) or a delete (``catalog delete``) acknowledged after the
checkpoint would be lost with the node. So on a remote root each owner writes every mark and delete
call to the root **before applying it**, as one immutable object::

    ROOT/catalog-checkpoints/<catalog_id>/owner-NNNN/edits/<seq:016d>-<kind>.msgpack

``seq`` grows by one per call (the next number after the highest on the root, read once per store).
A checkpoint records the highest ``seq`` it holds; a restore replays, in ``seq`` order, every edit
after the one recorded at its replay point (the same earlier checkpoint the volume replay starts
from), *after* the volumes. The volume replay may put back a key deleted later; the delete, replayed
after it, removes it again. A key **registered again after a delete** must then come back, and the
volume replay cannot say whether its registration came before or after the delete. So while a
delete can still be replayed (its seq is after the latest checkpoint's replay point) the owner
remembers the deleted key, and a later registration of it is logged too (kind ``register``, with the
location the key has once the call applied); replayed in order, delete then register, the key ends
where it was. Marks are independent of registrations; a delete clears the key's mark.

Only calls that apply are logged: a mark of an unregistered key raises before anything is written.
Writing a mark or delete first means a call whose log write fails applies nothing (the caller sees the
error and retries); a call logged but not applied (the process died in between) replays as if it had
applied, and its caller, which got no acknowledgement, retries the same edit. A registration is logged
after it applied and before it is acknowledged. A local root keeps no log: its owner directories are
on the root's own disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import fsspec
import msgpack
import numpy as np

from catalog.storage import is_local, write_atomic

KINDS = ("mark", "delete", "register")


def edits_url(root: str, catalog_id: str, owner: int) -> str:
    from catalog.checkpoint_layout import owner_prefix

    return f"{owner_prefix(root, catalog_id, owner)}/edits"


def _edit_names(root: str, catalog_id: str, owner: int) -> tuple[Any, list[tuple[int, str, str]]]:
    """(filesystem, [(seq, kind, path)] sorted by seq) of the owner's logged edits."""
    fs, base = fsspec.core.url_to_fs(edits_url(root, catalog_id, owner))
    try:
        fs.invalidate_cache(base)
        paths = fs.ls(base, detail=False)
    except FileNotFoundError:
        return fs, []
    named = []
    for path in paths:
        stem = path.rsplit("/", 1)[-1]
        if stem.endswith(".msgpack"):
            seq, _, kind = stem[:-len(".msgpack")].partition("-")
            named.append((int(seq), kind, path))
    return fs, sorted(named)


class EditLog:
    """Owner ``owner``'s edit log on ``root`` (a remote root; see the module docstring)."""

    def __init__(self, root: str, catalog_id: str, owner: int) -> None:
        self.root, self.catalog_id, self.owner = root, catalog_id, owner
        self._last: int | None = None  # highest seq on the root, read once
        self._deleted: dict[bytes, tuple[str, int]] | None = None  # key id -> (key, seq of its delete)

    @staticmethod
    def wanted(root: str | None) -> bool:
        """Whether an owner on ``root`` keeps an edit log (remote roots only)."""
        return root is not None and not is_local(root)

    def last_seq(self) -> int:
        """The highest seq logged so far (0: none)."""
        if self._last is None:
            names = _edit_names(self.root, self.catalog_id, self.owner)[1]
            self._last = names[-1][0] if names else 0
        return self._last

    def append(self, kind: str, rows: Sequence[Sequence[Any]]) -> int:
        """Log one ``kind`` call of ``rows`` on the root, whole; returns its seq."""
        assert kind in KINDS, kind
        seq = self.last_seq() + 1
        body = msgpack.packb({"kind": kind, "rows": [list(r) for r in rows]}, use_bin_type=True)
        write_atomic(f"{edits_url(self.root, self.catalog_id, self.owner)}/{seq:016d}-{kind}.msgpack", body)
        self._last = seq
        return seq

    # -- what the owner logs (the catalog calls these after its checks, before it writes) ----------
    def log_marks(self, rows: list[tuple[str, str, str]]) -> None:
        """Log a ``mark_many`` call of canonical ``rows`` (:meth:`Catalog.mark_many`'s ``before_commit``)."""
        self.append("mark", rows)

    def log_deletes(self, keys: list[str]) -> None:
        """Log a ``delete_many`` call of the canonical ``keys`` that exist, and remember them."""
        from catalog.keys import key_id

        deleted = self.deleted()  # loaded before this seq exists, so it is added once, below
        seq = self.append("delete", [[k] for k in keys])
        deleted.update((key_id(k), (k, seq)) for k in keys)

    def log_registrations(self, catalog: Any, ids: np.ndarray, key_at: Callable[[int], str]) -> None:
        """After a registration of ``ids`` (n x 16 uint8) applied: log the keys among them deleted
        while that delete can still be replayed, with the location each has now. ``key_at(i)`` gives
        the canonical key of row ``i``."""
        deleted = self.deleted()
        if not deleted or not len(ids):
            return
        wanted = np.array(list(deleted), dtype="V16")
        hits = np.flatnonzero(np.isin(np.ascontiguousarray(ids).view("V16").ravel(), wanted)).tolist()
        if not hits:
            return
        keys = list(dict.fromkeys(key_at(i) for i in hits))
        from catalog.keys import key_id

        rows = [[k, bytes(v)] for k, v in zip(keys, catalog.get_many_ids([key_id(k) for k in keys])) if v is not None]
        if rows:
            self.append("register", rows)

    # -- keys whose delete can still be replayed -------------------------------------------------
    def deleted(self) -> dict[bytes, tuple[str, int]]:
        """Key id -> (key, delete seq) of the deletes after the latest checkpoint's replay point."""
        if self._deleted is None:
            from catalog.checkpoint_layout import latest_manifest
            from catalog.keys import key_id

            manifest = latest_manifest(self.root, self.catalog_id, self.owner)
            after = int(manifest["watermark"].get("edits_from", 0)) if manifest else 0
            fs, names = _edit_names(self.root, self.catalog_id, self.owner)
            self._deleted = {}
            for seq, kind, path in names:
                if kind == "delete" and seq > after:
                    for row in msgpack.unpackb(fs.cat_file(path), raw=False)["rows"]:
                        self._deleted[key_id(row[0])] = (row[0], seq)
        return self._deleted

    def forget_through(self, seq: int) -> None:
        """A checkpoint moved the replay point to ``seq``: deletes up to it are never replayed again."""
        if self._deleted is not None:
            self._deleted = {kid: v for kid, v in self._deleted.items() if v[1] > seq}

    def prune_through(self, seq: int) -> int:
        """Delete the logged edits numbered ``<= seq`` (no kept checkpoint replays them); returns how many."""
        fs, names = _edit_names(self.root, self.catalog_id, self.owner)
        stale = [path for s, _, path in names if s <= seq]
        if stale:
            fs.rm(stale)
        return len(stale)


@dataclass
class EditReplay:
    """What replaying the edit log into a restored owner did."""

    edits: int = 0
    marks_set: int = 0
    marks_on_absent_keys: int = 0
    deletes_applied: int = 0
    deletes_of_absent_keys: int = 0
    registrations: int = 0
    last_seq: int = 0
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def replay_edits(store: Any, root: str, after: int) -> EditReplay:
    """Apply to owner store ``store`` (already holding its checkpoint and the replayed volumes) every
    logged edit numbered ``> after``, in order (see the module docstring). The edits go to the
    store's catalog directly: they are not logged again."""
    from catalog.keys import key_id
    from catalog.location import Location

    out = EditReplay()
    fs, names = _edit_names(root, store.meta.catalog_id, store.owner)
    catalog = store.catalog
    for seq, kind, path in names:
        out.last_seq = max(out.last_seq, seq)
        if seq <= after:
            continue
        try:
            rows = msgpack.unpackb(fs.cat_file(path), raw=False)["rows"]
        except (OSError, ValueError, KeyError, msgpack.UnpackException) as exc:
            out.unreadable.append({"edit": seq, "url": path, "reason": f"unreadable edit ({exc!r})"})
            continue
        out.edits += 1
        if kind == "register":
            result = catalog.register_many((key, Location.unpack(loc)) for key, loc in rows)
            out.registrations += result.added + result.updated + result.unchanged
            continue
        current = catalog.get_many_ids([key_id(row[0]) for row in rows])
        present = [row for row, cur in zip(rows, current) if cur is not None]
        if kind == "mark":
            out.marks_on_absent_keys += len(rows) - len(present)  # deleted later in the log
            if present:
                out.marks_set += catalog.mark_many([tuple(row) for row in present])
        elif kind == "delete":
            out.deletes_of_absent_keys += len(rows) - len(present)
            if present:
                out.deletes_applied += catalog.delete_many([row[0] for row in present])
        else:
            out.unreadable.append({"edit": seq, "url": path, "reason": f"unknown edit kind {kind!r}"})
    return out
