"""Where documents come from: the :class:`DocumentSource` protocol and file sources on any fsspec URL.

A source lists its work as picklable :class:`Split` objects (one file each here) and reads a split as
Arrow record batches with the columns of :data:`DOCUMENT_SCHEMA` (``text``) or
:data:`HTML_DOCUMENT_SCHEMA` (``html``): ``id`` string, ``url`` string (nullable), ``text``/``html``
string, ``metadata`` string holding a JSON object (nullable).

Metadata: every field of an input record other than its id and text is kept, as a JSON object in the
``metadata`` column (nested objects and lists stay nested; the url field is kept there too, besides the
``url`` column), so ``{**json.loads(metadata), id_field: id, text_field: text}`` gives the input record
back (ids become strings). A record with no other field has NULL metadata. See dedup/README.md.

Bad records: ``read(split, on_bad_record=callback)`` hands each unusable record to the callback as a
:class:`~dedup.errors.RecordError` (file, line/offset, reason) and goes on; without a callback the
error is raised. A file that cannot be opened at all raises :class:`~dedup.errors.SourceError`, and
so does an I/O error while a JSONL, Parquet or WARC file is read (:func:`read_failed`: the storage
failed, not the data, so the split fails and a resume reads the file again; corrupt data is a bad
record).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

import fsspec
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import SourceReadError, io_detail
from catalog.input_entries import is_regular_input, not_read_reason
from catalog.storage import is_storage_error
from dedup.errors import InputReadError, RecordError, SourceError
from dedup.line_blocks import Block, Problem, iter_line_blocks
from dedup.metadata import metadata_json

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


def has_suffix(url: str, suffixes: tuple[str, ...]) -> bool:
    """Whether a file's name ends in one of ``suffixes`` (case aside: ``A.JSONL`` is JSONL)."""
    return url.lower().endswith(suffixes)


@dataclass(frozen=True)
class Listing:
    """The regular files a URL names (full URLs, sorted) and, under a directory or glob, the entries
    that are not regular files (``{"url", "reason"}``). ``named``: the URL is one file, named as it is."""

    files: list[str]
    others: list[dict[str, str]]
    named: bool


def list_input(url: str) -> Listing:
    """What ``url`` names: the file itself; every file under a directory (recursively); or a glob's
    matches (directories among them walked). Errors: SourceError if the URL names nothing, or naming
    the URL when its storage does not answer."""
    try:
        return _list_input(url)
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        raise SourceError(f"input {url} cannot be read or listed ({io_detail(exc)}): check the path "
                          "or URL, that its storage is reachable (network, server) and the credentials, then run "
                          "again") from exc


def _list_input(url: str) -> Listing:
    """:func:`list_input` without the translation of storage errors."""
    fs, path = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]

    def full(p: str) -> str:
        # unstrip_protocol: fsspec's HTTP paths keep their scheme ("http://" + it was "http://http://...")
        return p if protocol in ("file", "local") else fs.unstrip_protocol(p)

    found: dict[str, Any] = {}
    if any(ch in path for ch in "*?[") and not fs.exists(path):
        matches = fs.glob(path, detail=True)
        for p, info in matches.items():
            found.update(fs.find(p, detail=True) if info.get("type") == "directory" else {p: info})
    elif fs.isdir(path):
        found = fs.find(path, detail=True)
    elif fs.exists(path):
        return Listing([full(path)], [], True)
    else:
        raise SourceError(f"input not found: {url}: check the path or URL (quote globs so the shell does not expand them)")
    outputs = dedup_outputs(found)
    if path.rstrip("/") in outputs:
        raise SourceError(f"input {url} is the output of dedup run {outputs[path.rstrip('/')]}: its files are "
                          f"reports and work files, not documents; name its data/ directory ({url.rstrip('/')}/data) "
                          "to read the documents it kept")
    others = [{"url": full(d), "reason": f"the output of dedup run {run} (reports and work files, not documents): "
                                         f"not read; name {full(d)}/data to read the documents it kept"}
              for d, run in sorted(outputs.items())]
    found = {p: info for p, info in found.items() if not any(p.startswith(d + "/") for d in outputs)}
    # links to files are followed, as dataset caches (Hugging Face's: links in a snapshot to blobs) need
    local = protocol in ("file", "local")
    files = sorted(full(p) for p, info in found.items() if is_regular_input(p, info, follow_links=True))
    others += [{"url": full(p), "reason": not_read_reason(p, info, local=local, follow_links=True)}
               for p, info in sorted(found.items())
               if not is_regular_input(p, info, follow_links=True) and info.get("type") != "directory"]
    return Listing(files, others, False)


