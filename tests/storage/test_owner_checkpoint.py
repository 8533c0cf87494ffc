"""Owner checkpoints on an S3 root (moto's server on loopback) and a real restore on another node's empty
disk: from the latest checkpoint plus the volumes registered since its watermark. The owners' bodies run
in this process (the actor wraps exactly this class); volumes and sidecars are real, on the S3 root."""
from __future__ import annotations

import json
from pathlib import Path

import fsspec
import numpy as np

from catalog.catalog_meta import CatalogMeta, ensure_meta, slots_of_ids
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_actor import OwnerServer
from catalog.owner_checkpoint import latest_manifest, owner_prefix
from catalog.volume import SealedVolume, VolumeWriter
from catalog.warc_records import resource_record


def _seal(root: str, prefix: str, keys: list[str]) -> SealedVolume:
    writer = VolumeWriter(f"{root}/volumes/t", name_prefix=prefix)
    sealed = []
    for key in keys:
        sealed += writer.append(key, resource_record(key, f"body of {key}".encode()))
    sealed += writer.close()
    assert len(sealed) == 1
    return sealed[0]


def _register(owners: list[OwnerServer], meta: CatalogMeta, volume: SealedVolume) -> int:
    """As ingest/packing.register_on_worker does: the volume row at owner 0, then one batch per owner."""
    number = owners[0].call("volume_call", "add", volume.url, {"kind": "volume", "bytes": volume.bytes,
                                                                "records": len(volume.records),
                                                                "sidecar": volume.sidecar})
    slot_owner = meta.slot_owner()
    per_owner: dict[int, list[tuple[str, bytes]]] = {}
    for key, offset, length, digest in volume.records:
        canon = canonical_key(key)
        owner = int(slot_owner[slots_of_ids(np.frombuffer(key_id(canon), np.uint8).reshape(1, 16))[0]])
        per_owner.setdefault(owner, []).append((canon, Location(number, offset, length, digest).pack()))
    for owner, pairs in per_owner.items():
        owners[owner].call("register", pairs, meta.epoch)
    return number


def _all_found(owner: OwnerServer, meta: CatalogMeta, keys: list[str]) -> int:
    mine = [k for k in keys if meta.slots_of(owner.store.owner)[
        slots_of_ids(np.frombuffer(key_id(canonical_key(k)), np.uint8).reshape(1, 16))[0]]]
    ids = np.frombuffer(b"".join(sorted(key_id(canonical_key(k)) for k in mine)), np.uint8).reshape(-1, 16)
    found, _ = owner.call("lookup", ids, meta.epoch)
    return int(found.sum()) if len(mine) == int(found.sum()) else -1


