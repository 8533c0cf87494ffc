"""Indexing or repacking one split of WARC/WET/ARC files (plain Python; the job runs it on Ray).

Which records get catalog keys: ``response``, ``resource`` and ``conversion`` (the extracted text of
WET files) — the record types that carry a document. ``request``, ``metadata``, ``warcinfo``,
``revisit`` (no body of its own) and any other type get no key and are counted by type as
``skipped`` (from the catalog: in place they stay in the file, repacked they are copied into the
volumes all the same, counted as ``unkeyed_copied``). The key is the canonical form of the record's
``WARC-Target-URI`` (``<...>`` around it, as wget writes, removed; bytes that are not UTF-8
percent-escaped, :func:`catalog.keys.uri_text`).

Per file, the mode:

- **in place** (a WARC file, uncompressed or one gzip member per record, and no ``repack``): each keyed
  record's location points into the original file; its digest is computed so that
  ``VolumeReader.read`` of exactly that range succeeds later (see :mod:`ingest.warc_record_bytes`).
  The split writes a CDXJ index of the file under ``indexes_url`` (data first: the index exists before
  the driver registers anything). A record that cannot be served by one ranged read (e.g. split over
  several gzip members) is repacked into a volume instead.
- **repack** (``repack=True``, whole-file gzip, ARC, a file on a server that ignores HTTP range requests,
  copied locally first): every record is copied into volumes faithfully:
  its headers as stored (``WARC-Record-ID``, dates, payload and block digests, ``WARC-Warcinfo-ID``,
  ``WARC-Concurrent-To``, ``WARC-TREC-ID``, ...), its version line and block unchanged, followed by
  ``Haybale-Source-File`` (the source file's URL) and ``Haybale-Source-Offset`` (the record's byte
  offset there; ``Haybale-Source-Offset-Decompressed: true`` when it is an offset in a whole-file
  gzip's decompressed stream). ARC records become WARC ``response`` records if they hold an HTTP
  message, else ``resource``. Whole-file gzip is decompressed to a local
  temporary file first; quarantine offsets for it are positions in the decompressed stream
  (marked ``"decompressed": true``).

Contract of :func:`index_split`: never raises for bad bytes — every record the reader yields ends up
indexed, repacked, skipped or quarantined (file, offset, reason), and every unreadable byte range the
reader reports is quarantined. A read that fails on the storage is not bad bytes: it raises
:class:`~catalog.errors.SourceReadError` (the split fails, and a rerun with the run id reads it again). Nothing is registered here; only sealed volumes and written index files
are returned, so a crash leaves at worst files nothing points to.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import xxhash

from catalog.cdxj import date_problem, external_cdxj_line
from catalog.errors import InvalidKeyError
from catalog.failpoints import failpoint
from catalog.keys import canonical_key
from catalog.storage import write_atomic
from catalog.volume import SealedVolume, VolumeWriter
from catalog.warc_layout import Compression, RecordFormat, SourceFile, probe_layout, resolve_source
from catalog.warc_reader import Quarantined, SourceRecord, iter_records
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL, KEYED_RECORD_TYPES, WarcRecord
from ingest.errors import WarcSourceError
from ingest.file_sources import Split
from ingest.warc_gunzip import gunzip_stream
from ingest.warc_member_pass import plan_members
from ingest.warc_record_bytes import (
    RecordUnreadable,
    clean_target_uri,
    exact_digest,
    fast_digest,
    http_head,
    origin_headers,
    read_arc_record,
    read_warc_record,
)

KEYED_TYPES = KEYED_RECORD_TYPES
IN_PLACE, REPACK = "in-place", "repack"


@dataclass
class FileCounts:
    """What happened to one input file's records. ``records`` counts the records read (a record cut short
    or damaged, quarantined, included); ``quarantined`` counts quarantine entries, ``quarantined_records``
    those that are records (the others are byte ranges holding no record a parser could read), so
    ``records == indexed + repacked + skipped + quarantined_records``."""

    url: str
    mode: str
    records: int = 0
    indexed: int = 0
    repacked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantined_records: int = 0
    unkeyed_copied: int = 0  # repack: records without a key (request, metadata, ...) copied into volumes


@dataclass
class ExternalIndex:
    """An input file indexed in place: its records' (key, offset, length, digest) and its CDXJ index."""

    url: str
    size: int
    records: list[tuple[str, int, int, int]]
    index_url: str
    file_index: int  # position of the file in its split
    dates: list[str] = field(default_factory=list)  # WARC-Date of each record, in the order of records
    # the same records as columns (keys, offsets uint64, lengths uint32, digests uint64) when the pass
    # produced them so (registration reads them without unzipping ``records``); None otherwise
    columns: tuple[list[str], Any, Any, Any] | None = None


