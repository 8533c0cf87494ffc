"""Re-registering into a restored owner what was registered since its checkpoint's watermark.

The volumes sealed since (numbered ``>= replay_from``) are read back from their CDXJ sidecars, in
volume order, and each record of the owner's slots is decided against what the owner holds by the
rule its job registered it with, so the restored owner ends where the lost one was:

- **latest capture** (rows with ``"rule": "latest-capture"``: WARC ingest, in-place files and
  repacked volumes): the capture with the latest WARC-Date wins, a tie going to the later volume,
  then the later offset (:mod:`catalog.captures`' rule); the stored capture's date comes from its
  own sidecar when its volume was not replayed. An older crawl ingested after the checkpoint does
  not replace the newer capture the checkpoint holds.
- **replace** (every other row: files and crawl jobs): the later registration wins.

Volumes are applied in the groups they were registered in: a WARC split's volumes (rows tagged with
the split's ``run_id`` and ``split``) first choose each key's latest capture among themselves, as the
job did, and that capture is then decided against what the owner holds; every other volume alone.

Under both rules a record with the stored location's payload digest is the same content: the stored
location stays (the catalog's idempotence by key and digest). Only keys whose decided location
differs from the stored one are written, in one prepared, sorted batch (SST files when big).
"""
from __future__ import annotations

import json
import time
from typing import Any

import fsspec
import numpy as np

from catalog.location import Location

LATEST_CAPTURE = "latest-capture"  # a volume row's "rule" when its records were registered by WARC-Date


def _sidecar_entries(row: dict[str, Any]) -> tuple[list[Any], list[tuple[int, str]], str]:
    """(entries, unparsable lines as (line, reason), sidecar URL) of volume row ``row``'s sidecar;
    raises OSError/UnicodeDecodeError when it cannot be read."""
    from catalog.cdxj import CdxEntry, parse_cdxj, sidecar_url

    side = row.get("sidecar") or sidecar_url(row["url"])
    fs, path = fsspec.core.url_to_fs(side)
    text = fs.cat_file(path).decode("utf-8")
    entries, bad = [], []
    for item in parse_cdxj(text, side):
        (entries if isinstance(item, CdxEntry) else bad).append(item)
    return entries, bad, side


class _StoredDates:
    """WARC-Dates of stored captures by (volume, offset): from the replayed sidecars, else read from
    the stored capture's own sidecar (its row logged on the root), once per volume."""

    def __init__(self, root: str, catalog_id: str) -> None:
        self.root, self.catalog_id = root, catalog_id
        self.by_volume: dict[int, dict[int, str] | None] = {}

    def add(self, volume: int, entries: list[Any]) -> None:
        self.by_volume[volume] = {e.offset: e.timestamp for e in entries}

    def date(self, loc: Location) -> str | None:
        if loc.volume not in self.by_volume:
            from catalog.checkpoint_layout import checkpoints_url

            try:
                fs, path = fsspec.core.url_to_fs(f"{checkpoints_url(self.root, self.catalog_id)}/volume-rows/"
                                                 f"{loc.volume:010d}.json")
                self.add(loc.volume, _sidecar_entries(json.loads(fs.cat_file(path)))[0])
            except (FileNotFoundError, OSError, UnicodeDecodeError, ValueError):
                self.by_volume[loc.volume] = None
        dates = self.by_volume[loc.volume]
        return None if dates is None else dates.get(loc.offset)


def _registration_groups(replayed: list[tuple[dict[str, Any], list[tuple[str, Any]]]]
                         ) -> list[list[tuple[dict[str, Any], list[tuple[str, Any]]]]]:
    """The replayed volumes grouped as they were registered, in volume order: a WARC split's volumes
    (rows tagged with its ``run_id`` and ``split``) were decided together; every other volume alone."""
    groups: dict[Any, list[tuple[dict[str, Any], list[tuple[str, Any]]]]] = {}
    for row, mine in replayed:
        split = (row.get("run_id"), row.get("split"))
        tag = ("split", *split) if row.get("rule") == LATEST_CAPTURE and None not in split else ("row", row["number"])
        groups.setdefault(tag, []).append((row, mine))
    return list(groups.values())


