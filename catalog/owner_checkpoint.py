"""Owner checkpoints on the root, and restoring a lost owner from them (issue 10).

An owner's directory lives on its node's local disk; when the node dies the directory goes with it.
So each owner copies its RocksDB databases to the root as **immutable files uploaded incrementally**
and a small manifest per checkpoint::

    ROOT/catalog-checkpoints/<catalog_id>/owner-NNNN/files/<token>-<db>-<file>   immutable, never rewritten
    ROOT/catalog-checkpoints/<catalog_id>/owner-NNNN/manifests/<seq:010d>.json   one per checkpoint, written last
    ROOT/catalog-checkpoints/<catalog_id>/volume-rows/<number:010d>.json         every volume-table row (owner 0)

A checkpoint flushes the owner (memtables to SST files; the journal is then empty), takes a RocksDB
checkpoint (hard links) of its shard and, for owner 0, of its volume table, and uploads the files the
root does not have yet: SST files are immutable and never renumbered within one directory's life, so
each is uploaded once (``checkpoint-state.json`` in the owner directory remembers which); the small
MANIFEST/OPTIONS/CURRENT files are uploaded per checkpoint. ``<token>`` is fresh for every directory
(a restored directory gets a new one), so a file number RocksDB reuses after a restore never collides
with a file the lost directory uploaded. The manifest goes last: a checkpoint is visible only whole.

**Watermark.** Volume numbers grow in the order volumes are sealed, and a sealed volume's row is
logged on the root (``volume-rows/``) before any of its records is registered. A checkpoint records
the next volume number at its start; a restore re-registers, from the sidecars of the logged volumes,
every record of the volumes numbered from the checkpoint's ``replay_from``: the next number of the
latest earlier checkpoint taken at least ``GRACE`` seconds before (default 600 s). That covers a
registration acknowledged after the checkpoint whose volume was sealed a little before it, as long as
no registration lands more than ``GRACE`` after its volume was sealed (the workers register right
after sealing, in the same task). Registration is idempotent by key and digest, so records the
checkpoint already holds are counted unchanged. Owner 0's restore puts the logged rows back into its
volume table with their numbers.

**Marks and deletes** are not in the sidecars: on a remote root each owner logs them on the root
before applying them (:mod:`catalog.owner_edit_log`), and a checkpoint records the last one it holds
(``edits_through``). A restore replays, after the volumes, the edits logged since the same replay
point (``edits_from``: the ``edits_through`` of the checkpoint whose next volume is ``replay_from``),
so a delete made before the checkpoint is not undone by re-registering its volume.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec

from catalog.checkpoint_layout import (  # noqa: F401 - re-exported: the checkpoints' public names
    _latest_seq,
    _manifest_names,
    checkpoints_url,
    latest_manifest,
    log_volume_row,
    log_volume_row_of,
    logged_volume_rows,
    owner_prefix,
)
from catalog.storage import is_local, write_atomic

STATE_NAME = "checkpoint-state.json"
GRACE_SECONDS = float(os.environ.get("HAYBALE_CHECKPOINT_GRACE_SECONDS", "600"))
KEEP = int(os.environ.get("HAYBALE_CHECKPOINTS_KEPT", "3"))  # checkpoints kept per owner (older ones deleted)
HISTORY = 64  # (time, next volume) pairs of earlier checkpoints kept in each manifest
DATABASES = ("shard-0000", "volumes")  # an owner directory's RocksDB databases (volumes: owner 0's table)


# -- taking a checkpoint ---------------------------------------------------------------------------
def _load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_NAME
    if path.exists():
        return json.loads(path.read_text())
    return {"token": uuid.uuid4().hex[:12], "uploaded": {}, "seq": 0, "history": []}


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE_NAME + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, directory / STATE_NAME)


def replay_start(history: list[list[float]], now: float, grace: float) -> int:
    """The first volume number a restore from a checkpoint taken at ``now`` re-registers: the next
    number of the latest earlier checkpoint at least ``grace`` seconds old (1 if none)."""
    return replay_point(history, now, grace)[0]


def replay_point(history: list[list[float]], now: float, grace: float) -> tuple[int, int]:
    """(first volume number, last edit seq not replayed) of a restore from a checkpoint taken at
    ``now``: those of the latest earlier checkpoint at least ``grace`` seconds old ((1, 0) if none:
    everything is replayed). History entries are ``[time, next_volume, edits_through]`` (entries
    written before the edit log have no third item: their edits are all replayed)."""
    old = [h for h in history if h[0] <= now - grace]
    if not old:
        return 1, 0
    latest = max(old, key=lambda h: int(h[1]))
    return int(latest[1]), int(latest[2]) if len(latest) > 2 else 0


def _pruned(history: list[list[float]], now: float, grace: float) -> list[list[float]]:
    """The entries a later :func:`replay_start` can still pick: the newest one at least ``grace`` old
    and every newer one (at most ``HISTORY``)."""
    old = [h for h in history if h[0] <= now - grace]
    return (old[-1:] + [h for h in history if h[0] > now - grace])[-HISTORY:]


def checkpoint_owner(store: Any, root: str, next_volume: int, *, grace: float | None = None) -> dict[str, Any]:
    """Checkpoint :class:`~catalog.owner_store.OwnerStore` ``store`` to ``root``; ``next_volume`` is
    the volume table's next number, read before this call. Returns the manifest written. The caller
    serializes this with the store's writes (the owner actor runs one call at a time)."""
    import rocksdict as rd

    started = time.time()
    grace = GRACE_SECONDS if grace is None else grace
    directory = Path(store.directory)
    catalog = store.catalog
    catalog.checkpoint()  # memtables to SST files, journal emptied: the databases hold everything acknowledged
    catalog.volumes.db.flush(wait=True)
    state = _load_state(directory)
    prefix = owner_prefix(root, store.meta.catalog_id, store.owner)
    # after the root's newest: a directory that never checkpointed (a rebuilt one) must not hide behind it
    seq = max(int(state["seq"]), _latest_seq(root, store.meta.catalog_id, store.owner)) + 1
    fs, base = fsspec.core.url_to_fs(prefix)
    if is_local(root):  # a local filesystem does not create parents on put (object stores have none)
        os.makedirs(f"{base}/files", exist_ok=True)
    scratch = directory / ".checkpoint-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    files: dict[str, dict[str, str]] = {}
    uploaded_bytes = reused_bytes = 0
    try:
        databases = {"shard-0000": catalog.shards[0].db}
        if store.owner == 0:
            databases["volumes"] = catalog.volumes.db
        for name, db in databases.items():
            target = scratch / name
            rd.Checkpoint(db).create_checkpoint(str(target))  # hard links of the live SST files
            files[name] = {}
            for entry in sorted(os.listdir(target)):
                local = target / entry
                immutable = entry.endswith(".sst")
                known = state["uploaded"].get(f"{name}/{entry}") if immutable else None
                if known is not None:
                    files[name][entry] = known
                    reused_bytes += local.stat().st_size
                    continue
                suffix = entry if immutable else f"c{seq:010d}-{entry}"
                obj = f"files/{state['token']}-{name}-{suffix}"
                fs.put_file(str(local), f"{base}/{obj}")
                uploaded_bytes += local.stat().st_size
                files[name][entry] = obj
                if immutable:
                    state["uploaded"][f"{name}/{entry}"] = obj
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # forget uploads of files no longer live (compacted away): they are never listed again
    live = {f"{name}/{entry}" for name, entries in files.items() for entry in entries}
    state["uploaded"] = {k: v for k, v in state["uploaded"].items() if k in live}
    history = _pruned(state.get("history", []), started, grace)
    replay_from, edits_from = replay_point(history, started, grace)
    # every mark and delete applied so far is in the databases just copied (calls are serialized)
    edits_through = store.edit_log.last_seq() if getattr(store, "edit_log", None) is not None else 0
    manifest = {
        "catalog_id": store.meta.catalog_id, "owner": store.owner, "seq": seq, "token": state["token"],
        "created": started, "epoch": store.epoch, "records": catalog.shards[0].count(),
        "watermark": {"time": started, "next_volume": int(next_volume),
                      "replay_from": min(replay_from, int(next_volume)),
                      "edits_through": edits_through, "edits_from": min(edits_from, edits_through)},
        "manifest_json": (directory / "manifest.json").read_text(),
        "files": files, "uploaded_bytes": uploaded_bytes, "reused_bytes": reused_bytes,
    }
    write_atomic(f"{prefix}/manifests/{seq:010d}.json", json.dumps(manifest, sort_keys=True))
    state["seq"] = seq
    state["history"] = history + [[started, int(next_volume), edits_through]]
    if getattr(store, "edit_log", None) is not None:
        store.edit_log.forget_through(manifest["watermark"]["edits_from"])
    _save_state(directory, state)
    manifest["deleted_files"] = retain(root, store.meta.catalog_id, store.owner)
    manifest["seconds"] = time.time() - started
    return manifest