@dataclass
class WarcSplitResult:
    split: int
    files: list[FileCounts] = field(default_factory=list)
    external: list[ExternalIndex] = field(default_factory=list)
    sealed: list[SealedVolume] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    # records indexed or repacked with something odd the job reports (file, offset, key, reason): a
    # WARC-Date that is not a date (its CDXJ line gets the timestamp the catalog orders it by)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # (file position in the split, offset in the source) of each repacked record, in the order of the
    # sealed volumes' records: registration orders all records by source position ("later wins")
    repack_sources: list[tuple[int, int]] = field(default_factory=list)
    repack_dates: list[str] = field(default_factory=list)  # WARC-Date of each repacked record, same order
    bytes: int = 0
    seconds: float = 0.0
    registered: Any = None  # ingest.warc_worker.Registered: the worker registered the split (lists emptied)


@dataclass(frozen=True)
class IndexOptions:
    repack: bool = False
    volume_bytes: int = 1 << 30
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    name_prefix: str = "warc"


def index_file_name(url: str) -> str:
    """File name of the CDXJ index of ``url``: readable and unique per URL, the same on every redo."""
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in url.rstrip("/").rsplit("/", 1)[-1])[:80]
    return f"{base}-{xxhash.xxh64_hexdigest(url.encode())}.cdxj"


def record_key(target_uri: str | None) -> str:
    """The catalog key of a record. Raises :class:`RecordUnreadable` if it has no usable target URI."""
    uri = clean_target_uri(target_uri)
    if not uri:
        raise RecordUnreadable("record has no WARC-Target-URI, so it has no key")
    try:
        return canonical_key(uri)
    except InvalidKeyError as exc:
        raise RecordUnreadable(f"WARC-Target-URI is not a usable key: {exc}") from exc


class _SplitWork:
    """State of one split while it runs: the result, and the volume writer opened on first need."""

    def __init__(self, split: Split, volumes_url: str, indexes_url: str, options: IndexOptions) -> None:
        self.result = WarcSplitResult(split.index)
        self.volumes_url, self.indexes_url, self.options = volumes_url, indexes_url.rstrip("/"), options
        self._writer: VolumeWriter | None = None
        self.file_index = 0

    def warn_date(self, file: str, offset: int, key: str, date: str | None) -> None:
        """Report a record whose WARC-Date is not a date (:func:`catalog.cdxj.date_problem`)."""
        problem = date_problem(date)
        if problem:
            self.result.warnings.append({"file": file, "offset": offset, "key": key,
                                         "reason": f"{problem}: its CDXJ line has the timestamp its digits give, "
                                                   "as the catalog orders it (the oldest if none), and keeps the "
                                                   "date as written in warc_date"})

    def warn_parser(self, file: str, offset: int, key: str | None, parser: str, notes: list[str] | None,
                    decompressed: bool = False) -> None:
        """Report what the parser warned of while reading a record (warcio's warnings, caught instead of
        printed on stderr: :mod:`catalog.warc_messages`), one entry per record."""
        if notes:
            entry: dict[str, Any] = {"file": file, "offset": offset, "key": key,
                                     "reason": f"{parser} warned: {'; '.join(notes)}"}
            if decompressed:
                entry["decompressed"] = True
            self.result.warnings.append(entry)

    def quarantine(self, counts: FileCounts, file: str, offset: int, reason: str, decompressed: bool = False,
                   record: bool = False) -> None:
        """Report ``reason`` for ``file`` at ``offset``: one record (``record``, counted in
        ``quarantined_records``) or a byte range holding none."""
        entry: dict[str, Any] = {"file": file, "offset": offset, "reason": reason, "record": record}
        if decompressed:
            entry["decompressed"] = True
        self.result.quarantined.append(entry)
        counts.quarantined += 1
        counts.quarantined_records += record

    def _volume_writer(self) -> VolumeWriter:
        if self._writer is None:
            self._writer = VolumeWriter(self.volumes_url, max_bytes=self.options.volume_bytes,
                                        compresslevel=self.options.compresslevel,
                                        name_prefix=self.options.name_prefix)
        return self._writer

    def append(self, key: str, record: WarcRecord, source: str, offset: int) -> None:
        self.result.sealed += self._volume_writer().append(key, record, cdx_extra={"source": source,
                                                                                   "source_offset": offset})
        self.result.repack_sources.append((self.file_index, offset))
        self.result.repack_dates.append(record.date)

    def append_unkeyed(self, record: WarcRecord, source: str, offset: int) -> None:
        self.result.sealed += self._volume_writer().append_unkeyed(record, source=source, source_offset=offset)

    def close(self) -> None:
        if self._writer is not None:
            self.result.sealed += self._writer.close()