def test_a_lost_owner_is_restored_from_its_checkpoint_plus_what_was_registered_since(
        s3_bucket: str, tmp_path: Path, monkeypatch) -> None:
    import catalog.owner_checkpoint as oc

    # no grace: a restore replays exactly the volumes sealed since the previous checkpoint's watermark
    monkeypatch.setattr(oc, "GRACE_SECONDS", 0.0)
    root = f"s3://{s3_bucket}/hb"
    meta = ensure_meta(root, 2)
    node_a = str(tmp_path / "node-a")
    owners = [OwnerServer(root, node_a, i) for i in range(2)]
    first = [f"https://before.example/{i}" for i in range(600)]
    second = [f"https://between.example/{i}" for i in range(500)]
    after = [f"https://after.example/{i}" for i in range(400)]
    _register(owners, meta, _seal(root, "a", first[:300]))
    _register(owners, meta, _seal(root, "b", first[300:]))
    # first checkpoint: everything is uploaded
    nxt = owners[0].next_volume_number()
    c1 = [o.checkpoint_to_root(nxt) for o in owners]
    assert [c["seq"] for c in c1] == [1, 1] and all(c["uploaded_bytes"] > 0 for c in c1)
    assert sum(c["records"] for c in c1) == 600
    _register(owners, meta, _seal(root, "c", second))
    # second checkpoint: only what is new goes up; SST files of the first are reused, not re-uploaded
    nxt = owners[0].next_volume_number()
    c2 = [o.checkpoint_to_root(nxt) for o in owners]
    assert all(c["reused_bytes"] > 0 for c in c2), c2
    assert sum(c["records"] for c in c2) == 1100
    # registered after the last checkpoint (and one key of the first volume re-registered unchanged)
    vol_after = _register(owners, meta, _seal(root, "d", after))
    records_before_loss = [o.call("stats")["records"] for o in owners]
    assert sum(records_before_loss) == 1500
    for o in owners:
        o.store.close()
    # node A is gone with its disk: both owners start on node B's empty disk and restore
    node_b = tmp_path / "node-b"
    restored = [OwnerServer(root, str(node_b), i) for i in range(2)]
    for i, o in enumerate(restored):
        report = o.restore_report()
        assert report is not None and report["checkpoint_seq"] == 2 and report["not_replayed"] == []
        assert o.call("stats")["records"] == records_before_loss[i]
        assert _all_found(o, meta, first + second + after) >= 0, f"owner {i} lost keys"
    # the replay covered the volume registered after the watermark: its records were added back
    reports = [o.restore_report() for o in restored]
    assert sum(r["added"] for r in reports) == len(after)
    assert sum(r["added"] + r["unchanged"] + r["updated"] for r in reports) == sum(r["records_replayed"] for r in reports)
    # the watermark: volumes 1-2 are in checkpoint 1, so checkpoint 2 replays from volume 3 (sealed
    # between the checkpoints) on: volumes 3 and 4, and only the 400 records of 4 were missing
    assert [r["replay_from"] for r in reports] == [3, 3] and [r["volumes_replayed"] for r in reports] == [2, 2]
    assert sum(r["records_replayed"] for r in reports) == len(second) + len(after)
    assert reports[0]["volume_rows_restored"] == 2
    # owner 0's volume table has the row registered after its checkpoint, under the same number
    assert restored[0].call("volume_call", "get", vol_after)["url"].endswith(".warc.gz")
    assert restored[0].next_volume_number() == vol_after + 1
    # every location read back points at the right bytes
    fs, _ = fsspec.core.url_to_fs(root)
    owner_of = meta.slot_owner()
    for key in (first[5], second[7], after[11]):
        canon = canonical_key(key)
        kid = np.frombuffer(key_id(canon), np.uint8).reshape(1, 16)
        o = restored[int(owner_of[slots_of_ids(kid)[0]])]
        found, locs = o.call("lookup", kid, meta.epoch)
        assert found[0]
        loc = Location.unpack(bytes(locs[0]))
        url = restored[0].call("volume_call", "get", loc.volume)["url"]
        with fs.open(url, "rb") as fh:
            fh.seek(loc.offset)
            import gzip

            assert f"body of {key}".encode() in gzip.decompress(fh.read(loc.length))
    # a checkpoint after the restore reuses the downloaded SST files (no re-upload of the old data)
    nxt = restored[0].next_volume_number()
    c3 = [o.checkpoint_to_root(nxt) for o in restored]
    assert all(c["reused_bytes"] >= c2[i]["reused_bytes"] for i, c in enumerate(c3))
    manifest = latest_manifest(root, meta.catalog_id, 1)
    assert manifest is not None and manifest["seq"] == 3 and manifest["token"] != c2[1]["token"]
    fs2, base = fsspec.core.url_to_fs(owner_prefix(root, meta.catalog_id, 0) + "/restores")
    assert json.loads(fs2.cat_file(fs2.ls(base, detail=False)[0]))["owner"] == 0
    # retention: the newest 3 checkpoints stay, older manifests and the files only they named go
    for extra in range(2):
        _register(restored, meta, _seal(root, f"e{extra}", [f"https://more{extra}.example/{i}" for i in range(50)]))
        nxt = restored[0].next_volume_number()
        for o in restored:
            o.checkpoint_to_root(nxt)
    for owner in range(2):
        prefix = owner_prefix(root, meta.catalog_id, owner)
        fs3, base3 = fsspec.core.url_to_fs(prefix)
        fs3.invalidate_cache()
        names = sorted(fs3.ls(f"{base3}/manifests", detail=False))
        assert [n.rsplit("/", 1)[-1] for n in names] == [f"{s:010d}.json" for s in (3, 4, 5)]
        named = {obj for n in names for e in json.loads(fs3.cat_file(n))["files"].values() for obj in e.values()}
        present = {p[len(base3) + 1:] for p in fs3.ls(f"{base3}/files", detail=False)}
        assert named == present, (named ^ present)
    for o in restored:
        o.store.close()


def test_the_checkpoint_command_and_a_job_on_a_fresh_disk_restore_every_key(s3_bucket: str, tmp_path: Path) -> None:
    """The operator's path: `haybale catalog checkpoint`, more ingest, then the node's disk is gone: the
    next job on a fresh --catalog-dir restores every owner (checkpoint + the run registered since) and
    adds its own files; every file is found once."""
    from tests.storage.test_s3_root import haybale

    root = f"s3://{s3_bucket}/hb"
    inputs = []
    for batch in range(3):
        src = tmp_path / f"in{batch}"
        src.mkdir()
        for i in range(40):
            (src / f"f{i:03d}.txt").write_text(f"batch {batch} file {i}\n" * (i + 1))
        inputs.append(src)
    node_a = ["--root", root, "--catalog-dir", str(tmp_path / "node-a")]
    node_b = ["--root", root, "--catalog-dir", str(tmp_path / "node-b")]
    haybale("ingest", "files", "--no-ray", str(inputs[0]), "--volume-bytes", "4000", "--json", *node_a)
    made = json.loads(haybale("catalog", "checkpoint", "--no-ray", "--json", *node_a).stdout)["owners"]
    assert sum(o["records"] for o in made) == 40 and all(o["seq"] == 1 for o in made)
    haybale("ingest", "files", "--no-ray", str(inputs[1]), "--volume-bytes", "4000", "--json", *node_a)
    out = json.loads(haybale("ingest", "files", "--no-ray", str(inputs[2]), "--json", *node_b).stdout)
    assert out["added"] == 40  # only the new files: the 80 before came back through the restore
    stats = json.loads(haybale("catalog", "stats", "--json", *node_b).stdout)
    assert stats["records"] == 120
    listed = haybale("catalog", "ls", "file://", *node_b).stdout.decode().split()
    assert len(listed) == len(set(listed)) == 120
    some = inputs[1] / "f007.txt"
    assert haybale("catalog", "cat", str(some), *node_b).stdout == some.read_bytes()
