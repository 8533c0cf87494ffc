"""Read WARC, WARC.gz, WET and ARC(.gz) files from any fsspec URL, record by record, never crashing.

For every record :func:`iter_records` yields a :class:`SourceRecord` (where it is in the file, its WARC
headers, optionally its payload) or a :class:`Quarantined` (file, offset, reason) for bytes no parser
could read, then reads on from the next record it can find. It never raises for bad bytes; it raises
:class:`~catalog.errors.ArchiveError` only when the file itself cannot be opened, and
:class:`~catalog.errors.SourceReadError` when a read fails on the storage mid-file (an I/O error says
nothing about the bytes: they are never quarantined as bad, and the caller fails its work so that a
rerun reads the file again).

Parsers, fastest first (measured in ``bench/ingest_warc_index.py``): FastWARC strict, then FastWARC
quirks mode, then warcio (the only one that reads ARC). When a parser fails part-way, the next one
restarts the segment and skips the records already yielded, so each record is yielded once. When all
fail, the unreadable bytes are quarantined and reading resumes at the next gzip member (or
``WARC/1.`` line) that starts a record.

Offsets (``SourceRecord.offset``/``length``): for uncompressed files, the record's bytes including its
trailing CRLFs; for gzip-per-record files, the gzip member(s) holding the record, so
``fs.cat_file(url, offset, offset + length)`` returns bytes that decompress and parse alone
(:func:`read_record_at`). For whole-file gzip, offsets are positions in the *decompressed* stream and
``in_place`` is False: repack such files instead of indexing them in place.
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from typing import Any, Iterator

from catalog.errors import ArchiveError as WarcSourceError
from catalog.errors import SourceReadError
from catalog.warc_layout import (
    Compression,
    FileLayout,
    RecordFormat,
    SourceFile,
    is_indexable_in_place,
    probe_layout,
    resolve_source,
)
from catalog.warc_parsers import BACKENDS, RawRecord
from catalog.warc_raw_uri import raw_target_uri
from catalog.warc_recovery import (
    foreign_member,
    is_blank,
    next_record_start,
    record_end,
    starts_member,
    truncation_problem,
)

__all__ = ["FileLayout", "Quarantined", "SourceRecord", "is_indexable_in_place", "iter_files", "iter_records",
           "probe_layout", "read_record_at"]

DEFAULT_PARSERS = ("fastwarc", "fastwarc-quirks", "warcio")


@dataclass(slots=True)
class SourceRecord:
    """One record of a source file. Header fields are as written in the file (None when absent).

    ``block`` (the whole content block) and ``headers`` (every WARC header, in order) are filled only
    when asked for (``read_block=N``): ``block`` is None for a record whose block is over N bytes.
    ``payload``/``http_status``/``http_headers`` are filled only when asked for (``read_payload=True``);
    the payload is the record's payload as stored: for ``response``/``request`` records the HTTP body
    after the HTTP headers (not de-chunked, not decompressed), otherwise the whole record block.
    ``length`` is None only if the record's end could not be told (a damaged file right after it).
    ``parser`` names the parser that read it; ``notes`` what it warned of while reading it (warcio writes
    such warnings to stderr: :mod:`catalog.warc_messages` catches them here instead). For ARC records (read through warcio's ARC-to-WARC
    conversion) ``record_id`` is generated anew on each read.
    """

    file: str
    offset: int
    length: int | None
    in_place: bool
    record_type: str
    target_uri: str | None
    date: str | None
    record_id: str | None
    content_type: str | None
    payload_digest: str | None
    content_length: int
    parser: str
    payload: bytes | None = None
    http_status: int | None = None
    http_headers: list[tuple[str, str]] | None = field(default=None)
    block: bytes | None = None
    headers: list[tuple[str, str]] | None = None
    notes: list[str] | None = None  # what the parser warned of while reading it (warcio's, caught: not printed)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """Bytes of ``file`` from ``offset`` on that no parser could read, and why. ``record``: they are one
    record whose header a parser read (cut short or damaged); else bytes in which no record was read
    (junk, a gzip member that is not a record, an unreadable stretch)."""

    file: str
    offset: int
    reason: str
    record: bool = False


def _to_record(url: str, raw: RawRecord, length: int | None, in_place: bool, parser: str) -> SourceRecord:
    h = raw.headers
    return SourceRecord(url, raw.pos, length, in_place, raw.record_type, h.get("WARC-Target-URI"),
                        h.get("WARC-Date"), h.get("WARC-Record-ID"), h.get("Content-Type"),
                        h.get("WARC-Payload-Digest"), raw.content_length, parser, raw.payload,
                        raw.http_status, raw.http_headers, raw.block, raw.all_headers, raw.notes)


class _Source:
    """Opens the bytes a parser reads: the raw file from an offset, or a whole-file gzip decompressed."""

    def __init__(self, file: SourceFile, layout: FileLayout) -> None:
        self.file, self.url, self.layout = file, file.url, layout
        self.decompressed = layout.compression is Compression.GZIP_WHOLE_FILE
        self.gzipped = layout.compression is Compression.GZIP_PER_RECORD
        self.end = layout.size  # for whole-file gzip: the decompressed size, once read to the end

    def open(self, base: int) -> Any:
        """A stream for a parser; the caller closes it only when :attr:`decompressed` (else it is shared)."""
        if self.decompressed:
            return _MeasuringGzip(self.file.open(), self)
        handle = self.file.shared(base)
        return _ReadOnlyView(handle) if base else handle


class _ReadOnlyView:
    """The shared handle from an offset on, as if that offset were 0, so every parser counts positions
    from there (FastWARC asks the file where it is, warcio counts bytes read); closing it does not close
    the shared handle."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> "_ReadOnlyView":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _MeasuringGzip(gzip.GzipFile):
    """GzipFile that records the decompressed size at EOF (the end offset of the last record)."""

    def __init__(self, raw: Any, source: _Source) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw_file, self._source = raw, source

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        if not data and size != 0:
            self._source.end = self.tell()
        return data

    def close(self) -> None:
        super().close()
        self._raw_file.close()


