"""Marks and deletes made after an owner's checkpoint survive the loss of its node (issue 10): the owners
log them on the S3 root (moto's server on loopback) and a restore on another node's empty disk replays
them after the volumes. The owners' bodies run in this process (the actor wraps exactly this class)."""
from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import pytest

from catalog.catalog_meta import ensure_meta, slots_of_ids
from catalog.errors import KeyNotFoundError
from catalog.keys import canonical_key, key_id
from catalog.owner_actor import OwnerServer
from catalog.owner_edit_log import edits_url
from tests.storage.test_owner_checkpoint import _register, _seal


def _state(owners: list[OwnerServer], meta, keys: list[str]) -> dict[str, tuple[bytes | None, tuple | None]]:
    """Every key's (packed location, mark) as the owners hold it (None where absent)."""
    out = {}
    owner_of = meta.slot_owner()
    for key in keys:
        kid = key_id(canonical_key(key))
        o = owners[int(owner_of[slots_of_ids(np.frombuffer(kid, np.uint8).reshape(1, 16))[0]])]
        loc = o.store.catalog.get_many_ids([kid])[0]
        out[key] = (None if loc is None else bytes(loc), o.store.catalog.mark_of(key))
    return out


def _mark(owners, meta, rows):
    """Route (key, status, reason) rows to their owners as OwnedCatalog.mark_many does."""
    return _routed(owners, meta, [r[0] for r in rows], lambda o, idx: o.call(
        "mark_many", [rows[i] for i in idx], meta.epoch))


def _delete(owners, meta, keys):
    return _routed(owners, meta, keys, lambda o, idx: o.call("delete_many", [keys[i] for i in idx], meta.epoch))


def _routed(owners, meta, keys, call) -> int:
    ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in keys), np.uint8).reshape(-1, 16)
    owner_of = meta.slot_owner()[slots_of_ids(ids)]
    return sum(call(owners[o], np.flatnonzero(owner_of == o).tolist()) for o in range(len(owners))
               if (owner_of == o).any())


def test_marks_and_deletes_since_the_checkpoint_come_back_after_a_restore(
        s3_bucket: str, tmp_path: Path, monkeypatch) -> None:
    import catalog.owner_checkpoint as oc

    monkeypatch.setattr(oc, "GRACE_SECONDS", 0.0)  # the restore replays from the previous checkpoint on
    root = f"s3://{s3_bucket}/hb"
    meta = ensure_meta(root, 2)
    owners = [OwnerServer(root, str(tmp_path / "node-a"), i) for i in range(2)]
    first = [f"https://first.example/{i}" for i in range(200)]
    second = [f"https://second.example/{i}" for i in range(200)]
    _register(owners, meta, _seal(root, "a", first))
    nxt = owners[0].next_volume_number()
    for o in owners:
        o.checkpoint_to_root(nxt)
    _register(owners, meta, _seal(root, "b", second))
    # between the checkpoints: marks, and deletes of keys whose volume the restore will register again
    _mark(owners, meta, [(k, "duplicate", f"of {first[0]}") for k in second[:50]])
    assert _delete(owners, meta, second[100:130]) == 30
    nxt = owners[0].next_volume_number()
    for o in owners:
        o.checkpoint_to_root(nxt)
    # after the last checkpoint: more marks, deletes of checkpointed keys, a delete of a marked key that
    # is then registered again at a new location, a mark changed, and a delete of an absent key
    _mark(owners, meta, [(k, "ads", "boilerplate") for k in first[:40]])
    _mark(owners, meta, [(second[0], "kept", "changed my mind")])
    assert _delete(owners, meta, first[150:170] + ["https://never.example/x"]) == 20
    _mark(owners, meta, [(first[199], "duplicate", "x")])
    assert _delete(owners, meta, [first[199], first[198]]) == 2
    _register(owners, meta, _seal(root, "c", [first[199], first[198]]))
    universe = first + second + ["https://never.example/x"]
    before = _state(owners, meta, universe)
    assert before[first[199]][0] is not None and before[first[199]][1] is None  # registered again, unmarked
    assert before[second[120]] == (None, None) and before[first[160]] == (None, None)
    assert before[first[3]][1] == ("ads", "boilerplate") and before[second[0]][1] == ("kept", "changed my mind")
    for o in owners:
        o.store.close()
    # the node is gone with its disk: both owners restore on another node's empty disk
    restored = [OwnerServer(root, str(tmp_path / "node-b"), i) for i in range(2)]
    reports = [o.restore_report() for o in restored]
    assert all(r is not None and r["not_replayed"] == [] for r in reports), reports
    after = _state(restored, meta, universe)
    diff = {k: (before[k], after[k]) for k in universe if before[k] != after[k]}
    assert not diff, f"{len(diff)} keys differ after the restore, e.g. {list(diff.items())[:3]}"
    edits = [r["edits"] for r in reports]
    # first[198] and first[199] were registered again after their delete: that registration was logged
    assert sum(e["registrations"] for e in edits) == 2
    # the deletes between the checkpoints were replayed too: volume 2's replay had put those keys back
    assert sum(e["deletes_applied"] for e in edits) == 30 + 20 + 2
    assert sum(e["marks_set"] for e in edits) == 50 + 40 + 1 + 1
    # the edits keep their order across the restore: new ones are numbered after the replayed ones
    _mark(restored, meta, [(first[1], "late", "after the restore")])
    fs, base = fsspec.core.url_to_fs(edits_url(root, meta.catalog_id, 0))
    fs.invalidate_cache()
    seqs = sorted(int(p.rsplit("/", 1)[-1][:16]) for p in fs.ls(base, detail=False))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    for o in restored:
        o.store.close()


def test_an_edit_that_does_not_apply_is_not_logged(s3_bucket: str, tmp_path: Path) -> None:
    """A mark of an unregistered key raises before anything is written: the log holds only applied edits."""
    root = f"s3://{s3_bucket}/hb"
    meta = ensure_meta(root, 1)
    owner = OwnerServer(root, str(tmp_path / "node"), 0)
    _register([owner], meta, _seal(root, "a", ["https://a.example/1"]))
    with pytest.raises(KeyNotFoundError):
        owner.call("mark_many", [("https://a.example/1", "x", ""), ("https://a.example/2", "x", "")], meta.epoch)
    fs, base = fsspec.core.url_to_fs(edits_url(root, meta.catalog_id, 0))
    assert not fs.exists(base) or fs.ls(base, detail=False) == []
    owner.call("mark_many", [("https://a.example/1", "x", "")], meta.epoch)
    fs.invalidate_cache()
    assert len(fs.ls(base, detail=False)) == 1
    owner.store.close()
