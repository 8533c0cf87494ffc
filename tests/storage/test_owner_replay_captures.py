"""A restore decides replayed WARC captures by WARC-Date, as the ingest job did (issue 10): an older
capture ingested after the checkpoint does not replace the newer one the checkpoint holds, a newer one
does, and files volumes still replace. S3 root on moto's server on loopback; the owners' bodies run in
this process (the actor wraps exactly this class)."""
from __future__ import annotations

import calendar
from pathlib import Path

import numpy as np

from catalog.catalog_meta import CatalogMeta, ensure_meta, slots_of_ids
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_actor import OwnerServer
from catalog.owner_replay import LATEST_CAPTURE
from catalog.volume import SealedVolume, VolumeWriter
from catalog.warc_records import resource_record


def _epoch(day: str) -> float:
    return float(calendar.timegm(tuple(int(x) for x in day.split("-")) + (0, 0, 0, 0, 0, 0)))


def _seal(root: str, prefix: str, captures: list[tuple[str, str, str]]) -> SealedVolume:
    """One volume of (key, body, day) records, each dated ``day``."""
    writer = VolumeWriter(f"{root}/volumes/t", name_prefix=prefix)
    sealed = []
    for key, body, day in captures:
        sealed += writer.append(key, resource_record(key, body.encode(), date=_epoch(day)))
    sealed += writer.close()
    return sealed[0]


def _owner_of(meta: CatalogMeta, key: str) -> int:
    kid = np.frombuffer(key_id(canonical_key(key)), np.uint8).reshape(1, 16)
    return int(meta.slot_owner()[slots_of_ids(kid)[0]])


def _add(owners: list[OwnerServer], meta: CatalogMeta, volume: SealedVolume, rule: str | None,
         register: set[str], split: tuple[str, int] | None = None) -> int:
    """The volume's row at owner 0 (with ``rule`` and, for a WARC split's volumes, its run and split),
    then the records of the keys in ``register`` (the ones the job's decision wrote: under the capture
    rule, only captures newer than the stored one)."""
    info = {"kind": "volume", "bytes": volume.bytes, "records": len(volume.records), "sidecar": volume.sidecar,
            **({"rule": rule} if rule else {}), **({"run_id": split[0], "split": split[1]} if split else {})}
    number = owners[0].call("volume_call", "add", volume.url, info)
    for key, offset, length, digest in volume.records:
        if key in register:
            pair = (canonical_key(key), Location(number, offset, length, digest).pack())
            owners[_owner_of(meta, key)].call("register", [pair], meta.epoch)
    return number


def _locations(owners: list[OwnerServer], meta: CatalogMeta, keys: list[str]) -> dict[str, Location | None]:
    return {k: owners[_owner_of(meta, k)].store.catalog.get(k) for k in keys}


def test_replayed_captures_are_decided_by_warc_date_and_files_volumes_by_order(
        s3_bucket: str, tmp_path: Path, monkeypatch) -> None:
    import catalog.owner_checkpoint as oc

    monkeypatch.setattr(oc, "GRACE_SECONDS", 0.0)
    root = f"s3://{s3_bucket}/hb"
    meta = ensure_meta(root, 2)
    owners = [OwnerServer(root, str(tmp_path / "node-a"), i) for i in range(2)]
    crawl = [f"https://crawl.example/{i}" for i in range(20)]
    files = [f"file:///data/{i}.txt" for i in range(10)]
    # volumes 1-2: the 2024 crawl and the files, then checkpoint 1 (they are never replayed from it on)
    _add(owners, meta, _seal(root, "a", [(k, f"2024 {k}", "2024-06-01") for k in crawl]), LATEST_CAPTURE, set(crawl))
    _add(owners, meta, _seal(root, "f1", [(k, f"v1 {k}", "2024-06-01") for k in files]), None, set(files))
    nxt = owners[0].next_volume_number()
    for o in owners:
        o.checkpoint_to_root(nxt)
    _add(owners, meta, _seal(root, "b", [("https://other.example/", "x", "2024-01-01")]), LATEST_CAPTURE,
         {"https://other.example/"})
    nxt = owners[0].next_volume_number()
    for o in owners:
        o.checkpoint_to_root(nxt)
    # after the last checkpoint: a 2023 backfill of the first half (older: the job kept the 2024
    # captures), a 2025 recrawl of the second half (newer: written), then the same 2023 backfill of the
    # second half in a later volume (older than 2025: kept); files re-ingested with an older mtime replace
    half = len(crawl) // 2
    _add(owners, meta, _seal(root, "c", [(k, f"2023 {k}", "2023-01-01") for k in crawl[:half]]), LATEST_CAPTURE, set())
    _add(owners, meta, _seal(root, "d", [(k, f"2025 {k}", "2025-01-01") for k in crawl[half:]]), LATEST_CAPTURE,
         set(crawl[half:]))
    _add(owners, meta, _seal(root, "e", [(k, f"2023 {k}", "2023-01-01") for k in crawl[half:]]), LATEST_CAPTURE, set())
    _add(owners, meta, _seal(root, "f2", [(k, f"v2 {k}", "2020-01-01") for k in files]), None, set(files))
    # one split of two files holding the same captures (a WARC and its .gz, as in ../shared/data/warc):
    # within a split the later file's capture is registered, whatever the digests
    twins = [f"https://twin.example/{i}" for i in range(6)]
    same = [(k, f"same {k}", "2024-02-01") for k in twins]
    _add(owners, meta, _seal(root, "g1", same), LATEST_CAPTURE, set(), ("run-g", 0))
    _add(owners, meta, _seal(root, "g2", same), LATEST_CAPTURE, set(twins), ("run-g", 0))
    universe = crawl + files + twins + ["https://other.example/"]
    before = _locations(owners, meta, universe)
    assert all(before[k].volume == 1 for k in crawl[:half]) and all(before[k].volume == 5 for k in crawl[half:])
    assert all(before[k].volume == 9 for k in twins)
    for o in owners:
        o.store.close()
    restored = [OwnerServer(root, str(tmp_path / "node-b"), i) for i in range(2)]
    reports = [o.restore_report() for o in restored]
    assert all(r["not_replayed"] == [] and r["replay_from"] == 3 for r in reports), reports
    after = _locations(restored, meta, universe)
    diff = {k: (before[k], after[k]) for k in universe if before[k] != after[k]}
    assert not diff, f"{len(diff)} keys differ after the restore, e.g. {list(diff.items())[:3]}"
    # crawl[half:] moved to volume 5, files to volume 7, twins added at 9: those were written; the rest stayed
    assert sum(r["added"] + r["updated"] for r in reports) == (len(crawl) - half) + len(files) + len(twins)
    assert sum(r["records_replayed"] for r in reports) == len(universe)
    for o in restored:
        o.store.close()