@dataclass
class _SegmentEnd:
    """How a segment ended: ``failed_at`` is None if the parsers read it to the end of the file."""

    failed_at: int | None = None
    error: str = ""
    yielded: int = 0
    resume_at: int | None = None  # a damaged record was quarantined mid-file: read on from here


def _junk_before(src: _Source, prev: RawRecord, next_pos: int) -> int | None:
    """Offset of non-blank bytes between the end ``prev``'s headers declare and ``next_pos``, or None."""
    expected = record_end(src.file, prev.pos, False, prev.content_length)
    if expected is None or not prev.pos < expected < next_pos:
        return None
    gap = src.file.read(expected, min(next_pos, expected + (1 << 20)))
    return expected if gap.strip(b"\r\n \t") else None


def _record_and_foreign(src: _Source, prev: RawRecord, stop: int, parser: str) -> Iterator[SourceRecord | Quarantined]:
    """The record at ``prev.pos`` whose range runs to ``stop`` (where the next record starts, or the
    file ends); in a gzip-per-record file read in place, a gzip member in that range that is not part
    of the record (a gzipped file concatenated between records) is cut off the record's range and
    quarantined, so a ranged read of the record returns only its own members."""
    in_place = not src.decompressed
    foreign = foreign_member(src.file, prev.pos, stop, prev.content_length) if src.gzipped and in_place else None
    if foreign is None:
        yield _to_record(src.url, prev, stop - prev.pos, in_place, parser)
        return
    yield _to_record(src.url, prev, foreign - prev.pos, in_place, parser)
    yield Quarantined(src.url, foreign, f"{stop - foreign} bytes of gzip members between records are not part of "
                                        "any WARC record (a gzip member that is not a record, e.g. a gzipped file "
                                        "concatenated into the WARC); skipped")


def _not_gzip(src: _Source, at: int, end: _SegmentEnd) -> Iterator[Quarantined]:
    """Bytes at ``at`` of a gzip-per-record file read in place that are not a gzip member: up to the next
    member that starts a record (reading resumes there: ``end.resume_at``), or the end of the file, they
    belong to no record. Parsers read such bytes as they can — warcio made records of a plain-text
    block's lines, or one record that ran over every later member — so they are cut off here: quarantined
    with their offset, unless they are only line ends, blanks or zero padding (nothing is lost then)."""
    resume = next_record_start(src.file, at, True)
    stop = resume if resume is not None else src.file.size
    end.resume_at = resume
    if is_blank(src.file, at, stop):
        return
    where, then = ("between gzip members", f"reading resumes at the next record, at offset {resume}") \
        if resume is not None else ("after the last gzip member", "they run to the end of the file")
    yield Quarantined(src.url, at, f"{stop - at} bytes {where} are not a gzip member of any WARC record (junk, or "
                                   f"a file concatenated into the WARC uncompressed); skipped, {then}")


