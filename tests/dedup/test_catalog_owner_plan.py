"""The catalog input is planned by the owners in parallel (issues 10 and 13): every owner writes its own
keys as pieces, the driver holds only piece descriptors and never lists the catalog; the dedup output is
byte for byte what the plan of one process listing the whole catalog gave; and the plan is the same
whether the owners run in this process or as Ray actors."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dedup.catalog_source as catalog_source
from catalog.owned_catalog import OwnedCatalog
from catalog.store import Store
from catalog.warc_records import resource_record
from dedup.catalog_source import CatalogSource, plan_catalog_source
from dedup.config import DedupConfig
from dedup.job import run_dedup

WORDS = [f"w{n}" for n in range(3000)]
LEGACY_SCHEMA = pa.schema([("key", pa.string()), ("volume_url", pa.string()), ("offset", pa.int64()),
                           ("length", pa.int64()), ("digest", pa.uint64())])


def _fill(root: str, originals: int, seed: int) -> list[str]:
    """``originals`` text files under file:///docs/ plus, for every 4th, an exact copy and a near copy
    (one word changed) under file:///copies/, and 20 files under file:///other/; returns every key."""
    rng = random.Random(seed)
    keys = []
    with Store(root) as store:
        writer = store.writer(max_bytes=60_000)  # many volumes: pieces name several
        sealed = []
        for n in range(originals):
            words = [rng.choice(WORDS) for _ in range(120)]
            texts = {f"file:///docs/{n:05d}.txt": " ".join(words)}
            if n % 4 == 0:
                texts[f"file:///copies/exact-{n:05d}.txt"] = " ".join(words)
                texts[f"file:///copies/near-{n:05d}.txt"] = " ".join(words[:60] + ["changed"] + words[61:])
            for key, text in texts.items():
                sealed += writer.append(key, resource_record(key, text.encode(), "text/plain"))
                keys.append(key)
        for n in range(20):
            key = f"file:///other/{n}.txt"
            sealed += writer.append(key, resource_record(key, f"other {n}".encode(), "text/plain"))
            keys.append(key)
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s)
    return keys


def _legacy_plan(store: Store, prefix: str, directory: Path, per_split: int) -> CatalogSource:
    """The plan as one process listing the whole catalog made it before (the reference)."""
    directory.mkdir(parents=True)
    parts: list[list[str]] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        path = directory / f"split-{len(parts):06d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=LEGACY_SCHEMA), path)
        parts.append([str(path)])
        rows.clear()
    for key, loc in store.items(prefix):
        rows.append({"key": key, "volume_url": store.volume_url(loc.volume), "offset": loc.offset,
                     "length": loc.length, "digest": loc.digest})
        if len(rows) >= per_split:
            flush()
    if rows:
        flush()
    return CatalogSource(parts)


def _no_whole_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Iterator[Any]:
        raise AssertionError("the planning driver listed the catalog")
    for name in ("list", "items", "listing_entries"):
        monkeypatch.setattr(OwnedCatalog, name, refuse)
    monkeypatch.setattr(Store, "items", refuse)
    monkeypatch.setattr(Store, "list", refuse)


