"""The catalog as a dedup input, and the catalog as the place dedup's verdicts are marked.

:func:`plan_catalog_source` runs in the driver, which holds the catalog: it lists the keys under a
prefix with their locations and writes one small Parquet *manifest* per split (key, volume URL,
offset, length, digest) under the run's directory. The resulting :class:`CatalogSource` holds only
manifest URLs, so it pickles to Ray workers, which read records straight from the volumes (one
verified ranged read each, in volume/offset order) without touching RocksDB.

Documents: ``id`` and ``url`` are the catalog key (``url`` only for web keys); WARC ``response``
records give their HTTP body (transfer/content encodings removed) as ``html`` when the content type is
HTML and as ``text`` when it is another ``text/*``; ``resource`` records (packed files) likewise by
their content type. Records that are not text, or fail verification, are reported as bad records with
volume URL, offset and reason — the job counts and quarantines them and goes on.

:class:`CatalogMarkSink` writes each document's verdict back as a catalog mark
(``kept`` / ``removed`` + reason), so ``haybale catalog get KEY`` shows it.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.catalog import Catalog
from catalog.errors import CatalogError
from catalog.http_payload import split_http, http_body
from catalog.keys import is_web_url
from catalog.location import Location
from catalog.volume import VolumeReader
from dedup.clean.decode import decode_html
from dedup.errors import RecordError, SourceError
from dedup.sources import DOCUMENT_SCHEMA, HTML_DOCUMENT_SCHEMA, BadRecordHandler, Split, _report

KIND = "catalog"
CATALOG_INPUT_PREFIX = "catalog:"
_MANIFEST_SCHEMA = pa.schema([("key", pa.string()), ("volume_url", pa.string()), ("offset", pa.int64()),
                              ("length", pa.int64()), ("digest", pa.uint64())])
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class CatalogSource:
    """Documents stored in a catalog's volumes, split by manifest files (see the module docstring)."""

    kind = KIND

    def __init__(self, manifests: list[str], batch_size: int = 500) -> None:
        self.manifests = manifests
        self.batch_size = batch_size

    def splits(self) -> list[Split]:
        return [Split(KIND, url) for url in self.manifests]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        try:
            with fsspec.open(split.url, "rb") as fh:
                manifest = pq.read_table(fh).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot read catalog split manifest {split.url}: {exc}") from exc
        manifest.sort(key=lambda r: (r["volume_url"], r["offset"]))  # sequential reads per volume
        reader = VolumeReader()
        text_rows: dict[str, list[Any]] = {"id": [], "url": [], "text": [], "metadata": []}
        html_rows: dict[str, list[Any]] = {"id": [], "url": [], "html": [], "metadata": []}
        try:
            for row in manifest:
                doc = _document(reader, row, on_bad_record)
                if doc is None:
                    continue
                column, content = doc
                rows = html_rows if column == "html" else text_rows
                rows["id"].append(row["key"])
                rows["url"].append(row["key"] if is_web_url(row["key"]) else None)
                rows[column].append(content)
                rows["metadata"].append(json.dumps({"volume": row["volume_url"], "offset": row["offset"]}))
                if len(rows["id"]) >= self.batch_size:
                    yield _batch(rows, column)
            if text_rows["id"]:
                yield _batch(text_rows, "text")
            if html_rows["id"]:
                yield _batch(html_rows, "html")
        finally:
            reader.close()


def _batch(rows: dict[str, list[Any]], column: str) -> pa.RecordBatch:
    schema = HTML_DOCUMENT_SCHEMA if column == "html" else DOCUMENT_SCHEMA
    batch = pa.RecordBatch.from_pydict(rows, schema=schema)
    for values in rows.values():
        values.clear()
    return batch


def _document(reader: VolumeReader, row: dict[str, Any], on_bad: BadRecordHandler | None) -> tuple[str, str] | None:
    """("html" | "text", content) of one catalog record, or None after reporting why not."""
    loc = Location(0, row["offset"], row["length"], row["digest"])
    try:
        record = reader.read(row["volume_url"], loc)
        if record.record_type == "response" and record.payload_offset:
            headers, _ = split_http(record.block)
            content_type = dict(headers).get("content-type", "")
            body = http_body(record.block, f"{row['volume_url']} at offset {row['offset']}")
        else:
            content_type = record.header("Content-Type") or ""
            body = record.payload
    except CatalogError as exc:
        _report(RecordError(row["volume_url"], row["offset"], f"{row['key']}: {exc}"), on_bad)
        return None
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in _HTML_TYPES:
        return "html", decode_html(body)
    if ctype.startswith("text/") or not ctype:
        return "text", decode_html(body)
    _report(RecordError(row["volume_url"], row["offset"], f"{row['key']}: content type {ctype!r} is not text"),
            on_bad)
    return None


def plan_catalog_source(catalog: Catalog, prefix: str, manifest_dir: str,
                        records_per_split: int = 2000) -> CatalogSource:
    """List the catalog under ``prefix`` and write one manifest per ``records_per_split`` records.

    A resumed run finds its manifests already written and reuses them, so it reads exactly the
    records the first attempt planned even if the catalog changed in between.
    """
    fs, base = fsspec.core.url_to_fs(manifest_dir)
    existing = sorted(fs.glob(f"{base}/split-*.parquet")) if fs.exists(base) else []
    if existing and fs.exists(f"{base}/COMPLETE"):
        return CatalogSource([fs.unstrip_protocol(p) if "://" in manifest_dir else p for p in existing])
    fs.makedirs(base, exist_ok=True)
    urls: list[str] = []
    rows: dict[str, list[Any]] = {name: [] for name in _MANIFEST_SCHEMA.names}
    volume_urls: dict[int, str] = {}

    def flush() -> None:
        path = f"{base}/split-{len(urls):06d}.parquet"
        with fs.open(path, "wb") as fh:
            pq.write_table(pa.table(rows, schema=_MANIFEST_SCHEMA), fh)
        urls.append(fs.unstrip_protocol(path) if "://" in manifest_dir else path)
        for values in rows.values():
            values.clear()

    for key, loc in catalog.items(prefix):
        if loc.volume not in volume_urls:
            volume_urls[loc.volume] = str(catalog.volumes.get(loc.volume)["url"])
        rows["key"].append(key)
        rows["volume_url"].append(volume_urls[loc.volume])
        rows["offset"].append(loc.offset)
        rows["length"].append(loc.length)
        rows["digest"].append(loc.digest)
        if len(rows["key"]) >= records_per_split:
            flush()
    if rows["key"]:
        flush()
    fs.pipe(f"{base}/COMPLETE", b"")
    if not urls:
        raise SourceError(f"the catalog at {catalog.directory} has no records under {prefix!r}: "
                          "check the prefix with `haybale catalog ls`")
    return CatalogSource(urls)


class CatalogMarkSink:
    """Writes dedup verdicts as catalog marks: ``kept`` or ``removed`` with the reason."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.marked = 0

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        self.marked += self.catalog.mark_many(
            (key, st, rs or "") for key, st, rs in zip(ids, status, reason))