def _parse_segment(src: _Source, base: int, chain: tuple[str, ...], read_payload: bool, end: _SegmentEnd,
                   read_block: int = 0) -> Iterator[SourceRecord | Quarantined]:
    url = src.url
    in_place = not src.decompressed
    yielded = 0
    pending: tuple[RawRecord, str] | None = None
    members = src.gzipped and in_place  # every record starts a gzip member: a parser read bytes that do not
    not_gzip_at: int | None = None
    for parser in chain:
        skip = yielded + (1 if pending is not None else 0)
        # Where the strict parser gave up, a lenient one may skip junk before any record it reads on: look
        # for it before each one (uncompressed WARC; a record's end is told by its headers)
        check_gap = parser != "fastwarc" and in_place and not src.gzipped and \
            src.layout.record_format is RecordFormat.WARC
        stream = src.open(base)
        try:
            for raw in BACKENDS[parser](stream, read_payload, read_block):
                if skip:
                    skip -= 1
                    continue
                raw.pos += base
                # FastWARC's strict parser stops at bytes that are not a member (it never reads a record
                # out of them), so only the lenient parsers' records are checked: a 3-byte read per record
                # cost the index pass ~7% (250,000 records: 2.29 vs 2.13 s)
                if members and parser != "fastwarc" and not starts_member(src.file, raw.pos):
                    not_gzip_at = raw.pos
                    break
                if parser == "warcio" and in_place and not (raw.headers.get("WARC-Target-URI") or "").isascii():
                    uri = raw_target_uri(src.file, raw.pos, src.gzipped, src.layout.record_format is RecordFormat.ARC)
                    if uri is not None:
                        raw.headers["WARC-Target-URI"] = uri
                if pending is not None and check_gap:
                    prev, prev_parser = pending
                    junk_at = _junk_before(src, prev, raw.pos)
                    if junk_at is not None:
                        yield _to_record(url, prev, junk_at - prev.pos, in_place, prev_parser)
                        yield Quarantined(url, junk_at, f"{raw.pos - junk_at} bytes between records are not part "
                                                        f"of any record (found by {parser})")
                        yielded += 1
                        pending = None
                if pending is not None:
                    prev, prev_parser = pending
                    if raw.pos > prev.pos:
                        yield from _record_and_foreign(src, prev, raw.pos, prev_parser)
                    else:  # several records in one gzip member: no ranged read returns one of them alone
                        yield _to_record(url, prev, prev.length, False, prev_parser)
                    yielded += 1
                pending = (raw, parser)
        except BaseException as exc:  # noqa: BLE001 - FastWARC's Rust panics derive from BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, SourceReadError)):
                raise
            if src.file.read_error is not None:  # the storage failed under the parser, not the bytes
                raise src.file.read_error from exc
            end.error = f"{parser}: {type(exc).__name__}: {exc}".replace("\n", " ").strip()[:300]
            continue
        finally:
            if src.decompressed:
                stream.close()
        if not_gzip_at is not None:
            if pending is not None:
                prev, prev_parser = pending
                yield from _record_and_foreign(src, prev, not_gzip_at, prev_parser)
                yielded += 1
            yield from _not_gzip(src, not_gzip_at, end)
            end.yielded = yielded
            return
        if pending is not None:
            prev, prev_parser = pending
            length = src.end - prev.pos  # to the end of the file: trailing blank bytes belong to it
            trailing = None  # where bytes after the last record's end start that are not blank
            if in_place and not src.gzipped and src.layout.record_format is RecordFormat.WARC:
                trailing = _junk_before(src, prev, src.end)
                if trailing is not None:
                    length = trailing - prev.pos
            if src.gzipped and in_place:
                # FastWARC also ends quietly at an empty gzip member: where a member that starts a
                # record follows this record's own, it was not the last, and reading goes on there
                own_end = record_end(src.file, prev.pos, True, prev.content_length)
                later = next_record_start(src.file, own_end, True) if own_end is not None and \
                    own_end < src.end else None
                if later is not None:
                    length, end.resume_at = later - prev.pos, later
            problem = None
            if in_place and src.layout.record_format is RecordFormat.WARC:
                problem = truncation_problem(src.file, prev.pos, length, prev.content_length)
            # FastWARC ends quietly at a corrupt gzip member: where more members follow, the damaged
            # record is not the last one, and reading goes on at the next member that starts a record
            resume = end.resume_at
            if problem and src.gzipped and resume is None:
                resume = next_record_start(src.file, prev.pos + 1, True)
            if problem and resume is not None:
                problem = problem.replace("last record", "record", 1) + \
                    f"; reading resumes at the next record, at offset {resume}"
                end.resume_at = resume
            if problem:
                yield Quarantined(url, prev.pos, problem, record=True)
            else:
                yield from _record_and_foreign(src, prev, prev.pos + length, prev_parser)
                if trailing is not None:
                    yield Quarantined(url, trailing, f"{src.end - trailing} bytes after the last record are not "
                                                     "part of any record (junk appended to the WARC); skipped")
            yielded += 1
        end.yielded = yielded
        return
    # Every parser failed: keep the record read last (its end found separately), report where reading stopped.
    end.yielded = yielded
    end.failed_at = base
    if pending is not None:
        prev, prev_parser = pending
        length = prev.length
        if length is None and in_place:
            stop = record_end(src.file, prev.pos, src.gzipped, prev.content_length)
            length = stop - prev.pos if stop is not None else None
        yield _to_record(url, prev, length, in_place and length is not None, prev_parser)
        end.yielded += 1
        end.failed_at = prev.pos + length if length is not None else prev.pos + 1


