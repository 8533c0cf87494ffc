"""Stage 1, for one split: read → clean → normalize → exact digest → signature → spill.

Pure Python (no Ray): :func:`process_split` reads one split of a source and writes, into the work
directory, the clean documents, their signatures, their LSH band keys and exact digests hashed into
``partitions`` shuffle partitions, the documents removed by cleaning and the quarantined records.
A document's *ordinal* is ``split_index << 32 | row``: unique, and ordered like the input.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from dedup.config import DedupConfig
from dedup.defaults import LISTED_FLATTENED
from dedup.digests import sequence_digests
from dedup.errors import JobError, RecordError, RecordSkipped, RecordWarning
from dedup.id_hashes import id_hashes
from dedup.join_kernels import band_keys_kernel
from dedup.minhash import MinHasher
from dedup.shuffle import SLOTS, slot_of, write_row_buckets
from dedup.sources import DocumentSource, Split
from dedup.tokens import fmix64, tokenize_batch
from dedup.workdir import WorkDir

try:  # The cleaner lives in dedup.clean (written separately); text inputs work without it.
    from dedup.clean import AdblockListError, CleanConfig, clean_html, clean_text
except ImportError:  # pragma: no cover - depends on the other package being present
    AdblockListError = ()  # type: ignore[assignment,misc]  (catches nothing)
    CleanConfig = None  # type: ignore[assignment,misc]
    clean_html = None  # type: ignore[assignment]
    clean_text = None  # type: ignore[assignment]

DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("text", pa.large_string()),
        ("metadata", pa.string()),
        ("ordinal", pa.uint64()),
        ("length", pa.int64()),
        ("priority", pa.float64()),
        ("digest_hi", pa.uint64()),
        ("digest_lo", pa.uint64()),
    ]
)
# What later stages need of each document without its text (dedup/clusters.py).
KEYS_SCHEMA = pa.schema(
    [("id", pa.string()), ("length", pa.int64()), ("priority", pa.float64()), ("digest_hi", pa.uint64()), ("digest_lo", pa.uint64())]
)
# Band keys and exact digests are spilled as fixed-width rows grouped by slot (dedup/shuffle.py).
BAND_DTYPE = np.dtype([("key", "<u8"), ("ordinal", "<u8")])
DIGEST_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("ordinal", "<u8")])
DROPPED_SCHEMA = pa.schema([("id", pa.string()), ("reason", pa.string()), ("detail", pa.string())])
QUARANTINE_SCHEMA = pa.schema([("source", pa.string()), ("offset", pa.int64()), ("reason", pa.string())])

_BAND_SEED = 0x2545F4914F6CDD1D
_ROW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class SplitStats:
    """What stage 1 did with one split."""

    split: int
    url: str
    documents_in: int
    documents_out: int
    bytes_in: int
    dropped: int
    quarantined: int
    warnings: int = 0  # documents kept although something was odd (see dedup.record_rows.RecordWarning)
    no_priority: int = 0  # with --keep priority: documents with no number in the priority field (ranked 0)
    flattened: int = 0  # HTML pages nested deeper than the bound: deeper tags cut before parsing, text kept
    # the first LISTED_FLATTENED of them, in input order: {"id", "url", "tags"} (tags: how many were cut)
    flattened_pages: list[dict[str, Any]] = field(default_factory=list)
    # WARC records that are not documents (request, warcinfo, metadata, revisit...), by type
    not_documents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def split_name(split_index: int) -> str:
    return f"{split_index:06d}"


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 key of every (document, band): a hash of the band index and its ``rows`` values.

    Returns shape (n_docs, bands). Equal keys in one band mean equal rows (up to 64-bit collisions).
    """
    return band_keys_kernel(np.ascontiguousarray(signatures, dtype=np.uint32), bands, rows, np.uint64(_BAND_SEED),
                            _ROW_MULTIPLIER)