def index_split(split: Split, volumes_url: str, indexes_url: str, options: IndexOptions) -> WarcSplitResult:
    """Index in place or repack every file of ``split`` (see the module docstring for the contract)."""
    started = time.perf_counter()
    work = _SplitWork(split, volumes_url, indexes_url, options)
    for position, ref in enumerate(split.files):
        work.file_index = position
        work.result.files.append(_process_file(ref.url, work))
        work.result.bytes += ref.size
        failpoint("warc_indexing.after_file")
    work.close()
    work.result.seconds = time.perf_counter() - started
    return work.result


def _process_file(url: str, work: _SplitWork) -> FileCounts:
    try:
        src = resolve_source(url)
    except WarcSourceError as exc:
        counts = FileCounts(url, REPACK)
        work.quarantine(counts, url, 0, str(exc))
        return counts
    counts = FileCounts(url, REPACK)
    try:
        layout = probe_layout(src)
        if not work.options.repack and layout.record_format is RecordFormat.WARC and layout.indexable_in_place \
                and src.serves_ranges():
            counts.mode = IN_PLACE
            _index_in_place(src, layout.compression is Compression.GZIP_PER_RECORD, counts, work)
            return counts
        arc = layout.record_format is RecordFormat.ARC
        if layout.compression is Compression.GZIP_WHOLE_FILE:
            _repack_decompressed(src, arc, counts, work)
        elif not src.serves_ranges():
            _repack_copy(src, arc, counts, work)
        else:
            _repack(src, src, arc, False, counts, work)
    except WarcSourceError as exc:
        # the file went away, or its server stopped answering ranged reads: what was read stands
        work.quarantine(counts, url, 0, f"file could not be read to the end ({type(exc).__name__}: {exc}); "
                                        "records not counted as indexed or repacked were not ingested")
    # A read that failed on the storage (SourceReadError) is not bad data: it fails the split, which is
    # then neither registered nor marked, so a rerun with the run id reads the file again (before, it
    # was one quarantine entry counted against --max-errors and the rest of the file was never read).
    # So does an OSError writing this split's volumes or index, or a local temporary copy.
    finally:
        src.close()
    return counts


def _keyed(item: SourceRecord, counts: FileCounts) -> str | None:
    """The record's key if it is of a keyed type, None (counted as skipped) otherwise. Raises
    :class:`RecordUnreadable` for a keyed record without a usable target URI."""
    counts.records += 1
    kind = item.record_type.lower()
    if kind not in KEYED_TYPES:
        counts.skipped[kind] = counts.skipped.get(kind, 0) + 1
        return None
    return record_key(item.target_uri)