def dedup_outputs(found: dict[str, Any]) -> dict[str, str]:
    """The dedup output directories among listed paths (each holds ``_work/RUN_ID/config.json``,
    which every run writes when it starts), with a run id each. A later run over a directory that
    holds an earlier run's output (or its own, on a resume) must not read it as documents."""
    outputs: dict[str, str] = {}
    for p in found:
        parts = p.rsplit("/", 3)
        if len(parts) == 4 and parts[1] == "_work" and parts[3] == "config.json":
            outputs.setdefault(parts[0], parts[2])
    return outputs


def expand_urls(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """Files named by a URL: the file itself, or the files under a directory or matching a glob whose
    names end in one of ``suffixes`` (the others are another source's, or not read: see
    :func:`dedup.inputs.plan_inputs`). Sorted. Errors: SourceError if nothing matches."""
    listing = list_input(url)
    found = listing.files if listing.named else [f for f in listing.files if has_suffix(f, suffixes)]
    if not found:
        raise SourceError(f"no input files match {url} (expected names ending in {', '.join(suffixes)})")
    return found


class JsonlSource:
    """JSON Lines files (optionally compressed: .gz, .zst, .bz2, .xz by extension).

    Each line is one object; ``text_field`` and ``id_field`` must be present (strings; the id may be
    a number), ``url_field`` is optional. Every field but the id and the text goes into ``metadata``
    as JSON (see the module docstring). A compressed file cut short keeps every complete line before
    the cut; the cut is reported once (line number and decompressed byte offset). A line longer than
    ``max_line`` bytes is reported and skipped without being held in memory.
    """

    suffixes = tuple(base + packed for base in (".jsonl", ".json", ".ndjson") for packed in ("", ".gz", ".zst", ".bz2", ".xz"))

    def __init__(
        self,
        urls: list[str],
        text_field: str = "text",
        id_field: str = "id",
        url_field: str = "url",
        batch_size: int = 2000,
        max_line: int = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        self.urls = urls
        self.text_field = text_field
        self.id_field = id_field
        self.url_field = url_field
        self.batch_size = batch_size
        self.max_line = max_line

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        options = (("text_field", self.text_field), ("id_field", self.id_field), ("url_field", self.url_field))
        return [Split("jsonl", f, options) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        fields = (options["text_field"], options["id_field"], options["url_field"])
        try:
            handle = fsspec.open(split.url, "rb").open()
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot open {split.url}: {exc}") from exc
        with handle:
            for item in _read_or_fail(iter_line_blocks(handle, split.url, block_bytes=_BLOCK_BYTES,
                                                       max_line=self.max_line), split.url):
                if isinstance(item, Problem):
                    where = f"line {item.line} (decompressed byte {item.offset:,})"
                    _report(RecordError(split.url, item.line, f"{where}: {item.reason}"), on_bad_record)
                    continue
                fast = _parse_block_fast(item.data, fields)
                if fast is not None:
                    for start in range(0, fast.num_rows, self.batch_size):
                        yield from fast.slice(start, self.batch_size).to_batches()
                else:
                    yield from self._parse_block_lines(item.data, item.first_line, split.url, fields, on_bad_record)

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
            extra = {k: v for k, v in record.items() if k not in (id_field, text_field)}
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


def read_failed(url: str, where: str, exc: BaseException) -> InputReadError:
    """The error that fails a split when reading ``url`` raised an I/O error (``OSError``, or the WARC
    reader's :class:`~catalog.errors.SourceReadError`: a disk or object-storage read that failed, not
    bad data). Nothing after ``where`` was read, so nothing of it can be accounted for record by
    record: the split fails and a resume reads the file again."""
    detail = exc.detail if isinstance(exc, SourceReadError) else io_detail(exc)
    return InputReadError(f"reading {url} failed {where} with an I/O error ({detail}); "
                       "this is not bad data, so nothing was quarantined: check the storage is reachable, then "
                       "rerun with the same --run-id to resume (the file is read again)")


def _read_or_fail(items: Iterator[Any], url: str) -> Iterator[Any]:
    """``items`` (a file's line blocks), an ``OSError`` while reading them raised as :func:`read_failed`."""
    last_line = 0
    try:
        for item in items:
            last_line = item.first_line if isinstance(item, Block) else item.line
            yield item
    except Exception as exc:  # OSErrors, and aiohttp's (a 503, a dropped connection), which are not
        if not is_storage_error(exc):
            raise
        raise read_failed(url, f"after line {last_line:,}" if last_line else "at its start", exc) from exc


def _parse_block_fast(block: bytes, fields: tuple[str, str, str]) -> pa.Table | None:
    """Parse a block with the compiled scan (dedup/jsonl_scan.py: lines of exactly an id and a text) or
    else Arrow's JSON reader; None when the slow path must decide (a bad line, a missing or mistyped
    field, or fields other than id, text and a url present on every line)."""
    text_field, id_field, url_field = fields
    if url_field not in (text_field, id_field):
        from dedup.jsonl_scan import scan_id_text_block  # here: the job's driver imports this module, not numba

        scanned = scan_id_text_block(block, id_field, text_field)
        if scanned is not None:  # every line is exactly {id, text}: no url, no metadata
            ids, texts = scanned
            n = len(ids)
            return pa.table([ids, pa.nulls(n, pa.string()), texts, pa.nulls(n, pa.string())], schema=DOCUMENT_SCHEMA)
    try:
        table = pa_json.read_json(pa.BufferReader(block), read_options=pa_json.ReadOptions(block_size=len(block) + 1))
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
    if url_field in names:
        url = table.column(url_field)
        # a null may be an absent field or an explicit null: only the slow path can tell (metadata)
        if not pa.types.is_string(url.type) or url.null_count:
            return None
        key = json.dumps(url_field, ensure_ascii=False)
        metadata = pa.array([f"{{{key}: {json.dumps(u, ensure_ascii=False)}}}" for u in url.to_pylist()], pa.string())
    else:
        url, metadata = pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    return pa.table(
        [ids.cast(pa.string()), url.cast(pa.string()), text.cast(pa.large_string()), metadata],
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
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(record, source, line_number)
    return record


# A \uD800-\uDFFF escape: JSON allows it unpaired (json.loads gives a str with a lone surrogate),
# but such a string is not Unicode text and no Arrow or Parquet string can hold it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _refuse_lone_surrogates(record: dict[str, Any], source: str, line_number: int) -> None:
    """RecordError when a string of ``record`` (a key or a value, at any depth) holds an unpaired
    surrogate; before, one such line failed the whole job with a UnicodeEncodeError."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        raise RecordError(source, line_number, f"unpaired surrogate escape \\u{code:04x} in a string: not valid "
                                               "Unicode text; fix the line (e.g. \\ufffd instead)") from exc


class _WatchedFile:
    """A binary file whose read errors are remembered (``error``): Arrow raises a corrupt page and a
    read that failed on the storage alike as ``OSError``, and only the second must fail the split."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.error: BaseException | None = None  # the first read the storage failed (see is_storage_error)

    def read(self, *args: Any) -> bytes:
        return self._call("read", *args)

    def readinto(self, buffer: Any) -> int:
        return self._call("readinto", buffer)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.raw, method)(*args)
        except Exception as exc:
            failed = self._failed(exc)
            if failed is exc:
                raise
            raise failed from exc

    def _failed(self, exc: Exception) -> Exception:
        """What a failed read raises: the error itself, remembered if it is the storage's; an aiohttp
        error (not an OSError) as an OSError, which Arrow and the row-group loop handle as one."""
        if not is_storage_error(exc):
            return exc
        self.error = exc
        return exc if isinstance(exc, OSError) else OSError(f"{type(exc).__name__}: {exc}")

    def __getattr__(self, name: str) -> Any:  # seek, tell, size, closed, ...: the file's own
        return getattr(self.raw, name)


def _readable_batches(parquet: pq.ParquetFile, url: str, batch_size: int,
                      on_bad_record: BadRecordHandler | None, watched: _WatchedFile | None = None,
                      ) -> Iterator[pa.RecordBatch]:
    """The batches of a Parquet file, row group by row group. A row group that cannot be read (a
    corrupt page) has each of its rows not yet read reported as a bad record (offset = row number in
    the file, the reason naming the group) and reading goes on with the next group, as a cut JSONL or
    WARC file keeps what it can read; before, one corrupt page failed the whole job naming no file."""
    start = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_size, row_groups=[group]):
                done += batch.num_rows
                yield batch
        except (OSError, pa.ArrowException) as exc:
            if watched is not None and watched.error is not None:  # the storage failed, not the data
                raise read_failed(url, f"in row group {group} (rows {start:,}-{start + rows - 1:,})",
                                  watched.error) from exc
            reason = (f"row group {group} (rows {start:,}-{start + rows - 1:,}) is unreadable "
                      f"({''.join(c if c.isprintable() else ' ' for c in ' '.join(str(exc).split()))[:300]}): repair or rewrite the file to read these rows")
            for index in range(start + done, start + rows):
                _report(RecordError(url, index, reason), on_bad_record)
        start += rows


def _castable(kind: pa.DataType, target: pa.DataType) -> bool:
    """Whether Arrow casts values of ``kind`` to ``target`` (a struct or list column cannot be text)."""
    try:
        pa.array([], kind).cast(target)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _as_text(column: pa.Array, target: pa.DataType) -> tuple[pa.Array, dict[int, str]]:
    """``column`` cast to the string type ``target``; a binary value that is not UTF-8 becomes null and
    is returned by row with what is wrong (before, one such value failed the whole job)."""
    try:
        return column.cast(target), {}
    except pa.ArrowInvalid:
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
                or pa.types.is_fixed_size_binary(column.type)):
            raise
    values: list[str | None] = []
    bad: dict[int, str] = {}
    for index, value in enumerate(column.to_pylist()):
        try:
            values.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            values.append(None)
            bad[index] = f"{exc.reason} at byte {exc.start}"
    return pa.array(values, target), bad


def _report(error: RecordError, on_bad_record: BadRecordHandler | None) -> None:
    if on_bad_record is None:
        raise error
    on_bad_record(error)


class ParquetSource:
    """Parquet files with a text column (``text_field``) and an id column (``id_field``).

    ``url_field`` (default ``url``) is the url; every column but the id and the text goes into
    ``metadata`` as JSON (structs and lists stay nested; see :mod:`dedup.metadata` for how other
    Arrow types are written). A string column named ``metadata`` holding a JSON object — haybale's own
    output — is read as the document's metadata (and the url column is then not added to it), so an
    output reads back with the same metadata.
    Rows whose id or text is null are bad records (offset = row number in the file).
    """

    suffixes = (".parquet", ".pq")

    def __init__(self, urls: list[str], text_field: str = "text", id_field: str = "id", batch_size: int = 2000,
                 url_field: str = "url") -> None:
        self.urls = urls
        self.text_field = text_field
        self.id_field = id_field
        self.url_field = url_field
        self.batch_size = batch_size

    def splits(self) -> list[Split]:
        files = sorted({f for url in self.urls for f in expand_urls(url, self.suffixes)})
        options = (("text_field", self.text_field), ("id_field", self.id_field))
        if self.url_field != "url":
            options += (("url_field", self.url_field),)
        return [Split("parquet", f, options) for f in files]

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        options = dict(split.options)
        text_field, id_field = options["text_field"], options["id_field"]
        url_field = options.get("url_field", "url")
        try:
            handle = fsspec.open(split.url, "rb").open()
            watched = _WatchedFile(handle)
            parquet = pq.ParquetFile(watched)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot open {split.url} as Parquet: {exc}") from exc
        names = parquet.schema_arrow.names
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:  # Arrow finds no column by a repeated name, and metadata JSON holds one value per name
            raise SourceError(f"{split.url}: column names repeat ({', '.join(map(repr, repeated))}); give each "
                              "column its own name (write the file again) to read it")
        for required in (text_field, id_field):
            if required not in names:
                raise SourceError(f"{split.url}: no column {required!r} (columns: {sorted(names)}); use --text-field/--id-field")
            kind = parquet.schema_arrow.field(required).type
            if not _castable(kind, pa.string()):
                raise SourceError(f"{split.url}: column {required!r} holds {kind}, which is not text; name the "
                                  f"{'text' if required == text_field else 'id'} column with "
                                  f"{'--text-field' if required == text_field else '--id-field'}")
        others = [c for c in names if c not in (text_field, id_field)]
        meta_columns = others
        if "metadata" in others and pa.types.is_string(parquet.schema_arrow.field("metadata").type):
            # haybale's own output: its url column came from a field its metadata already holds
            meta_columns = [c for c in others if c != url_field]
        row = 0
        with handle:
            for batch in _readable_batches(parquet, split.url, self.batch_size, on_bad_record, watched):
                ids, bad_ids = _as_text(batch.column(id_field), pa.string())
                texts, bad_texts = _as_text(batch.column(text_field), pa.large_string())
                valid = pa.compute.and_(pa.compute.is_valid(ids), pa.compute.is_valid(texts))
                if valid.false_count:
                    for index, ok in enumerate(valid.to_pylist()):
                        if not ok:
                            bad = [f"{name!r} is not UTF-8 ({bad_rows[index]})" for name, bad_rows in
                                   ((id_field, bad_ids), (text_field, bad_texts)) if index in bad_rows]
                            reason = "; ".join(bad) or f"null {id_field!r} or {text_field!r}"
                            _report(RecordError(split.url, row + index, reason), on_bad_record)
                n = batch.num_rows
                urls = pa.nulls(n, pa.string())
                if url_field in others and _castable(batch.schema.field(url_field).type, pa.string()):
                    urls = _as_text(batch.column(url_field), pa.string())[0]  # not UTF-8: null (metadata keeps it)
                metadata = pa.array(metadata_json(batch, meta_columns), pa.string())
                out = pa.RecordBatch.from_arrays([ids, urls, texts, metadata], schema=DOCUMENT_SCHEMA)
                row += n
                yield out.filter(valid) if valid.false_count else out
