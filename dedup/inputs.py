"""Choosing a :class:`~dedup.sources.DocumentSource` for the ``--input`` URLs of the command line."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import pyarrow as pa

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from dedup.errors import SourceError
from dedup.sources import BadRecordHandler, DocumentSource, JsonlSource, ParquetSource, Split, has_suffix, list_input
from dedup.warc_source import WarcSource


class MultiSource:
    """Several sources read as one: the splits of all, in order; each split read by its owner.

    Nested multi-sources are flattened. ``not_read``: entries the inputs named that no source reads
    (:class:`InputPlan`), reported in the job's summary."""

    def __init__(self, sources: list[DocumentSource], not_read: list[dict[str, str]] | None = None) -> None:
        self.sources: list[DocumentSource] = []
        self.not_read: list[dict[str, str]] = list(not_read or [])
        for source in sources:
            if isinstance(source, MultiSource):
                self.sources += source.sources
                self.not_read += source.not_read
            else:
                self.sources.append(source)

    def splits(self) -> list[Split]:
        return [split for source in self.sources for split in source.splits()]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        for source in self.sources:
            if split.kind == getattr(source, "kind", None) or split.kind == _KIND_OF.get(type(source)):
                return source.read(split, on_bad_record)
        raise SourceError(f"no source reads splits of kind {split.kind!r}")


_KIND_OF = {JsonlSource: "jsonl", ParquetSource: "parquet", WarcSource: "warc"}


FORMATS = (("jsonl", JsonlSource.suffixes), ("parquet", ParquetSource.suffixes), ("warc", WarcSource.suffixes))
NAMES = "*.jsonl / *.json / *.ndjson (optionally .gz, .zst, .bz2, .xz), *.parquet / *.pq, or *.warc / *.wet / *.arc (optionally .gz)"


def format_of_name(url: str) -> str | None:
    """``jsonl``, ``parquet`` or ``warc`` by a file's name (the suffixes the sources read), else None."""
    name = url.rstrip("/")
    for fmt, suffixes in FORMATS:
        if has_suffix(name, suffixes):
            return fmt
    return None


@dataclass
class InputPlan:
    """The input URLs by format (a directory or glob holding several formats is under each), and the
    entries under them that no source reads (``{"url", "reason"}``): files of no known format by their
    name, symbolic links and other entries that are not regular files."""

    by_format: dict[str, list[str]] = field(default_factory=dict)
    not_read: list[dict[str, str]] = field(default_factory=list)


def plan_inputs(urls: list[str]) -> InputPlan:
    """Sort ``urls`` by format. A file named on its own must have a known name; a directory or glob
    is read in every format it holds, and what it holds of no known format is listed as not read.

    Errors: SourceError naming a URL that names nothing, a file of no known format, or a directory or
    glob holding no file of a known format.
    """
    plan = InputPlan()
    for url in urls:
        listing = list_input(url)
        if listing.named:
            fmt = format_of_name(url)
            if fmt is None:
                raise SourceError(f"cannot tell the format of {url}: name it {NAMES}")
            plan.by_format.setdefault(fmt, []).append(url)
            continue
        formats = {f: format_of_name(f) for f in listing.files}
        if not any(formats.values()):
            raise SourceError(f"no input files of a known format under {url} ({len(listing.files):,} files, none "
                              f"named {NAMES})")
        for fmt in sorted({fmt for fmt in formats.values() if fmt}):
            plan.by_format.setdefault(fmt, []).append(url)
        plan.not_read += [{"url": f, "reason": "not a JSONL, Parquet or WARC file by its name"}
                          for f, fmt in formats.items() if fmt is None]
        plan.not_read += listing.others
    return plan


def source_for_inputs(urls: list[str], text_field: str = "text", id_field: str | None = None,
                      url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES
                      ) -> DocumentSource:
    """One source over all input URLs (files, directories or globs; formats may be mixed).

    ``id_field`` / ``url_field`` name the id and url: a field or column of JSONL and Parquet (default
    ``id`` / ``url``), a WARC header of WARC/WET/ARC (default ``WARC-Record-ID`` / ``WARC-Target-URI``).
    ``max_decoded``: the decoded-size cap of one JSONL line (after decompression) and of one WARC
    record's block and decoded body; a record over it is quarantined with its reason, never truncated.
    """
    plan = plan_inputs(urls)
    by_format = plan.by_format
    sources: list[DocumentSource] = []
    if "jsonl" in by_format:
        sources.append(JsonlSource(by_format["jsonl"], text_field=text_field, id_field=id_field or "id",
                                   url_field=url_field or "url", max_line=max_decoded))
    if "parquet" in by_format:
        sources.append(ParquetSource(by_format["parquet"], text_field=text_field, id_field=id_field or "id",
                                     url_field=url_field or "url"))
    if "warc" in by_format:
        sources.append(WarcSource(by_format["warc"], id_field=id_field, url_field=url_field, max_decoded=max_decoded))
    if len(sources) == 1 and not plan.not_read:
        return sources[0]
    return MultiSource(sources, plan.not_read)