@dataclass
class _InPlacePlan:
    """One pass over a file: what to do with each record, applied only once the pass is accepted."""

    counts: FileCounts
    records: list[tuple[str, int, int, int]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    repack: list[tuple[str, int, int, str]] = field(default_factory=list)  # key, offset, length, problem
    quarantine: list[tuple[int, str, bool]] = field(default_factory=list)  # offset, reason, is a record
    dates: list[str] = field(default_factory=list)
    notes: list[tuple[int, str | None, str, list[str]]] = field(default_factory=list)  # offset, key, parser, notes
    # the records as column batches (keys, offsets, lengths, digests), in order, from the batch member
    # pass; None once any record was added otherwise
    column_parts: list[tuple[list[str], Any, Any, Any]] | None = field(default_factory=list)

    def columns(self) -> tuple[list[str], Any, Any, Any] | None:
        """The records as columns, if the pass produced every one of them in column batches."""
        parts = self.column_parts
        if not parts or sum(len(p[0]) for p in parts) != len(self.records):
            return None
        import numpy as np

        keys = [k for p in parts for k in p[0]] if len(parts) > 1 else parts[0][0]
        return (keys, np.concatenate([p[1] for p in parts]).astype(np.uint64, copy=False),
                np.concatenate([p[2] for p in parts]).astype(np.uint32),
                np.concatenate([p[3] for p in parts]).astype(np.uint64, copy=False))


def _in_place_pass(src: SourceFile, gzipped: bool, counts: FileCounts, read_payload: bool
                   ) -> _InPlacePlan | None:
    """Plan the in-place index of ``src``. With ``read_payload`` (the fast pass: digests from the
    parser's payload) it gives up — returns None — as soon as the strict parser is not the one reading
    or bytes are damaged: the reader then splits records differently than without payloads, so such
    files are decided record by record from their bytes (the repack path sees the same records)."""
    url = src.url
    plan = _InPlacePlan(counts)
    for item in iter_records(url, read_payload=read_payload):
        if isinstance(item, Quarantined):
            if read_payload:
                return None
            plan.quarantine.append((item.offset, item.reason, item.record))
            counts.records += item.record
            continue
        if read_payload and item.parser != "fastwarc":
            return None
        try:
            key = _keyed(item, counts)
        except RecordUnreadable as exc:
            plan.quarantine.append((item.offset, str(exc), True))
            continue
        finally:
            if item.notes:
                plan.notes.append((item.offset, clean_target_uri(item.target_uri), item.parser, item.notes))
        if key is None:
            continue
        offset, length = item.offset, item.length
        if not item.in_place or not length:
            plan.quarantine.append((offset, "record shares its gzip member with other records or its end is "
                                            "unknown, so no ranged read returns it alone: gunzip the file and "
                                            "ingest the plain WARC", True))
            continue
        digest = fast_digest(src, offset, length, gzipped, item.payload) if item.payload is not None else None
        if digest is None:
            try:
                digest = exact_digest(src, offset, length)
            except RecordUnreadable as in_place_problem:
                plan.repack.append((key, offset, length, str(in_place_problem)))
                continue
        plan.records.append((key, offset, length, digest))
        plan.dates.append(item.date or "")
        status, mime = item.http_status, item.content_type
        if item.record_type.lower() == "response":
            if item.http_headers is not None:
                mime = next((v for k, v in item.http_headers if k.lower() == "content-type"), None)
            else:
                status, mime = http_head(src, offset, length, gzipped)
        plan.lines.append(external_cdxj_line(key, record_type=item.record_type.lower(), content_type=mime,
                                             date=item.date, offset=offset, length=length, digest=digest,
                                             filename=url, status=status, payload_sha1=item.payload_digest))
    return plan


def _index_in_place(src: SourceFile, gzipped: bool, counts: FileCounts, work: _SplitWork) -> None:
    # fastest first: one-record gzip members parsed as the catalog reads them back; then FastWARC with
    # payloads; then record by record from the bytes (each gives up where the next one is needed)
    plan: _InPlacePlan | None = _InPlacePlan(counts)
    if not (gzipped and plan_members(src, plan, record_key, RecordUnreadable)):
        counts.records, counts.skipped = 0, {}
        plan = _in_place_pass(src, gzipped, counts, True)
    if plan is None:
        counts.records, counts.skipped = 0, {}
        plan = _in_place_pass(src, gzipped, counts, False)
    assert plan is not None
    url = src.url
    for offset, reason, record in plan.quarantine:
        work.quarantine(counts, url, offset, reason, record=record)
    for offset, uri, parser, notes in plan.notes:
        work.warn_parser(url, offset, uri, parser, notes)
    for key, offset, length, problem in plan.repack:
        _repack_one(src, key, offset, length, False, counts, work, url, False, problem)
    counts.indexed = len(plan.records)
    for (key, offset, _, _), date in zip(plan.records, plan.dates):
        work.warn_date(url, offset, key, date)
    if plan.records:
        index_url = f"{work.indexes_url}/{index_file_name(url)}"
        write_atomic(index_url, "".join(sorted(plan.lines)).encode("utf-8"))
        work.result.external.append(ExternalIndex(url, src.size, plan.records, index_url, work.file_index,
                                                  plan.dates, plan.columns()))


def _read_copy(src: SourceFile, offset: int, length: int, arc: bool, file: str, decompressed: bool) -> WarcRecord:
    origin = origin_headers(file, offset, decompressed)
    return read_arc_record(src, offset, length, origin) if arc else read_warc_record(src, offset, length, origin)


def _repack_one(src: SourceFile, key: str, offset: int, length: int, arc: bool, counts: FileCounts,
                work: _SplitWork, file: str, decompressed: bool, in_place_problem: str = "") -> None:
    try:
        record = _read_copy(src, offset, length, arc, file, decompressed)
    except RecordUnreadable as exc:
        reason = f"cannot be indexed in place ({in_place_problem}) nor repacked ({exc})" if in_place_problem \
            else str(exc)
        work.quarantine(counts, file, offset, reason, decompressed, record=True)
        return
    work.append(key, record, file, offset)
    counts.repacked += 1
    work.warn_date(file, offset, key, record.date)


def _copy_unkeyed(read_from: SourceFile, item: SourceRecord, arc: bool, counts: FileCounts, work: _SplitWork,
                  file: str, decompressed: bool) -> None:
    """Copy a record without a catalog key (request, metadata, warcinfo, revisit) into the volumes; one
    that cannot be copied is quarantined instead of counted as skipped (each record counted once)."""
    kind = item.record_type.lower()
    if not item.in_place or not item.length:
        counts.skipped[kind] -= 1
        work.quarantine(counts, file, item.offset, f"{item.record_type} record shares its gzip member with other "
                                                   "records or its end is unknown, so it cannot be copied alone: "
                                                   "gunzip the file and ingest the plain WARC", decompressed, True)
        return
    try:
        record = _read_copy(read_from, item.offset, item.length, arc, file, decompressed)
    except RecordUnreadable as exc:
        counts.skipped[kind] -= 1
        work.quarantine(counts, file, item.offset, str(exc), decompressed, True)
        return
    work.append_unkeyed(record, file, item.offset)
    counts.unkeyed_copied += 1


def _repack(read_from: SourceFile, original: SourceFile, arc: bool, decompressed: bool, counts: FileCounts,
            work: _SplitWork) -> None:
    """Repack every record of ``read_from`` (the original file, or its decompressed copy); quarantine
    entries name ``original``."""
    file = original.url
    for item in iter_records(read_from.url):
        if isinstance(item, Quarantined):
            counts.records += item.record
            work.quarantine(counts, file, item.offset, item.reason, decompressed, item.record)
            continue
        work.warn_parser(file, item.offset, clean_target_uri(item.target_uri), item.parser, item.notes, decompressed)
        try:
            key = _keyed(item, counts)
        except RecordUnreadable as exc:
            work.quarantine(counts, file, item.offset, str(exc), decompressed, True)
            continue
        if key is None:
            _copy_unkeyed(read_from, item, arc, counts, work, file, decompressed)
            continue
        if not item.in_place or not item.length:
            work.quarantine(counts, file, item.offset, "record shares its gzip member with other records or its "
                                                       "end is unknown: gunzip the file and ingest the plain WARC",
                            decompressed, True)
            continue
        _repack_one(read_from, key, item.offset, item.length, arc, counts, work, file, decompressed)


def _repack_copy(src: SourceFile, arc: bool, counts: FileCounts, work: _SplitWork) -> None:
    """Copy a file whose storage ignores range requests to a local temporary file (the same bytes, so
    the same offsets), then repack from it."""
    fd, tmp = tempfile.mkstemp(suffix=".arc" if arc else ".warc", prefix="hb-copy-")
    try:
        with os.fdopen(fd, "wb") as out, src.open() as fh:
            while block := fh.read(1 << 20):
                out.write(block)
        copy = resolve_source(tmp)
        try:
            _repack(copy, src, arc, False, counts, work)
        finally:
            copy.close()
    finally:
        os.unlink(tmp)


def _repack_decompressed(src: SourceFile, arc: bool, counts: FileCounts, work: _SplitWork) -> None:
    """Decompress a whole-file gzip to a local temporary file, then repack from it."""
    fd, tmp = tempfile.mkstemp(suffix=".arc" if arc else ".warc", prefix="hb-gunzip-")
    try:
        with os.fdopen(fd, "wb") as out, src.open() as fh:
            problem = gunzip_stream(fh.read, out.write)
        if problem is not None:
            work.quarantine(counts, src.url, problem[0], problem[1], True)
        if os.path.getsize(tmp):
            plain = resolve_source(tmp)
            try:
                _repack(plain, src, arc, True, counts, work)
            finally:
                plain.close()
    finally:
        os.unlink(tmp)
