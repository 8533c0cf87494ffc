"""Choosing a :class:`~dedup.sources.DocumentSource` for the ``--input`` URLs of the command line."""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from dedup.errors import SourceError
from dedup.sources import BadRecordHandler, DocumentSource, JsonlSource, ParquetSource, Split, expand_urls
from dedup.warc_source import WarcSource


class MultiSource:
    """Several sources read as one: the splits of all, in order; each split read by its owner."""

    def __init__(self, sources: list[DocumentSource]) -> None:
        self.sources = sources

    def splits(self) -> list[Split]:
        return [split for source in self.sources for split in source.splits()]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        for source in self.sources:
            if split.kind == getattr(source, "kind", None) or split.kind == _KIND_OF.get(type(source)):
                return source.read(split, on_bad_record)
        raise SourceError(f"no source reads splits of kind {split.kind!r}")


_KIND_OF = {JsonlSource: "jsonl", ParquetSource: "parquet", WarcSource: "warc"}


def detect_format(url: str) -> str:
    """``jsonl``, ``parquet`` or ``warc`` from a URL's name; directories and globs of one format.

    Errors: SourceError naming the URL when the format cannot be told from it.
    """
    name = url.rstrip("/").lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".warc", ".wet", ".arc")):
        return "warc"
    # A directory or a glob: look at what it holds.
    for fmt, suffixes in (
        ("jsonl", JsonlSource.suffixes),
        ("parquet", ParquetSource.suffixes),
        ("warc", WarcSource.suffixes),
    ):
        try:
            expand_urls(url, suffixes)
            return fmt
        except SourceError:
            continue
    raise SourceError(f"cannot tell the format of {url}: name it *.jsonl[.gz], *.parquet, *.warc[.gz] or *.wet[.gz]")


def source_for_inputs(urls: list[str], text_field: str = "text", id_field: str | None = None,
                      url_field: str | None = None, max_decoded: int = DEFAULT_MAX_DECODED_BYTES
                      ) -> DocumentSource:
    """One source over all input URLs (files, directories or globs; formats may be mixed).

    ``id_field`` / ``url_field`` name the id and url: a field or column of JSONL and Parquet (default
    ``id`` / ``url``), a WARC header of WARC/WET/ARC (default ``WARC-Record-ID`` / ``WARC-Target-URI``).
    ``max_decoded``: the decoded-size cap of one JSONL line (after decompression) and of one WARC
    record's block and decoded body; a record over it is quarantined with its reason, never truncated.
    """
    by_format: dict[str, list[str]] = {}
    for url in urls:
        by_format.setdefault(detect_format(url), []).append(url)
    sources: list[DocumentSource] = []
    if "jsonl" in by_format:
        sources.append(JsonlSource(by_format["jsonl"], text_field=text_field, id_field=id_field or "id",
                                   url_field=url_field or "url", max_line=max_decoded))
    if "parquet" in by_format:
        sources.append(ParquetSource(by_format["parquet"], text_field=text_field, id_field=id_field or "id",
                                     url_field=url_field or "url"))
    if "warc" in by_format:
        sources.append(WarcSource(by_format["warc"], id_field=id_field, url_field=url_field, max_decoded=max_decoded))
    return sources[0] if len(sources) == 1 else MultiSource(sources)