def band_keys_reference(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """:func:`band_keys` in numpy (the specification the compiled kernel equals)."""
    n_docs = signatures.shape[0]
    keys = np.empty((n_docs, bands), dtype=np.uint64)
    values = signatures[:, : bands * rows].astype(np.uint64).reshape(n_docs, bands, rows)
    for band in range(bands):
        acc = np.full(n_docs, ((band + 1) * _BAND_SEED) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
        for row in range(rows):
            acc = fmix64((acc ^ values[:, band, row]) * _ROW_MULTIPLIER)
        keys[:, band] = acc
    return keys


def _priority(metadata: str | None, field: str | None) -> float | None:
    """The number in ``field`` of a document's metadata (JSON), or None if it has none there (a missing
    field, null, or a value that is not a number): such a document ranks as 0, and is counted."""
    if not field or not metadata:
        return None
    try:
        value = json.loads(metadata).get(field)
        number = float(value) if value is not None else None  # true/false rank as 1/0
    except (ValueError, TypeError, AttributeError):
        return None
    return number if number is not None and number == number else None  # NaN is no rank


class _Cleaner:
    """Turns a source batch (``text`` or ``html`` column) into clean texts plus drop reasons, and
    remembers the pages of the batch whose nesting was flattened (:attr:`flattened`: row, tags cut)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.flattened: list[tuple[int, int]] = []  # of the last batch: (row, tags cut), see dedup/clean/nesting.py
        self.clean_config: Any = None
        if CleanConfig is not None:
            self.clean_config = CleanConfig(adblock_list=config.adblock_list) if config.adblock_list else CleanConfig()

    def clean(self, batch: pa.RecordBatch) -> tuple[pa.Array, list[str | None]]:
        """(texts, detail) where detail names the filters that removed text (None if nothing)."""
        self.flattened = []
        if "html" in batch.schema.names:
            if clean_html is None:
                raise JobError("HTML input needs dedup.clean (clean_html), which is not installed")
            texts, details = [], []
            for row, (html, url) in enumerate(zip(batch.column("html").to_pylist(), batch.column("url").to_pylist())):
                try:
                    result = clean_html(html or "", url=url, config=self.clean_config)
                except AdblockListError:  # the run's setting, not this page: every page would fail
                    raise
                except Exception as exc:  # one unparseable page must not fail the split
                    texts.append("")
                    details.append(f"clean_error:{type(exc).__name__}: {exc}"[:300])
                    continue
                texts.append(result.text)
                details.append(_removal_detail(result.removals))
                if result.flattened_tags:
                    self.flattened.append((row, result.flattened_tags))
            return pa.array(texts, pa.large_string()), details
        column = batch.column("text").cast(pa.large_string())
        if not self.config.clean_text:
            return column, [None] * len(column)
        if clean_text is None:
            raise JobError("clean_text=True needs dedup.clean (clean_text), which is not installed")
        cleaned, details = [], []
        for text in column.to_pylist():
            result = clean_text(text or "", config=self.clean_config)
            cleaned.append(result.text)
            details.append(_removal_detail(result.removals))
        return pa.array(cleaned, pa.large_string()), details


def _drop_reason(detail: str | None) -> str:
    """Why a document without any token left is dropped."""
    if detail is None:
        return "empty"
    return "clean_error" if detail.startswith("clean_error:") else "ad_or_boilerplate"


def _removal_detail(removals: tuple[tuple[str, int], ...]) -> str | None:
    parts = [f"{name}:{count}" for name, count in removals if count]
    return ",".join(parts) if parts else None


def process_split(
    split_index: int,
    split: Split,
    source: DocumentSource,
    config: DedupConfig,
    work: WorkDir,
    on_progress: Callable[[int, int], None] | None = None,
) -> SplitStats:
    """Run stage 1 on one split and write its outputs (see the module docstring).

    ``on_progress(documents, bytes)`` is called after each batch. Idempotent: a rerun overwrites
    the same files with the same content. Errors: SourceError if the split cannot be read at all.
    """
    name = split_name(split_index)
    hasher = MinHasher(config.minhash)
    lsh = config.lsh
    cleaner = _Cleaner(config)
    quarantine: list[RecordError] = []
    warnings: list[RecordError] = []

    not_documents: dict[str, int] = {}

    def on_bad_record(error: RecordError) -> None:
        if isinstance(error, RecordSkipped):
            not_documents[error.reason] = not_documents.get(error.reason, 0) + 1
            return
        (warnings if isinstance(error, RecordWarning) else quarantine).append(error)

    signatures: list[np.ndarray] = []
    ordinal_parts: list[np.ndarray] = []
    digest_parts: list[np.ndarray] = []
    id_parts: list[np.ndarray] = []  # the hash of every document's id, kept or dropped (dedup/id_hashes.py)
    dropped: dict[str, list[Any]] = {"id": [], "reason": [], "detail": []}
    row = 0
    docs_in = bytes_in = no_priority = flattened = 0
    flattened_pages: list[dict[str, Any]] = []
    key_parts: list[pa.Table] = []
    # Documents stream to an Arrow IPC file batch by batch (uncompressed: cheap to write, read back
    # whole by the write stage): a split's text is never all in memory; only its signatures
    # (num_perm x 4 bytes per document), digests and keys are kept until the end.
    with work.ipc_writer(work.path("docs", f"{name}.arrow"), DOCS_SCHEMA) as docs_writer:
        for batch in source.read(split, on_bad_record=on_bad_record):
            id_parts.append(id_hashes(batch.column("id")))
            docs_in += batch.num_rows
            texts, details = cleaner.clean(batch)
            flattened += len(cleaner.flattened)
            for index, tags in cleaner.flattened[:max(0, LISTED_FLATTENED - len(flattened_pages))]:
                flattened_pages.append({"id": batch.column("id")[index].as_py(), "url": batch.column("url")[index].as_py(),
                                        "tags": tags})
            tokens = tokenize_batch(texts)
            counts = tokens.token_counts()
            bytes_in += int(tokens.byte_lengths.sum())
            keep = counts > 0
            for index in np.flatnonzero(~keep):
                dropped["id"].append(batch.column("id")[int(index)].as_py())
                dropped["reason"].append(_drop_reason(details[index]))
                dropped["detail"].append(details[index])
            if keep.any():
                kept_index = np.flatnonzero(keep)
                n_kept = len(kept_index)
                everything = n_kept == batch.num_rows
                kept_array = pa.array(kept_index)

                def kept(column: Any, everything: bool = everything, kept_array: Any = kept_array) -> Any:
                    return column if everything else column.take(kept_array)

                sig = hasher.signatures_of_tokens(tokens, texts)
                signatures.append(sig[kept_index])
                digests = sequence_digests(tokens.hashes, tokens.doc_offsets, kept_index)
                # Every input field but id and text, as JSON (dedup/metadata.py), always carried.
                metadata = kept(batch.column("metadata")).cast(pa.string())
                ranks = [_priority(m, config.priority_field) for m in metadata.to_pylist()] if config.priority_field else []
                no_priority += sum(1 for rank in ranks if rank is None)
                n = len(kept_index)
                ordinals = (np.uint64(split_index) << np.uint64(32)) + np.arange(row, row + n, dtype=np.uint64)
                ordinal_parts.append(ordinals)
                digest_parts.append(digests)
                docs_table = pa.table(
                        {
                            "id": kept(batch.column("id")).cast(pa.string()),
                            "url": kept(batch.column("url")).cast(pa.string()),
                            "text": kept(texts),
                            "metadata": metadata,
                            "ordinal": pa.array(ordinals),
                            "length": pa.array(tokens.byte_lengths[kept_index].astype(np.int64)),
                            "priority": pa.array([0.0 if p is None else p for p in ranks], pa.float64())
                            if config.priority_field else pa.array(np.zeros(n)),
                            "digest_hi": pa.array(digests[:, 0]),
                            "digest_lo": pa.array(digests[:, 1]),
                        },
                        schema=DOCS_SCHEMA,
                )
                docs_writer.write_table(docs_table)
                key_parts.append(docs_table.select(KEYS_SCHEMA.names))
                row += n
            if on_progress is not None:
                on_progress(batch.num_rows, int(tokens.byte_lengths.sum()))
    sig_all = np.concatenate(signatures) if signatures else np.zeros((0, config.minhash.num_perm), np.uint32)
    ordinals = np.concatenate(ordinal_parts) if ordinal_parts else np.zeros(0, np.uint64)
    digests_all = np.concatenate(digest_parts) if digest_parts else np.zeros((0, 2), np.uint64)
    work.write_array(work.path("sigs", f"{name}.npy"), sig_all)
    keys = pa.concat_tables(key_parts).combine_chunks() if key_parts else KEYS_SCHEMA.empty_table()
    work.write_table(work.path("keys", f"{name}.parquet"), keys)
    _spill_bands(work, name, band_keys(sig_all, lsh.bands, lsh.rows), ordinals)
    _spill_digests(work, name, digests_all[:, 0], digests_all[:, 1], ordinals)
    ids_all = np.concatenate(id_parts) if id_parts else np.zeros((0, 2), np.uint64)
    # the locator of a row is (split, input row), so the rows of dropped documents count too
    _spill_ids(work, name, ids_all, (np.uint64(split_index) << np.uint64(32)) + np.arange(len(ids_all), dtype=np.uint64))
    work.write_table(work.path("dropped", f"{name}.parquet"), pa.table(dropped, schema=DROPPED_SCHEMA))
    work.write_table(
        work.path("quarantine", f"{name}.parquet"),
        pa.table(
            {
                "source": [e.source for e in quarantine],
                "offset": [e.offset for e in quarantine],
                "reason": [e.reason for e in quarantine],
            },
            schema=QUARANTINE_SCHEMA,
        ),
    )
    return SplitStats(split_index, split.url, docs_in, len(ordinals), bytes_in, len(dropped["id"]), len(quarantine),
                      len(warnings), no_priority, flattened, flattened_pages, not_documents)


def _spill_bands(work: WorkDir, name: str, keys: np.ndarray, ordinals: np.ndarray) -> None:
    """``bands/S.rows``: (band key, ordinal) of every document and band, grouped by key slot."""
    rows = np.empty(keys.size, dtype=BAND_DTYPE)
    rows["key"] = keys.reshape(-1)
    rows["ordinal"] = np.repeat(ordinals, keys.shape[1])
    write_row_buckets(work, work.path("bands", f"{name}.rows"), rows, slot_of(rows["key"]), SLOTS)


def _spill_ids(work: WorkDir, name: str, hashes: np.ndarray, locators: np.ndarray) -> None:
    """``ids/S.rows``: (id hash, split << 32 | input row) of every document read, grouped by slot."""
    rows = np.empty(len(hashes), dtype=DIGEST_DTYPE)
    rows["hi"], rows["lo"], rows["ordinal"] = hashes[:, 0], hashes[:, 1], locators
    write_row_buckets(work, work.path("ids", f"{name}.rows"), rows, slot_of(rows["hi"]), SLOTS)


def _spill_digests(work: WorkDir, name: str, high: np.ndarray, low: np.ndarray, ordinals: np.ndarray) -> None:
    """``digests/S.rows``: (digest, ordinal) of every document, grouped by digest slot."""
    rows = np.empty(len(high), dtype=DIGEST_DTYPE)
    rows["hi"], rows["lo"], rows["ordinal"] = high, low, ordinals
    write_row_buckets(work, work.path("digests", f"{name}.rows"), rows, slot_of(high), SLOTS)
