"""The catalog manifest: schema version, slot count and the slot → shard map.

Key ids are spread over a fixed number of *slots* (the top 12 bits of the id: 4096 slots); slots map
onto shards. The map lives in ``manifest.json`` at the catalog directory, written atomically (temp
file + rename), so a reader never sees half a manifest. Opening a catalog whose schema version differs
from :data:`SCHEMA_VERSION` raises :class:`SchemaVersionError` naming both versions.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import CatalogError, SchemaVersionError
from catalog.storage import write_atomic

SCHEMA_VERSION = 1
SLOT_BITS = 12
NUM_SLOTS = 1 << SLOT_BITS
MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    """What a catalog directory holds: how many shards, and which shard owns each slot."""

    num_shards: int
    slot_map: list[int] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    created: float = field(default_factory=time.time)

    @classmethod
    def new(cls, num_shards: int) -> "Manifest":
        """Slots spread over ``num_shards`` in contiguous ranges (so a shard is one key-id range)."""
        if not 1 <= num_shards <= NUM_SLOTS:
            raise CatalogError(f"num_shards={num_shards}: choose between 1 and {NUM_SLOTS}")
        slot_map = [slot * num_shards // NUM_SLOTS for slot in range(NUM_SLOTS)]
        return cls(num_shards=num_shards, slot_map=slot_map)

    def save(self, directory: Path) -> None:
        """Write the manifest whole or not at all (:func:`catalog.storage.write_atomic`)."""
        data = {"schema_version": self.schema_version, "num_slots": NUM_SLOTS,
                "num_shards": self.num_shards, "created": self.created, "slot_map": self.slot_map}
        write_atomic(str(directory / MANIFEST_NAME), json.dumps(data))

    @classmethod
    def load(cls, directory: Path) -> "Manifest":
        path = directory / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CatalogError(f"cannot read catalog manifest {path}: {exc}") from exc
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"catalog at {directory} has schema version {version}, this haybale reads version "
                f"{SCHEMA_VERSION}: use the matching haybale release, or `haybale catalog rebuild` "
                "into a new root from the volumes"
            )
        if data.get("num_slots") != NUM_SLOTS or len(data.get("slot_map", [])) != NUM_SLOTS:
            raise CatalogError(f"catalog manifest {path} has a bad slot map: restore it or rebuild")
        return cls(num_shards=int(data["num_shards"]), slot_map=list(data["slot_map"]),
                   schema_version=version, created=float(data.get("created", 0.0)))
