"""The catalog's meta record: one root, one catalog.

``ROOT/catalog-meta.json`` names the catalog (a random id), its epoch and which owner serves each of
the 4096 slots (the top 12 bits of a key id, :mod:`catalog.manifest`)::

    {"schema_version": 1, "catalog_id": "c-…", "epoch": 1, "num_slots": 4096, "created": …,
     "owners": [{"owner": 0, "slots": [[0, 1024]]}, …]}

Contracts:

- The record is created once with a conditional create (:func:`catalog.conditional_write.create_exclusive`):
  two processes creating a catalog on one root at once end with one record, and both use it.
  :func:`create_meta` on a root that already has one raises :class:`CatalogExistsError` naming the
  root, the existing id and the fix.
- The epoch grows whenever the slot → owner map changes (:func:`reassign_slots`, a conditional
  replace: a concurrent change makes it fail rather than be lost). Owners and clients compare epochs
  (:class:`WrongEpochError`) and reload the record when theirs is old.
- Each owner's store is an embedded catalog directory ``<catalog disk>/owner-<i:04d>/``
  (:func:`owner_dir`), holding only that owner's slots.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np

from catalog.conditional_write import create_exclusive, replace_if_match
from catalog.errors import CatalogError
from catalog.manifest import NUM_SLOTS, SCHEMA_VERSION, SLOT_BITS

META_NAME = "catalog-meta.json"
DEFAULT_OWNERS = 4


def embedded_owners(cpus: int) -> int:
    """Owners of a catalog created on the embedded default (the root's local head of ``cpus`` CPUs): one
    per CPU, from 2 to :data:`DEFAULT_OWNERS`. Each owner is a Ray worker process (~0.6 CPU s to start
    here) that registration keeps busy; more owners than cores only add processes competing for them.
    A catalog keeps the owners it was created with (the meta record); a cluster's default stays 4."""
    return max(2, min(DEFAULT_OWNERS, cpus))


class CatalogExistsError(CatalogError):
    """A catalog was to be created on a root that already has one."""


class WrongEpochError(CatalogError):
    """An owner was addressed with a slot map older (or newer) than its own: reload the meta record."""


@dataclass
class CatalogMeta:
    """The parsed meta record. ``owners[i]`` is the list of [lo, hi) slot ranges owner i serves."""

    catalog_id: str
    epoch: int
    owners: list[list[list[int]]]
    created: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION
    raw: str = ""  # the record's bytes as read (what a conditional replace must match)

    @property
    def num_owners(self) -> int:
        return len(self.owners)

    def slot_owner(self) -> np.ndarray:
        """int32 array: slot -> owner."""
        out = np.full(NUM_SLOTS, -1, dtype=np.int32)
        for owner, ranges in enumerate(self.owners):
            for lo, hi in ranges:
                out[lo:hi] = owner
        return out

    def slots_of(self, owner: int) -> np.ndarray:
        """bool mask over slots: the slots ``owner`` serves."""
        return self.slot_owner() == owner

    def to_json(self) -> str:
        return json.dumps({"schema_version": self.schema_version, "catalog_id": self.catalog_id,
                           "epoch": self.epoch, "num_slots": NUM_SLOTS, "created": self.created,
                           "owners": [{"owner": i, "slots": r} for i, r in enumerate(self.owners)]}, indent=1)

    @classmethod
    def from_json(cls, text: str, where: str) -> "CatalogMeta":
        try:
            data = json.loads(text)
            owners = [list(map(list, o["slots"])) for o in sorted(data["owners"], key=lambda o: o["owner"])]
            meta = cls(str(data["catalog_id"]), int(data["epoch"]), owners, float(data.get("created", 0.0)),
                       int(data["schema_version"]), text)
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"catalog meta record {where} is unreadable ({exc}): restore it from a backup "
                               "or rebuild the catalog into a new root") from exc
        if data.get("num_slots") != NUM_SLOTS or (meta.slot_owner() < 0).any():
            raise CatalogError(f"catalog meta record {where} does not map all {NUM_SLOTS} slots to owners: "
                               "restore it or rebuild the catalog")
        return meta


def meta_url(root: str) -> str:
    return f"{root.rstrip('/')}/{META_NAME}"