def retain(root: str, catalog_id: str, owner: int, keep: int | None = None) -> int:
    """Delete owner ``owner``'s checkpoints but the newest ``keep`` (default ``KEEP``, at least 2, so a
    restore reading the previous one while a new one lands still finds its files), then every file
    none of the kept manifests names (compacted-away SST files; uploads of a lost directory after its
    last manifest). Returns how many files were deleted."""
    keep = max(2, KEEP if keep is None else keep)
    fs, names = _manifest_names(root, catalog_id, owner)
    if len(names) <= keep:
        return 0
    kept = names[-keep:]
    texts = fs.cat(kept)
    wanted = {obj for p in kept for entries in json.loads(texts[p])["files"].values() for obj in entries.values()}
    _, base = fsspec.core.url_to_fs(owner_prefix(root, catalog_id, owner))
    fs.invalidate_cache(f"{base}/files")
    stale = [p for p in fs.ls(f"{base}/files", detail=False) if p[len(base) + 1:] not in wanted]
    stale += names[:-keep]
    if stale:
        fs.rm(stale)
    from catalog.owner_edit_log import EditLog

    if EditLog.wanted(root):  # edits before every kept checkpoint's replay point are never replayed again
        oldest = min(int(json.loads(texts[p])["watermark"].get("edits_from", 0)) for p in kept)
        EditLog(root, catalog_id, owner).prune_through(oldest)
    return len(stale) - (len(names) - keep)


