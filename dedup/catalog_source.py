"""The catalog as a dedup input, and the catalog as the place dedup's verdicts are marked.

:func:`plan_catalog_source` runs in the driver but lists nothing itself: every owner of the catalog
writes its own keys under the prefix, with their locations, as *pieces* (small Parquet files of key,
volume number, offset, length, digest; :mod:`catalog.owner_export`), all owners at once. The driver
gathers only the pieces' descriptors (file, first key, count, bytes, volumes: a few per split, never
a key), groups them into splits, resolves the distinct volume numbers to URLs once, and writes the plan
under the run's directory. The resulting :class:`CatalogSource` holds only piece URLs, so it pickles to
Ray workers, which read records straight from the volumes (one verified ranged read each, in
volume/offset order) without touching RocksDB.

Splits: an owner cuts a piece at ``records_per_split`` of its records (or ``bytes_per_split`` of record
bytes); the pieces of all owners, ordered by their first key's listing entry, are grouped until a group
holds that much. So a prefix holding at most one split's records is one split, read in the same order
as when one process listed the catalog, and the plan is a function of the catalog's content, the slot
map and the sizes (the same catalog gives the same splits and the same output).

Documents: each record becomes a document with :func:`catalog.record_text.record_document`, the
reader the WARC input and ``haybale catalog cat`` use too (transfer/content encodings removed within
the decoded-size cap, a compressed small file such as ``page.html.gz`` decompressed, charset from
the HTTP header, BOM or ``<meta>``): HTML as ``html``, other text as ``text``. ``id`` is the catalog key
(or the WARC header named by ``id_field``), ``url`` the key for web keys (or the header named by
``url_field``); ``metadata`` as :mod:`dedup.record_rows` describes, plus ``key``. Records that are not
text, over the cap, or fail verification, are reported as bad records with volume URL, offset and
reason — the job counts and quarantines them and goes on; odd but readable ones as warnings. A volume
read that fails on the storage (an ``OSError``: not the record's fault) fails the split naming the
volume (:func:`dedup.sources.read_failed`), and a resume reads it again.

:class:`CatalogMarkSink` writes each document's verdict back as a catalog mark
(``kept`` / ``removed`` + reason), so ``haybale catalog get KEY`` shows it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import CatalogError, KeyNotFoundError
from catalog.keys import is_web_url
from catalog.listing import listing_bounds, listing_entry
from catalog.location import Location
from catalog.owner_export import Piece, export_owner_pieces
from catalog.record_text import RecordDocument, record_document
from catalog.storage import ensure_dir
from catalog.volume import VolumeReader
from catalog.warc_raw_uri import target_uri_from_head
from dedup.defaults import CATALOG_INPUT_PREFIX  # noqa: F401  (re-exported)
from dedup.errors import RecordError, SourceError
from dedup.record_rows import KEY_FIELD, RecordWarning, RowBatches, header_value, record_metadata
from dedup.sources import BadRecordHandler, Split, _report, read_failed

KIND = "catalog"
DEFAULT_RECORDS_PER_SPLIT = 2000
DEFAULT_BYTES_PER_SPLIT = 256 << 20  # stored record bytes; a split of big records is cut before 2000
PLAN_NAME = "plan.json"
VOLUMES_NAME = "volumes.json"


class CatalogSource:
    """Documents stored in a catalog's volumes, split by piece files (see the module docstring).

    ``splits_parts``: per split, the URLs of its piece files; ``volumes_url``: the JSON map of volume
    number to URL the pieces' numbers resolve through. (A plan written by an earlier version has one
    manifest per split holding volume URLs, and no ``volumes_url``; it still reads.)"""

    kind = KIND

    def __init__(self, splits_parts: list[list[str]], batch_size: int = 500, id_field: str | None = None,
                 url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
                 volumes_url: str | None = None) -> None:
        self.splits_parts = splits_parts
        self.volumes_url = volumes_url
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
        if self.volumes_url is not None:
            options += (("volumes", self.volumes_url),)
        return [Split(KIND, parts[0], options + ((("parts", json.dumps(parts[1:])),) if len(parts) > 1 else ()))
                for parts in self.splits_parts]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        id_field = options.get("id_field", KEY_FIELD)
        url_field = options.get("url_field", KEY_FIELD)
        cap = int(options.get("max_decoded", DEFAULT_MAX_DECODED_BYTES))
        manifest = _split_rows(split.url, json.loads(options.get("parts", "[]")), options.get("volumes"))
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


def _split_rows(first: str, more: list[str], volumes_url: str | None) -> list[dict[str, Any]]:
    """The records of one split as (key, volume_url, offset, length, digest) rows, in the order they are
    read: by volume and offset (sequential reads per volume), ties in listing order."""
    rows: list[dict[str, Any]] = []
    for url in [first, *more]:
        try:
            with fsspec.open(url, "rb") as fh:
                rows.extend(pq.read_table(fh).to_pylist())
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot read catalog split manifest {url}: {exc}") from exc
    if volumes_url is None:  # an earlier version's manifest: volume URLs inline, rows in listing order
        rows.sort(key=lambda r: (r["volume_url"], r["offset"]))
        return rows
    volumes = _volume_urls(volumes_url, _size(volumes_url))
    for row in rows:
        number = row.pop("volume")
        try:
            row["volume_url"] = volumes[number]
        except KeyError:
            raise SourceError(f"catalog split {first} names volume {number}, which {volumes_url} does not map: "
                              "the plan is damaged; start the run again with a new --run-id") from None
    rows.sort(key=lambda r: (r["volume_url"], r["offset"], listing_entry(r["key"])))
    return rows


def _size(url: str) -> int:
    try:
        fs, path = fsspec.core.url_to_fs(url)
        return int(fs.size(path))
    except OSError as exc:
        raise SourceError(f"cannot read the catalog plan's volume map {url}: {exc}") from exc


@lru_cache(maxsize=4)
def _volume_urls(url: str, size: int) -> dict[int, str]:
    """Volume number -> URL map of a plan, read once per worker process (``size`` in the cache key: a
    plan written again under the same name is read again)."""
    try:
        with fsspec.open(url, "rt") as fh:
            return {int(k): v for k, v in json.load(fh).items()}
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read the catalog plan's volume map {url}: {exc}") from exc


def _document(reader: VolumeReader, row: dict[str, Any], on_bad: BadRecordHandler | None, cap: int
              ) -> tuple[list[tuple[str, str]], RecordDocument] | None:
    """(WARC headers, document) of one catalog record, or None after reporting why not."""
    loc = Location(0, row["offset"], row["length"], row["digest"])
    try:
        record = reader.read(row["volume_url"], loc)
        doc = record_document(record.record_type, record.header("Content-Type"), record.header("WARC-Target-URI"),
                              record.block, source=f"{row['key']} (record in {row['volume_url']} at offset "
                                                   f"{row['offset']})", max_decoded=cap,
                              truncated=record.header("WARC-Truncated"),
                              segment=record.header("WARC-Segment-Number"))
    except CatalogError as exc:  # corrupt, missing volume, not text, over the cap
        _report(RecordError(row["volume_url"], row["offset"], f"{row['key']}: {exc}"), on_bad)
        return None
    except OSError as exc:  # the volume's storage failed, not the record: the split fails, a resume reads again
        raise read_failed(row["volume_url"], f"at offset {row['offset']:,} (record {row['key']})", exc) from exc
    return _with_escaped_uri(record.headers, record.head), doc


def _with_escaped_uri(headers: list[tuple[str, str]], head: bytes) -> list[tuple[str, str]]:
    """``headers`` with a WARC-Target-URI whose bytes are not UTF-8 given as the catalog keys it (each
    such byte percent-escaped), not with U+FFFD: two URIs must not read as one (as the WARC input does)."""
    escaped = target_uri_from_head(head, arc=False) if head else None
    if escaped is None:
        return headers
    return [(k, escaped if k.lower() == "warc-target-uri" else v) for k, v in headers]


def plan_catalog_source(catalog: Any, prefix: str, manifest_dir: str,
                        records_per_split: int = DEFAULT_RECORDS_PER_SPLIT, id_field: str | None = None,
                        url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
                        bytes_per_split: int = DEFAULT_BYTES_PER_SPLIT) -> CatalogSource:
    """Plan the records of ``catalog`` (an :class:`~catalog.owned_catalog.OwnedCatalog`) under
    ``prefix`` into splits of about ``records_per_split`` records (or ``bytes_per_split`` stored bytes):
    the owners write their own keys as pieces under ``manifest_dir``, all at once, and this process
    holds only the pieces' descriptors (see the module docstring). ``max_decoded``: the decoded-size
    cap of a record's body (over it, the record is quarantined).

    A resumed run finds its plan already written and reuses it, so it reads exactly the records the
    first attempt planned even if the catalog changed in between.
    """
    fs, base = fsspec.core.url_to_fs(manifest_dir)
    url_of = (lambda p: fs.unstrip_protocol(p)) if "://" in manifest_dir else (lambda p: p)
    settings = {"id_field": id_field, "url_field": url_field, "max_decoded": max_decoded}
    if fs.exists(f"{base}/COMPLETE"):
        if fs.exists(f"{base}/{PLAN_NAME}"):
            plan = json.loads(fs.cat_file(f"{base}/{PLAN_NAME}"))
            return CatalogSource(plan["splits"], volumes_url=plan["volumes"], **settings)
        legacy = sorted(fs.glob(f"{base}/split-*.parquet"))
        if legacy:
            return CatalogSource([[url_of(p)] for p in legacy], **settings)
    ensure_dir(fs, base)  # on S3: checks the bucket, never creates it
    lower, upper = listing_bounds(prefix)
    pieces = export_owner_pieces(catalog, lower, upper, manifest_dir.rstrip("/"), records_per_split, bytes_per_split)
    if not pieces:
        raise SourceError(f"the catalog at {catalog.directory} has no records under {prefix!r}: "
                          "check the prefix with `haybale catalog ls`")
    groups = group_pieces(pieces, records_per_split, bytes_per_split)
    volumes = sorted({v for piece in pieces for v in piece.volumes})
    volumes_path = f"{base}/{VOLUMES_NAME}"
    fs.pipe(volumes_path, json.dumps({str(v): str(catalog.volumes.get(v)["url"]) for v in volumes}).encode())
    plan = {"splits": [[p.url for p in group] for group in groups], "volumes": url_of(volumes_path),
            "records": [sum(p.records for p in group) for group in groups],
            "bytes": [sum(p.bytes for p in group) for group in groups]}
    fs.pipe(f"{base}/{PLAN_NAME}", json.dumps(plan).encode())
    fs.pipe(f"{base}/COMPLETE", b"")
    return CatalogSource(plan["splits"], volumes_url=plan["volumes"], **settings)


def group_pieces(pieces: list[Piece], records_per_split: int, bytes_per_split: int) -> list[list[Piece]]:
    """Pieces ordered by their first key's listing entry, grouped into splits: a group is closed once it
    holds ``records_per_split`` records or ``bytes_per_split`` record bytes."""
    groups: list[list[Piece]] = []
    held_records = held_bytes = 0
    for piece in sorted(pieces, key=lambda p: p.first):
        if not groups or held_records >= records_per_split or held_bytes >= bytes_per_split:
            groups.append([])
            held_records = held_bytes = 0
        groups[-1].append(piece)
        held_records += piece.records
        held_bytes += piece.bytes
    return groups


LISTED_MISSING = 10_000  # keys deleted during a run that its summary names (all are counted)


class CatalogMarkSink:
    """Writes dedup verdicts as catalog marks: ``kept`` or ``removed`` with the reason.

    It marks the documents of catalog splits only (:attr:`kinds`): a run over ``catalog:`` plus file
    inputs has documents whose ids are no catalog keys. A key deleted from the catalog while the run
    ran is not marked; :attr:`missing_count` counts them and :attr:`missing` lists the first
    :data:`LISTED_MISSING` (the summary's ``catalog_marks_missing_count`` and ``catalog_marks_missing``)."""

    kinds = frozenset({KIND})
    _ATTEMPTS = 5

    def __init__(self, catalog: Any) -> None:  # an OwnedCatalog (or anything with mark_many, get_many)
        self.catalog = catalog
        self.marked = 0
        self.missing: list[str] = []
        self.missing_count = 0

    def summary(self) -> dict[str, Any]:
        """``catalog_marks`` (keys marked), ``catalog_marks_missing_count`` (keys not marked: deleted
        meanwhile) and ``catalog_marks_missing`` (the first of them)."""
        return {"catalog_marks": self.marked, "catalog_marks_missing_count": self.missing_count,
                "catalog_marks_missing": self.missing}

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        rows = [(key, st, rs or "") for key, st, rs in zip(ids, status, reason)]
        for _ in range(self._ATTEMPTS):
            found = self.catalog.get_many([key for key, _, _ in rows])
            gone = [row[0] for row, loc in zip(rows, found) if loc is None]
            self.missing_count += len(gone)
            self.missing += gone[:max(0, LISTED_MISSING - len(self.missing))]
            rows = [row for row, loc in zip(rows, found) if loc is not None]
            try:
                self.marked += self.catalog.mark_many(rows)
                return
            except KeyNotFoundError:
                continue  # deleted between the lookup and the mark: look again
        raise CatalogError(f"could not mark {len(rows)} keys: keys kept being deleted from the catalog while "
                           f"they were marked ({self._ATTEMPTS} tries); run the dedup again once the deletes are done")
