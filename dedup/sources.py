"""Where documents come from: the :class:`DocumentSource` protocol and file sources on any fsspec URL.

A source lists its work as picklable :class:`Split` objects (one file each here) and reads a split as
Arrow record batches with the columns of :data:`DOCUMENT_SCHEMA` (``text``) or
:data:`HTML_DOCUMENT_SCHEMA` (``html``): ``id`` string, ``url`` string (nullable), ``text``/``html``
string, ``metadata`` string holding JSON (nullable).

Bad records: ``read(split, on_bad_record=callback)`` hands each unusable record to the callback as a
:class:`~dedup.errors.RecordError` (file, line/offset, reason) and goes on; without a callback the
error is raised. A file that cannot be opened at all raises :class:`~dedup.errors.SourceError`.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

import fsspec
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from dedup.errors import RecordError, SourceError

DOCUMENT_SCHEMA = pa.schema(
    [("id", pa.string()), ("url", pa.string()), ("text", pa.large_string()), ("metadata", pa.string())]
)
HTML_DOCUMENT_SCHEMA = pa.schema(
    [("id", pa.string()), ("url", pa.string()), ("html", pa.large_string()), ("metadata", pa.string())]
)
BadRecordHandler = Callable[[RecordError], None]


@dataclass(frozen=True, order=True)
class Split:
    """One unit of work: a file (``url``) of a given ``kind``. Picklable; ordered for determinism."""

    kind: str
    url: str
    options: tuple[tuple[str, str], ...] = field(default=())


@runtime_checkable
class DocumentSource(Protocol):
    """A set of documents, read split by split (each split independently, on any worker)."""

    def splits(self) -> list[Split]:
        """All splits, in a deterministic order."""
        ...

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        """The documents of one split as record batches (see the module docstring for columns)."""
        ...


def expand_urls(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """Files named by a URL: the file itself, the files under a directory (recursively, with one of
    ``suffixes``), or the matches of a glob. Sorted. Errors: SourceError if nothing matches."""
    fs, path = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if any(ch in path for ch in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.endswith(suffixes))
    elif fs.exists(path):
        found = [path]
    else:
        raise SourceError(f"input not found: {url}: check the path or URL (quote globs so the shell does not expand them)")
    if not found:
        raise SourceError(f"no input files match {url} (expected names ending in {', '.join(suffixes)})")
    return [p if protocol in ("file", "local") else f"{protocol}://{p}" for p in found]


class JsonlSource:
    """JSON Lines files (optionally compressed: .gz, .zst, .bz2 by extension).

    Each line is one object; ``text_field`` and ``id_field`` must be present (strings; the id may be
    a number), ``url_field`` is optional. Every other field goes into ``metadata`` as JSON.
    """

    suffixes = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".jsonl.zst", ".jsonl.bz2", ".ndjson")

    def __init__(
        self,
        urls: list[str],
        text_field: str = "text",
        id_field: str = "id",
        url_field: str = "url",
        batch_size: int = 2000,
    ) -> None:
        self.urls = urls
        self.text_field = text_field
        self.id_field = id_field
        self.url_field = url_field
        self.batch_size = batch_size

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        options = (("text_field", self.text_field), ("id_field", self.id_field), ("url_field", self.url_field))
        return [Split("jsonl", f, options) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        fields = (options["text_field"], options["id_field"], options["url_field"])
        try:
            handle = fsspec.open(split.url, "rb", compression="infer").open()
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot open {split.url}: {exc}") from exc
        first_line = 1
        with handle:
            blocks = _line_blocks(handle, _BLOCK_BYTES)
            while True:
                try:
                    block = next(blocks)
                except StopIteration:
                    break
                except (OSError, EOFError, ValueError) as exc:  # truncated or corrupt compressed data
                    _report(RecordError(split.url, first_line, f"unreadable from this line on: {exc}"), on_bad_record)
                    break
                fast = _parse_block_fast(block, fields)
                if fast is not None:
                    for start in range(0, fast.num_rows, self.batch_size):
                        yield from fast.slice(start, self.batch_size).to_batches()
                else:
                    yield from self._parse_block_lines(block, first_line, split.url, fields, on_bad_record)
                first_line += block.count(b"\n")

    def _parse_block_lines(
        self,
        block: bytes,
        first_line: int,
        source: str,
        fields: tuple[str, str, str],
        on_bad_record: BadRecordHandler | None,
    ) -> Iterator[pa.RecordBatch]:
        """The slow path: line by line, so that every bad line is reported with its number."""
        text_field, id_field, url_field = fields
        known = set(fields)
        columns: dict[str, list[Any]] = {"id": [], "url": [], "text": [], "metadata": []}
        for line_number, raw in enumerate(block.split(b"\n"), start=first_line):
            if not raw.strip():
                continue
            try:
                record = _parse_json_line(raw, source, line_number)
                doc_id = record.get(id_field)
                text = record.get(text_field)
                if doc_id is None or isinstance(doc_id, (dict, list)):
                    raise RecordError(source, line_number, f"missing or non-scalar field {id_field!r}")
                if not isinstance(text, str):
                    raise RecordError(source, line_number, f"missing or non-string field {text_field!r}")
            except RecordError as error:
                _report(error, on_bad_record)
                continue
            url = record.get(url_field)
            extra = {k: v for k, v in record.items() if k not in known}
            columns["id"].append(str(doc_id))
            columns["url"].append(url if isinstance(url, str) else None)
            columns["text"].append(text)
            columns["metadata"].append(json.dumps(extra, ensure_ascii=False) if extra else None)
            if len(columns["id"]) >= self.batch_size:
                yield pa.RecordBatch.from_pydict(columns, schema=DOCUMENT_SCHEMA)
                columns = {name: [] for name in columns}
        if columns["id"]:
            yield pa.RecordBatch.from_pydict(columns, schema=DOCUMENT_SCHEMA)


_BLOCK_BYTES = 8 << 20


def _line_blocks(handle: Any, size: int, read_size: int = 1 << 20) -> Iterator[bytes]:
    """The file in blocks of about ``size`` bytes, each ending at a line end.

    Reads in ``read_size`` pieces so that, when the data breaks (truncated gzip), the complete
    lines before the break are still yielded before the error is raised.
    """
    pending = bytearray()
    while True:
        try:
            chunk = handle.read(read_size)
        except (OSError, EOFError, ValueError):
            cut = pending.rfind(b"\n")
            if cut >= 0:
                yield bytes(pending[: cut + 1])
            raise
        if not chunk:
            break
        pending += chunk
        if len(pending) >= size:
            cut = pending.rfind(b"\n")
            if cut >= 0:
                yield bytes(pending[: cut + 1])
                del pending[: cut + 1]
    if pending.strip():
        yield bytes(pending)


def _parse_block_fast(block: bytes, fields: tuple[str, str, str]) -> pa.Table | None:
    """Parse a block with Arrow's JSON reader; None when the slow path must decide (a bad line,
    a missing or mistyped field, or extra fields that belong in ``metadata``)."""
    text_field, id_field, url_field = fields
    try:
        table = pa_json.read_json(io.BytesIO(block), read_options=pa_json.ReadOptions(block_size=len(block) + 1))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    names = set(table.column_names)
    if text_field not in names or id_field not in names or names - {text_field, id_field, url_field}:
        return None
    text, ids = table.column(text_field), table.column(id_field)
    if not pa.types.is_string(text.type) or text.null_count or ids.null_count:
        return None
    if not (pa.types.is_string(ids.type) or pa.types.is_integer(ids.type)):
        return None
    n = table.num_rows
    url = table.column(url_field) if url_field in names else pa.nulls(n, pa.string())
    if not (pa.types.is_string(url.type) or pa.types.is_null(url.type)):
        return None
    return pa.table(
        [ids.cast(pa.string()), url.cast(pa.string()), text.cast(pa.large_string()), pa.nulls(n, pa.string())],
        schema=DOCUMENT_SCHEMA,
    )


def _parse_json_line(raw: bytes, source: str, line_number: int) -> dict[str, Any]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError(source, line_number, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise RecordError(source, line_number, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(record, dict):
        raise RecordError(source, line_number, f"expected a JSON object, got {type(record).__name__}")
    return record


def _report(error: RecordError, on_bad_record: BadRecordHandler | None) -> None:
    if on_bad_record is None:
        raise error
    on_bad_record(error)


class ParquetSource:
    """Parquet files with a text column (``text_field``) and an id column (``id_field``).

    Optional columns ``url`` and ``metadata`` are carried over (non-string metadata is not).
    Rows whose id or text is null are bad records (offset = row number in the file).
    """

    suffixes = (".parquet", ".pq")

    def __init__(self, urls: list[str], text_field: str = "text", id_field: str = "id", batch_size: int = 2000) -> None:
        self.urls = urls
        self.text_field = text_field
        self.id_field = id_field
        self.batch_size = batch_size

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        options = (("text_field", self.text_field), ("id_field", self.id_field))
        return [Split("parquet", f, options) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        text_field, id_field = options["text_field"], options["id_field"]
        try:
            handle = fsspec.open(split.url, "rb").open()
            parquet = pq.ParquetFile(handle)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot open {split.url} as Parquet: {exc}") from exc
        names = set(parquet.schema_arrow.names)
        for required in (text_field, id_field):
            if required not in names:
                raise SourceError(f"{split.url}: no column {required!r} (columns: {sorted(names)}); use --text-field/--id-field")
        wanted = [text_field, id_field] + [c for c in ("url", "metadata") if c in names and c not in (text_field, id_field)]
        row = 0
        with handle:
            for batch in parquet.iter_batches(batch_size=self.batch_size, columns=wanted):
                ids = batch.column(id_field).cast(pa.string())
                texts = batch.column(text_field).cast(pa.large_string())
                valid = pa.compute.and_(pa.compute.is_valid(ids), pa.compute.is_valid(texts))
                if valid.false_count:
                    for index, ok in enumerate(valid.to_pylist()):
                        if not ok:
                            _report(RecordError(split.url, row + index, f"null {id_field!r} or {text_field!r}"), on_bad_record)
                n = batch.num_rows
                urls = batch.column("url").cast(pa.string()) if "url" in wanted else pa.nulls(n, pa.string())
                metadata = (
                    batch.column("metadata")
                    if "metadata" in wanted and pa.types.is_string(batch.schema.field("metadata").type)
                    else pa.nulls(n, pa.string())
                )
                out = pa.RecordBatch.from_arrays([ids, urls, texts, metadata], schema=DOCUMENT_SCHEMA)
                row += n
                yield out.filter(valid) if valid.false_count else out