def even_owners(num_owners: int) -> list[list[list[int]]]:
    """``num_owners`` contiguous slot ranges of (nearly) equal size."""
    if not 1 <= num_owners <= NUM_SLOTS:
        raise CatalogError(f"owners={num_owners}: choose between 1 and {NUM_SLOTS}")
    bounds = [i * NUM_SLOTS // num_owners for i in range(num_owners + 1)]
    return [[[bounds[i], bounds[i + 1]]] for i in range(num_owners)]


def load_meta(root: str) -> CatalogMeta | None:
    """The root's meta record, or None if it has none."""
    url = meta_url(root)
    fs, path = fsspec.core.url_to_fs(url)
    try:
        with fs.open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        return None
    return CatalogMeta.from_json(text, url)


def create_meta(root: str, num_owners: int = DEFAULT_OWNERS) -> CatalogMeta:
    """Create the root's meta record; :class:`CatalogExistsError` if the root has one already."""
    meta = CatalogMeta(f"c-{uuid.uuid4().hex[:12]}", 1, even_owners(num_owners))
    text = meta.to_json()
    if not create_exclusive(meta_url(root), text):
        existing = load_meta(root)
        ident = existing.catalog_id if existing else "?"
        raise CatalogExistsError(f"root {root} already has catalog {ident} ({meta_url(root)}): one root holds "
                                 "one catalog; use that root as it is, or give another --root")
    meta.raw = text
    return meta


def fresh_meta(like: CatalogMeta | None, num_owners: int = DEFAULT_OWNERS) -> CatalogMeta:
    """A new catalog's record, written nowhere yet: a new id, epoch 1, and ``like``'s slot map (else
    ``num_owners`` even ranges). A rebuild's target gets one, so that nothing the root keeps under the
    old catalog's id (owner markers, checkpoints, edit logs, volume rows) is taken for the new one's."""
    owners = [[list(r) for r in ranges] for ranges in like.owners] if like is not None else even_owners(num_owners)
    return CatalogMeta(f"c-{uuid.uuid4().hex[:12]}", 1, owners)


def adopt_meta(root: str, new: CatalogMeta, current: CatalogMeta | None) -> None:
    """Make ``new`` the root's record in place of ``current`` (None: the root has none), as a
    conditional replace; raises :class:`CatalogError` if the record changed meanwhile."""
    text = new.to_json()
    done = create_exclusive(meta_url(root), text) if current is None else replace_if_match(meta_url(root), text,
                                                                                               current.raw)
    if not done:
        raise CatalogError(f"catalog meta record {meta_url(root)} changed while the catalog was rebuilt: another "
                           "command created or changed the root's catalog; rebuild again")
    new.raw = text


def ensure_meta(root: str, num_owners: int = DEFAULT_OWNERS) -> CatalogMeta:
    """The root's meta record, created (with ``num_owners`` owners) if it has none; a creator racing
    with this one wins or loses cleanly and both return the same record."""
    meta = load_meta(root)
    if meta is not None:
        return meta
    try:
        return create_meta(root, num_owners)
    except CatalogExistsError:
        meta = load_meta(root)
        assert meta is not None
        return meta


def reassign_slots(root: str, current: CatalogMeta, owners: list[list[list[int]]]) -> CatalogMeta:
    """Replace the slot map (epoch + 1) if the record is still ``current``; raises
    :class:`WrongEpochError` if someone changed it meanwhile (reload and decide again). Moving the
    data of the slots is the caller's business."""
    new = CatalogMeta(current.catalog_id, current.epoch + 1, owners, current.created)
    new.slot_owner()  # validates
    text = new.to_json()
    if not replace_if_match(meta_url(root), text, current.raw):
        raise WrongEpochError(f"catalog meta record {meta_url(root)} changed since epoch {current.epoch}: "
                              "reload it and retry")
    new.raw = text
    return new


def owner_dir(catalog_disk: Path, owner: int) -> Path:
    """Owner ``owner``'s embedded catalog directory."""
    return Path(catalog_disk) / f"owner-{owner:04d}"


def slots_of_ids(ids: np.ndarray) -> np.ndarray:
    """Slot of each key id ((n, 16) uint8 array)."""
    return (ids[:, 0].astype(np.int32) << 4) | (ids[:, 1].astype(np.int32) >> (8 - (SLOT_BITS - 8)))