def _group_winners(group: list[tuple[dict[str, Any], list[tuple[str, Any]]]], by_date: bool
                   ) -> dict[str, tuple[dict[str, Any], Any]]:
    """Per key, the capture a group registered: the latest by (WARC-Date, volume, offset) under the
    capture rule (:func:`catalog.captures.latest_captures` within a split), else the last one."""
    from catalog.captures import date_order

    best: dict[str, tuple[dict[str, Any], Any]] = {}
    for row, mine in group:
        for key, e in mine:
            held = best.get(key)
            if not by_date or held is None or (date_order(e.timestamp), int(row["number"]), e.offset) >= (
                    date_order(held[1].timestamp), int(held[0]["number"]), held[1].offset):
                best[key] = (row, e)
    return best


def replay_since(store: Any, root: str, replay_from: int, report: Any) -> None:
    """Re-register into ``store`` the records of its slots from every logged volume numbered
    ``>= replay_from`` (owner 0 first puts the rows back into its volume table), by the rules in the
    module docstring. A volume whose records cannot be read back is listed in ``report.not_replayed``
    with the reason (never skipped silently)."""
    from catalog.bulk import prepare_bulk
    from catalog.captures import date_order
    from catalog.catalog_meta import slots_of_ids
    from catalog.checkpoint_layout import logged_volume_rows
    from catalog.keys import canonical_key, key_id

    started = time.time()
    slot_owner = store.meta.slot_owner()
    rows = logged_volume_rows(root, store.meta.catalog_id, replay_from)
    if store.owner == 0:
        for row in rows:
            store.catalog.volumes.restore_row(row)
            report.volume_rows_restored += 1
    dates = _StoredDates(root, store.meta.catalog_id)
    replayed: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = []  # (row, [(canonical key, entry)])
    for row in rows:
        if row.get("dropped"):
            continue  # swept: none of its records is referenced
        try:
            entries, bad, side = _sidecar_entries(row)
        except (FileNotFoundError, UnicodeDecodeError, OSError) as exc:
            side = row.get("sidecar") or row["url"]
            report.not_replayed.append({"volume": row["number"], "url": row["url"],
                                        "reason": f"sidecar {side} unreadable ({exc}): run `haybale catalog rebuild`"})
            continue
        report.not_replayed += [{"volume": row["number"], "url": row["url"], "reason": reason} for _, reason in bad]
        dates.add(int(row["number"]), entries)
        canon = [canonical_key(e.key) for e in entries]
        if canon:
            ids = np.frombuffer(b"".join(key_id(k) for k in canon), np.uint8).reshape(-1, 16)
            ours = (slot_owner[slots_of_ids(ids)] == store.owner).tolist()
            replayed.append((row, [(k, e) for keep, k, e in zip(ours, canon, entries) if keep]))
        report.volumes_replayed += 1
    keys = list(dict.fromkeys(k for _, mine in replayed for k, _ in mine))
    stored = dict(zip(keys, store.catalog.get_many(keys))) if keys else {}
    decided: dict[str, Location | None] = dict(stored)
    for group in _registration_groups(replayed):
        by_date = group[0][0].get("rule") == LATEST_CAPTURE
        for key, (row, e) in _group_winners(group, by_date).items():
            number = int(row["number"])
            new, cur = Location(number, e.offset, e.length, e.digest), decided[key]
            if cur is not None and cur.digest == new.digest:
                continue  # the same content: the stored location stays
            if by_date and cur is not None:
                cur_date = dates.date(cur)
                if cur_date is None:
                    report.not_replayed.append({"volume": number, "url": row["url"], "reason": (
                        f"{key}: the stored capture's date (volume {cur.volume}, offset {cur.offset}) cannot be "
                        "read, so the stored capture was kept: run `haybale catalog rebuild`")})
                    continue
                if (date_order(e.timestamp), number, e.offset) <= (date_order(cur_date), cur.volume, cur.offset):
                    continue  # the stored capture is the latest
            decided[key] = new
    changed = [k for k in keys if decided[k] != stored[k]]
    report.records_replayed = len(keys)
    report.unchanged = len(keys) - len(changed)
    if changed:
        # one prepared, sorted batch: SST files when it is big, the journal when small (as the workers send)
        batch = prepare_bulk(changed, [decided[k] for k in changed], slot_owner.tolist()).shards[store.owner]
        added, updated, unchanged = store.register_batch(batch, store.epoch)
        report.added, report.updated, report.unchanged = added, updated, report.unchanged + unchanged
    report.replay_seconds = time.time() - started
