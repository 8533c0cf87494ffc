"""Differential suite: every file of ../shared/data/warc read by every haybale path gives the bytes of
the reference reader (warcio's decoded content stream) and one text.

Paths: the dedup WARC/WET/ARC input (``WarcSource``), ``catalog cat`` after ingest in place and after
repack, and the dedup catalog input (``CatalogSource``) over both catalogs. For every document record
(response, resource, conversion) warcio reads, each path either gives warcio's body bytes (and all
paths the same text), or quarantines it with a reason (not text); counts add up per file.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.captures import date_order
from catalog.keys import canonical_key
from catalog.record_body import record_body
from catalog.record_text import NotTextError, record_document
from catalog.store import Store
from catalog.warc_reader import Quarantined, iter_records
from dedup.catalog_source import plan_catalog_source
from dedup.errors import RecordError, RecordWarning
from dedup.warc_source import WarcSource
from ingest.file_sources import FileRef, Split
from ingest.warc_indexing import IndexOptions, index_split
from ingest.warc_job import WarcJobSummary, register_split
from tests.conftest import shared_data
from tests.integrity.reference import DOCUMENT_TYPES, warcio_records

WARC_FILES = sorted(p.name for p in (shared_data() / "warc").iterdir())


def _key(uri: str) -> str | None:
    uri = uri.strip()
    uri = uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri
    try:
        return canonical_key(uri)
    except Exception:  # noqa: BLE001 - a record without a usable key is not in the catalog
        return None


def _dedup_rows(source: WarcSource | object) -> tuple[list[dict], list[RecordError]]:
    bad: list[RecordError] = []
    rows = []
    for split in source.splits():  # type: ignore[attr-defined]
        for batch in source.read(split, bad.append):  # type: ignore[attr-defined]
            for row in batch.to_pylist():
                row["content"] = row.pop("html", None) or row.pop("text", None) or ""
                rows.append(row)
    return rows, [b for b in bad if not isinstance(b, RecordWarning)]


@pytest.mark.parametrize("name", WARC_FILES)
def test_every_path_gives_the_reference_bytes_and_one_text(name: str, tmp_path: Path) -> None:
    path = shared_data() / "warc" / name
    reference = [r for r in warcio_records(path) if r.record_type in DOCUMENT_TYPES]
    ours = [r for r in iter_records(str(path), read_block=1 << 30) if not isinstance(r, Quarantined)]
    ours_by_offset = {r.offset: r for r in ours}
    ours_by_id = {r.record_id: r for r in ours if r.record_id}

    # 1. the one body reader gives warcio's bytes for every document record both read
    compared = 0
    for ref in reference:
        mine = ours_by_offset.get(ref.offset) or ours_by_id.get(ref.record_id)
        assert mine is not None, f"{name}: warcio reads a {ref.record_type} at {ref.offset} that we do not"
        body = record_body(mine.record_type, mine.content_type, mine.target_uri, mine.block, source=name)
        assert body.data == ref.body, f"{name} at {ref.offset}: body differs from warcio's content stream"
        compared += 1
    assert compared == len(reference)

    # 2. the dedup WARC input: every document record is a document or quarantined with a reason
    rows, bad = _dedup_rows(WarcSource([str(path)]))
    documents = [r for r in ours if r.record_type.lower() in DOCUMENT_TYPES]
    texts_by_offset = {row_meta["offset"]: row["content"] for row in rows
                       for row_meta in [__import__("json").loads(row["metadata"])]}
    for rec in documents:
        try:
            expected = record_document(rec.record_type, rec.content_type, rec.target_uri, rec.block, source=name).text
        except NotTextError:
            assert any(b.offset == rec.offset for b in bad), f"{name} at {rec.offset}: not text but not quarantined"
            continue
        assert texts_by_offset[rec.offset] == expected, f"{name} at {rec.offset}"
    quarantined_records = [b for b in bad if b.offset in {r.offset for r in documents}]
    assert len(rows) + len(quarantined_records) == len(documents), name

    # 3. catalog cat after ingest in place and after repack; 4. the catalog input's text
    by_key: dict[str, tuple[tuple[str, int], str, bytes]] = {}
    for rec in documents:
        key = _key(rec.target_uri or "")
        if key is None:
            continue
        order = (date_order(rec.date), rec.offset)
        if key not in by_key or order >= by_key[key][0]:
            ref_body = record_body(rec.record_type, rec.content_type, rec.target_uri, rec.block, source=name).data
            by_key[key] = (order, texts_by_offset.get(rec.offset, ""), ref_body)
    for repack in (False, True):
        root = tmp_path / f"root-{repack}"
        with Store(str(root)) as store:
            split = Split(0, (FileRef(str(path), path.stat().st_size, str(path)),))
            result = index_split(split, store.volumes_url + "/t", str(root / "indexes"), IndexOptions(repack=repack))
            register_split(store, result, "t", WarcJobSummary("t"))
            keys = [k for k, _ in store.catalog.items()]
            quarantined_offsets = {q["offset"] for q in result.quarantined}
            for key in keys:
                assert store.cat(key) == by_key[key][2], f"{name} {key} repack={repack}"
            for key, (_, _, _) in by_key.items():
                assert key in keys or quarantined_offsets, f"{name}: {key} neither in the catalog nor quarantined"
            source = plan_catalog_source(store.catalog, "", str(tmp_path / f"manifests-{repack}")) if keys else None
            if source is None:
                continue
            rows_c, bad_c = _dedup_rows(source)
            for row in rows_c:
                assert row["content"] == by_key[row["id"]][1], f"{name} {row['id']} catalog input repack={repack}"
            assert len(rows_c) + len(bad_c) == len(keys)
