"""The catalog as a dedup input, and the catalog as the place dedup's verdicts are marked.

:func:`plan_catalog_source` runs in the driver, which holds the catalog: it lists the keys under a
prefix with their locations and writes one small Parquet *manifest* per split (key, volume URL,
offset, length, digest) under the run's directory. The resulting :class:`CatalogSource` holds only
manifest URLs, so it pickles to Ray workers, which read records straight from the volumes (one
verified ranged read each, in volume/offset order) without touching RocksDB.

Documents: each record becomes a document with :func:`catalog.record_text.record_document`, the
reader the WARC input and ``haybale catalog cat`` use too (transfer/content encodings removed within
the decoded-size cap, a compressed small file such as ``page.html.gz`` decompressed, charset from
the HTTP header, BOM or ``<meta>``): HTML as ``html``, other text as ``text``. ``id`` is the catalog key
(or the WARC header named by ``id_field``), ``url`` the key for web keys (or the header named by
``url_field``); ``metadata`` as :mod:`dedup.record_rows` describes, plus ``key``. Records that are not
text, over the cap, or fail verification, are reported as bad records with volume URL, offset and
reason — the job counts and quarantines them and goes on; odd but readable ones as warnings.

:class:`CatalogMarkSink` writes each document's verdict back as a catalog mark
(``kept`` / ``removed`` + reason), so ``haybale catalog get KEY`` shows it.
"""
from __future__ import annotations

from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.catalog import Catalog
from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import CatalogError
from catalog.keys import is_web_url
from catalog.location import Location
from catalog.record_text import RecordDocument, record_document
from catalog.storage import ensure_dir
from catalog.volume import VolumeReader
from dedup.errors import RecordError, SourceError
from dedup.record_rows import KEY_FIELD, RecordWarning, RowBatches, header_value, record_metadata
from dedup.sources import BadRecordHandler, Split, _report

KIND = "catalog"
CATALOG_INPUT_PREFIX = "catalog:"
_MANIFEST_SCHEMA = pa.schema([("key", pa.string()), ("volume_url", pa.string()), ("offset", pa.int64()),
                              ("length", pa.int64()), ("digest", pa.uint64())])


class CatalogSource:
    """Documents stored in a catalog's volumes, split by manifest files (see the module docstring)."""

    kind = KIND

    def __init__(self, manifests: list[str], batch_size: int = 500, id_field: str | None = None,
                 url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES) -> None:
        self.manifests = manifests
        self.batch_size = batch_size
        self.id_field = id_field or KEY_FIELD
        self.url_field = url_field or KEY_FIELD
        self.max_decoded = max_decoded

    @property
    def ids_are_keys(self) -> bool:
        """True when document ids are catalog keys (so verdicts can be marked in the catalog)."""
        return self.id_field == KEY_FIELD

    def splits(self) -> list[Split]:
        options: tuple[tuple[str, str], ...] = ()
        if (self.id_field, self.url_field) != (KEY_FIELD, KEY_FIELD):
            options = (("id_field", self.id_field), ("url_field", self.url_field))
        if self.max_decoded != DEFAULT_MAX_DECODED_BYTES:
            options += (("max_decoded", str(self.max_decoded)),)
        return [Split(KIND, url, options) for url in self.manifests]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        id_field = options.get("id_field", KEY_FIELD)
        url_field = options.get("url_field", KEY_FIELD)
        cap = int(options.get("max_decoded", DEFAULT_MAX_DECODED_BYTES))
        try:
            with fsspec.open(split.url, "rb") as fh:
                manifest = pq.read_table(fh).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot read catalog split manifest {split.url}: {exc}") from exc
        manifest.sort(key=lambda r: (r["volume_url"], r["offset"]))  # sequential reads per volume
        reader = VolumeReader()
        rows = RowBatches(self.batch_size)
        try:
            for row in manifest:
                found = _document(reader, row, on_bad_record, cap)
                if found is None:
                    continue
                headers, doc = found
                key = row["key"]
                doc_id = key if id_field == KEY_FIELD else header_value(headers, id_field)
                if doc_id is None:
                    _report(RecordError(row["volume_url"], row["offset"], f"{key}: no WARC header {id_field!r} to "
                                        "use as the id (--id-field)"), on_bad_record)
                    continue
                if url_field == KEY_FIELD:
                    url = key if is_web_url(key) else None
                else:
                    url = header_value(headers, url_field)
                if on_bad_record is not None:
                    for warning in doc.warnings:
                        on_bad_record(RecordWarning(row["volume_url"], row["offset"], f"{key}: {warning}"))
                metadata = record_metadata(headers, doc, row["volume_url"], row["offset"], {"key": key})
                yield from rows.add(doc.kind, doc_id, url, doc.text, metadata)
            yield from rows.flush()
        finally:
            reader.close()


def _document(reader: VolumeReader, row: dict[str, Any], on_bad: BadRecordHandler | None, cap: int
              ) -> tuple[list[tuple[str, str]], RecordDocument] | None:
    """(WARC headers, document) of one catalog record, or None after reporting why not."""
    loc = Location(0, row["offset"], row["length"], row["digest"])
    try:
        record = reader.read(row["volume_url"], loc)
        doc = record_document(record.record_type, record.header("Content-Type"), record.header("WARC-Target-URI"),
                              record.block, source=f"{row['key']} (record in {row['volume_url']} at offset "
                                                   f"{row['offset']})", max_decoded=cap)
    except CatalogError as exc:  # corrupt, missing volume, not text, over the cap
        _report(RecordError(row["volume_url"], row["offset"], f"{row['key']}: {exc}"), on_bad)
        return None
    return record.headers, doc


def plan_catalog_source(catalog: Catalog, prefix: str, manifest_dir: str,
                        records_per_split: int = 2000, id_field: str | None = None,
                        url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES
                        ) -> CatalogSource:
    """List the catalog under ``prefix`` and write one manifest per ``records_per_split`` records.
    ``max_decoded``: the decoded-size cap of a record's body (over it, the record is quarantined).

    A resumed run finds its manifests already written and reuses them, so it reads exactly the
    records the first attempt planned even if the catalog changed in between.
    """
    fs, base = fsspec.core.url_to_fs(manifest_dir)
    existing = sorted(fs.glob(f"{base}/split-*.parquet")) if fs.exists(base) else []
    if existing and fs.exists(f"{base}/COMPLETE"):
        return CatalogSource([fs.unstrip_protocol(p) if "://" in manifest_dir else p for p in existing],
                             id_field=id_field, url_field=url_field, max_decoded=max_decoded)
    ensure_dir(fs, base)  # on S3: checks the bucket, never creates it
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
    return CatalogSource(urls, id_field=id_field, url_field=url_field, max_decoded=max_decoded)


class CatalogMarkSink:
    """Writes dedup verdicts as catalog marks: ``kept`` or ``removed`` with the reason."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.marked = 0

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        self.marked += self.catalog.mark_many(
            (key, st, rs or "") for key, st, rs in zip(ids, status, reason))
