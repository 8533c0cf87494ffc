"""The journal's record types, and how each is applied to the shards.

Every write that spans shards is one journal record (see :mod:`catalog.journal` for the file format and
the durability contract). Records are msgpack maps whose ``t`` names the type:

- ``ops``  — ``{"t": "ops", "s": {shard: [[cf code, key, value or None], ...], count delta]}}``: puts
  (value) and deletes (None) per shard, column families named by their code
  (:mod:`catalog.column_families`), and the change of the shard's key count.
- ``bulk`` — ``{"t": "bulk", "f": {shard: [location SST path, listing SST path or None, new keys]}}``:
  SST files staged under ``CATALOG/staging`` (see :mod:`catalog.bulk`), moved into each shard.

Applying a record is idempotent: a shard whose ``applied_seq`` has reached the record's sequence skips
it, and a staged SST file that is gone was ingested by an earlier attempt. So recovery simply applies
every complete record again.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

from catalog.errors import CatalogError
from catalog.failpoints import failpoint
from catalog.shard import Shard

OPS = "ops"
BULK = "bulk"
STAGING = "staging"
"""Directory under the catalog where bulk SST files wait until every shard ingested them."""


def ops_record(ops: dict[int, list[list[Any]]], deltas: dict[int, int]) -> dict[str, Any]:
    """An ``ops`` record: per shard, its operations and its key-count change."""
    return {"t": OPS, "s": {str(s): [ops[s], deltas.get(s, 0)] for s in ops}}


def bulk_record(files: dict[int, tuple[str, str | None, int]]) -> dict[str, Any]:
    """A ``bulk`` record: per shard, its staged (location SST, listing SST, new keys)."""
    return {"t": BULK, "f": {str(s): list(entry) for s, entry in files.items()}}


def apply_record(shards: Sequence[Shard], seq: int, record: dict[str, Any], directory: Path) -> None:
    """Apply one record to every shard that has not applied ``seq`` yet (idempotent).

    Raises :class:`CatalogError` naming ``directory`` for a record type this version does not know
    (a journal written by a newer haybale)."""
    kind = record.get("t")
    if kind == OPS:
        for shard_str, (shard_ops, delta) in record["s"].items():
            shard = shards[int(shard_str)]
            if shard.applied_seq() >= seq:
                continue
            batch = shard.new_batch()
            for code, key, value in shard_ops:
                if value is None:
                    batch.delete(key, shard.handle(code))
                else:
                    batch.put(key, value, shard.handle(code))
            shard.write(batch, delta, seq)
            failpoint("catalog.mid_apply")
    elif kind == BULK:
        # Ingestion moves a staged file into the shard (no second copy of the bytes); a staged file
        # that is gone was therefore ingested already (staged files are removed only by their
        # ingestion, or after every shard applied the record), so it is skipped.
        for shard_str, (loc_path, list_path, n_new) in record["f"].items():
            shard = shards[int(shard_str)]
            if shard.applied_seq() >= seq:
                continue
            shard.ingest_ssts(loc_path, list_path, int(n_new), seq)
            failpoint("catalog.mid_apply")
    else:
        raise CatalogError(f"unknown journal record type {kind!r} in {directory}: this catalog was "
                           "written by a newer haybale; open it with that version")


def drop_staged_files(directory: Path) -> None:
    """Remove staged SST files once recovery has applied everything (they are never needed again)."""
    stage = directory / STAGING
    if stage.is_dir():
        shutil.rmtree(stage, ignore_errors=True)