def iter_records(url: str, *, read_payload: bool = False, storage_options: dict[str, Any] | None = None,
                 parsers: tuple[str, ...] | None = None, read_block: int = 0) -> Iterator[SourceRecord | Quarantined]:
    """Yield every record of ``url`` as :class:`SourceRecord`, or :class:`Quarantined` for unreadable bytes.

    ``parsers`` overrides the parser chain (names in :data:`catalog.warc_parsers.BACKENDS`); ARC files
    always use warcio. ``read_block=N`` fills each record's ``block`` and ``headers`` (blocks over N
    bytes are not read: memory stays bounded). Raises :class:`WarcSourceError` only if the file cannot
    be opened, and :class:`SourceReadError` if a read fails on the storage (every item yielded before
    it was read whole; nothing after it is yielded).
    """
    file = resolve_source(url, storage_options)
    try:
        for item in _iter_file(file, read_payload, parsers, read_block):
            if file.read_error is not None:  # a parser went on past a failed read: the rest is not the file
                raise file.read_error
            yield item
        if file.read_error is not None:
            raise file.read_error
    finally:
        file.close()


def _iter_file(file: SourceFile, read_payload: bool, parsers: tuple[str, ...] | None, read_block: int = 0
               ) -> Iterator[SourceRecord | Quarantined]:
    url = file.url
    layout = probe_layout(file)
    if layout.size == 0:
        return
    chain = ("warcio",) if layout.record_format is RecordFormat.ARC else (parsers or DEFAULT_PARSERS)
    src = _Source(file, layout)
    # Resynchronising needs record starts we can find by bytes: WARC, not inside a whole-file gzip.
    can_resync = layout.record_format is RecordFormat.WARC and not src.decompressed
    base, total = 0, 0
    while True:
        end = _SegmentEnd()
        yield from _parse_segment(src, base, chain, read_payload, end, read_block)
        total += end.yielded
        if end.resume_at is not None:
            base = end.resume_at
            continue
        if end.failed_at is None:
            if total == 0:
                yield Quarantined(url, base, f"no WARC/ARC record found ({layout.record_format.value} format, "
                                             f"{layout.compression.value}): not an archive file?")
            return
        if src.gzipped and not starts_member(file, end.failed_at):
            not_gzip = _SegmentEnd()
            yield from _not_gzip(src, end.failed_at, not_gzip)
            if not_gzip.resume_at is None:
                return
            base = not_gzip.resume_at
            continue
        resume = next_record_start(file, end.failed_at, src.gzipped) if can_resync else None
        if resume is not None and resume <= base:
            resume = next_record_start(file, base + 1, src.gzipped)
        skipped = f"{resume - end.failed_at} bytes skipped" if resume is not None else "rest of the file skipped"
        yield Quarantined(url, end.failed_at, f"unreadable by every parser ({', '.join(chain)}), {skipped}; "
                                              f"last error: {end.error}")
        if resume is None:
            return
        base = resume


def iter_files(urls: list[str], *, read_payload: bool = False, storage_options: dict[str, Any] | None = None
               ) -> Iterator[SourceRecord | Quarantined]:
    """:func:`iter_records` over several files; a file that cannot be opened is quarantined at offset 0."""
    for url in urls:
        try:
            yield from iter_records(url, read_payload=read_payload, storage_options=storage_options)
        except WarcSourceError as exc:
            yield Quarantined(url, 0, str(exc))


def read_record_at(url: str, offset: int, length: int, *, storage_options: dict[str, Any] | None = None
                   ) -> SourceRecord:
    """One ranged read of ``[offset, offset+length)`` parsed alone, with its payload.

    Raises :class:`WarcSourceError` if those bytes do not hold exactly one record (wrong offset, a
    whole-file gzip, or a corrupt member).
    """
    try:
        data = resolve_source(url, storage_options).read(offset, offset + length)
    except (OSError, ValueError, SourceReadError) as exc:
        raise WarcSourceError(f"cannot read {url!r} at {offset}+{length}: {exc}") from exc
    for parser in DEFAULT_PARSERS:
        try:
            raws = list(BACKENDS[parser](io.BytesIO(data), True, 0))
        except BaseException as exc:  # noqa: BLE001 - try the next, more lenient parser
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            continue
        if len(raws) == 1:
            raws[0].pos = offset
            return _to_record(url, raws[0], length, True, parser)
    raise WarcSourceError(f"bytes {offset}..{offset + length} of {url!r} are not exactly one WARC/ARC record: "
                          "check the offset, or repack the file if it is gzipped as one stream")