def _gathered(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Records what the driver receives from the owners (the piece descriptors)."""
    seen: list[list[Any]] = []
    real = catalog_source.export_owner_pieces

    def spy(*args: Any, **kwargs: Any) -> list[Any]:
        pieces = real(*args, **kwargs)
        seen.append(pieces)
        return pieces
    monkeypatch.setattr(catalog_source, "export_owner_pieces", spy)
    return seen


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes()
            for sub in ("data", "removed") for p in sorted((out / sub).rglob("*")) if p.is_file()}


def _rows(source: CatalogSource) -> list[list[tuple[str, str, int]]]:
    """Per split, the records it reads, in reading order."""
    return [[(r["key"], r["volume_url"], r["offset"]) for r in
             catalog_source._split_rows(s.url, json.loads(dict(s.options).get("parts", "[]")),
                                        dict(s.options).get("volumes"))]
            for s in source.splits()]


def test_owner_plan_gives_todays_output_byte_for_byte_without_listing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(tmp_path / "root")
    keys = _fill(root, 300, seed=1)  # 470 keys under file:///: one split of 2000
    with Store(root) as store:
        reference = _legacy_plan(store, "file:///", tmp_path / "legacy", 2000)
        seen = _gathered(monkeypatch)
        _no_whole_listing(monkeypatch)
        planned = plan_catalog_source(store.catalog, "file:///", str(tmp_path / "owners"))
    monkeypatch.undo()
    assert len(seen) == 1 and len(seen[0]) == 4  # one piece per owner: each holds < 2000 of the keys
    assert sum(p.records for p in seen[0]) == len(keys)
    assert _rows(planned) == _rows(reference)  # same records, read in the same order
    config = DedupConfig()
    ref = run_dedup(reference, str(tmp_path / "out-ref"), config, run_id="ref", progress=False)
    ours = run_dedup(planned, str(tmp_path / "out-owners"), config, run_id="ours", progress=False)
    assert ours["documents"] == ref["documents"] and ref["documents"]["removed"] == 2 * 75
    assert _outputs(tmp_path / "out-owners") == _outputs(tmp_path / "out-ref")  # byte for byte
    assert _outputs(tmp_path / "out-ref")


def test_many_splits_hold_every_key_once_and_the_driver_only_descriptors(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(tmp_path / "root")
    keys = _fill(root, 800, seed=2)  # 1,220 keys under file:///
    with Store(root, read_only=True) as store:
        seen = _gathered(monkeypatch)
        _no_whole_listing(monkeypatch)
        planned = plan_catalog_source(store.catalog, "file:///", str(tmp_path / "plan"), records_per_split=100)
        resumed = plan_catalog_source(store.catalog, "file:///", str(tmp_path / "plan"), records_per_split=100)
    monkeypatch.undo()
    pieces = seen[0]
    assert len(seen) == 1, "a resumed run read its plan again instead of reusing it"
    # O(splits), not O(keys): each owner cut a piece every 100 of its records (plus its tail)
    assert len(pieces) <= len(keys) // 100 + 4 and len(pieces) * 50 < len(keys)
    assert {p.owner for p in pieces} == {0, 1, 2, 3}
    read = [row for split in _rows(planned) for row in split]
    assert sorted(k for k, _, _ in read) == sorted(keys)  # every key once
    splits = planned.splits()
    assert resumed.splits() == splits and 12 <= len(splits) <= len(pieces)
    sizes = [len(split) for split in _rows(planned)]
    assert all(size >= 100 for size in sizes[:-1]) and max(sizes) < 200
    summary = run_dedup(planned, str(tmp_path / "out"), DedupConfig(), run_id="many", progress=False)
    docs = summary["documents"]
    assert docs["input"] == len(keys) and docs["removed"] == 2 * 200 and docs["kept"] == 820
    assert summary["splits"] == len(splits)


@pytest.mark.ray
def test_the_owner_actors_plan_the_same_pieces(tmp_path: Path, ray_session: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.catalog_meta import load_meta
    from catalog.owner_actor import stop_owners

    root = str(tmp_path / "root")
    _fill(root, 400, seed=3)
    with Store(root, read_only=True) as store:
        local = plan_catalog_source(store.catalog, "file:///docs/", str(tmp_path / "local"), records_per_split=40)
    meta = load_meta(root)
    store = Store(root, cluster=True)
    try:
        _no_whole_listing(monkeypatch)
        on_ray = plan_catalog_source(store.catalog, "file:///docs/", str(tmp_path / "ray"), records_per_split=40)
        monkeypatch.undo()
    finally:
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
    assert len(on_ray.splits()) == len(local.splits()) >= 9
    assert _rows(on_ray) == _rows(local)


def test_splits_are_also_cut_by_record_bytes(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    keys = _fill(root, 200, seed=4)
    with Store(root, read_only=True) as store:
        total = sum(loc.length for loc in store.get_many(keys))
        planned = plan_catalog_source(store.catalog, "file:///", str(tmp_path / "plan"), records_per_split=10**6,
                                      bytes_per_split=total // 6)
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert sum(plan["records"]) == len(keys) and sum(plan["bytes"]) == total
    assert len(plan["splits"]) >= 6 and all(b >= total // 6 for b in plan["bytes"][:-1])
    assert sorted(k for split in _rows(planned) for k, _, _ in split) == sorted(keys)