# -- restoring -------------------------------------------------------------------------------------
@dataclass
class RestoreReport:
    """What a restore did: the checkpoint used and what was re-registered since its watermark."""

    owner: int
    checkpoint_seq: int
    checkpoint_records: int
    replay_from: int
    volumes_replayed: int = 0
    records_replayed: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    volume_rows_restored: int = 0
    not_replayed: list[dict[str, Any]] = field(default_factory=list)
    edits: dict[str, Any] = field(default_factory=dict)  # catalog.owner_edit_log.EditReplay's counts
    download_seconds: float = 0.0
    replay_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def download_checkpoint(root: str, manifest: dict[str, Any], directory: Path) -> None:
    """Materialize checkpoint ``manifest`` as owner directory ``directory`` (which must not exist):
    files fetched into ``<directory>.restoring``, then one rename. The new directory gets a fresh
    token and knows its SST files are already on the root."""
    prefix = owner_prefix(root, manifest["catalog_id"], manifest["owner"])
    fs, base = fsspec.core.url_to_fs(prefix)
    staging = directory.with_name(directory.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    uploaded: dict[str, str] = {}
    for name, entries in manifest["files"].items():
        (staging / name).mkdir()
        for entry, obj in entries.items():
            fs.get_file(f"{base}/{obj}", str(staging / name / entry))
            if entry.endswith(".sst"):
                uploaded[f"{name}/{entry}"] = obj
    (staging / "manifest.json").write_text(manifest["manifest_json"])
    _save_state(staging, {"token": uuid.uuid4().hex[:12], "uploaded": uploaded, "seq": int(manifest["seq"]),
                          "history": [[manifest["watermark"]["time"], manifest["watermark"]["next_volume"]]]})
    os.replace(staging, directory)
