"""JSONL, Parquet and WARC/WET sources: files, directories, globs, and bad records."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.errors import RecordError, SourceError
from dedup.inputs import MultiSource, format_of_name, plan_inputs, source_for_inputs
from dedup.sources import DocumentSource, JsonlSource, ParquetSource
from dedup.warc_source import WarcSource


def _read_all(source: DocumentSource, bad: list[RecordError] | None = None) -> pa.Table:
    batches = [b for split in source.splits() for b in source.read(split, bad.append if bad is not None else None)]
    return pa.Table.from_batches(batches) if batches else pa.table({})


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_jsonl_file_dir_glob_and_gzip(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "a.jsonl", [{"id": "a1", "text": "first", "url": "http://x/1"}, {"id": 2, "text": "second"}])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"id": "b1", "text": "third", "lang": "en"}) + "\n")
    (tmp_path / "notes.txt").write_text("not an input")
    for url in (str(tmp_path), str(tmp_path / "*.jsonl*"), f"file://{tmp_path}"):
        table = _read_all(JsonlSource([url]))
        assert table.column("id").to_pylist() == ["a1", "2", "b1"], url
    table = _read_all(JsonlSource([str(tmp_path / "b.jsonl.gz")]))
    assert json.loads(table.column("metadata")[0].as_py()) == {"lang": "en"}
    assert table.schema.names == ["id", "url", "text", "metadata"]


def test_jsonl_named_fields(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "a.jsonl", [{"doc": "k1", "content": "hello there"}])
    table = _read_all(JsonlSource([str(tmp_path)], text_field="content", id_field="doc"))
    assert table.to_pylist() == [{"id": "k1", "url": None, "text": "hello there", "metadata": None}]


def test_jsonl_bad_lines_are_quarantined_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "ok1", "text": "fine"}\n'
        b'{"id": "x", "text": "\xff\xfe broken"}\n'
        b"{not json\n"
        b'{"id": "no-text"}\n'
        b"[1, 2]\n"
        b'{"id": "ok2", "text": "also fine"}\n'
    )
    bad: list[RecordError] = []
    table = _read_all(JsonlSource([str(path)]), bad)
    assert table.column("id").to_pylist() == ["ok1", "ok2"]
    assert [(e.offset, e.source) for e in bad] == [(2, str(path)), (3, str(path)), (4, str(path)), (5, str(path))]
    assert "UTF-8" in bad[0].reason and "JSON" in bad[1].reason and "'text'" in bad[2].reason


def test_jsonl_bad_line_raises_without_handler(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "text": "a"}\n{oops\n')
    with pytest.raises(RecordError, match=r"bad.jsonl: record at 2"):
        _read_all(JsonlSource([str(path)]))


def test_missing_input() -> None:
    with pytest.raises(SourceError, match="not found"):
        JsonlSource(["/nonexistent/input.jsonl"]).splits()


def test_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.table({"key": ["p1", "p2", None], "body": ["one", "two", "three"], "url": ["u", None, "w"]}), tmp_path / "a.parquet")
    bad: list[RecordError] = []
    table = _read_all(ParquetSource([str(tmp_path)], text_field="body", id_field="key"), bad)
    assert table.column("id").to_pylist() == ["p1", "p2"]
    assert table.column("url").to_pylist() == ["u", None]
    assert [e.offset for e in bad] == [2]
    with pytest.raises(SourceError, match="no column 'text'"):
        _read_all(ParquetSource([str(tmp_path)], id_field="key"))


def test_warc_wet_and_arc(shared_data_dir: Path) -> None:
    warc = shared_data_dir / "warc"
    html = _read_all(WarcSource([str(warc / "whirlwind.warc.gz")]))
    assert html.schema.names == ["id", "url", "html", "metadata"]
    assert html.num_rows == 1 and html.column("url")[0].as_py().startswith("https://")
    text = _read_all(WarcSource([str(warc / "whirlwind.warc.wet.gz")]))
    assert text.schema.names == ["id", "url", "text", "metadata"] and len(text.column("text")[0].as_py()) > 1000
    bad: list[RecordError] = []
    arc = _read_all(WarcSource([str(warc / "example.arc.gz")]), bad)  # ARC: read through warcio, as ingest does
    # the ARC's version block is a warcinfo record: counted as not a document, not a bad record
    assert arc.num_rows == 1 and arc.column("url").to_pylist() == ["http://example.com/"]
    assert [(type(e).__name__, e.reason) for e in bad] == [("RecordSkipped", "warcinfo")]
    assert "Example Domain" in arc.column("html")[0].as_py()
    source = WarcSource([str(warc / "dolma-wget-sample-0000.warc.gz")])
    wget = [b for split in source.splits() for b in source.read(split)]
    urls = [u for b in wget for u in b.column("url").to_pylist()]
    assert len(urls) > 5 and all(not u.startswith("<") for u in urls)
    assert any("html" in b.schema.names for b in wget)


def test_formats_by_name_and_mixed_inputs(tmp_path: Path, shared_data_dir: Path) -> None:
    _write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "x y z"}])
    assert format_of_name(str(tmp_path / "a.jsonl")) == "jsonl" and format_of_name("B.JSONL.ZST") == "jsonl"
    assert format_of_name("p.parquet") == "parquet" and format_of_name("w.warc.wet.gz") == "warc"
    assert format_of_name("notes.txt") is None
    assert plan_inputs([str(tmp_path)]).by_format == {"jsonl": [str(tmp_path)]}
    source = source_for_inputs([str(tmp_path), str(shared_data_dir / "warc" / "whirlwind.warc.wet.gz")])
    kinds = [s.kind for s in source.splits()]
    assert kinds == ["jsonl", "warc"]
    assert sum(b.num_rows for s in source.splits() for b in source.read(s)) == 2
    (tmp_path / "data.csv").write_text("id,text\n1,x\n")
    with pytest.raises(SourceError, match="cannot tell the format"):
        plan_inputs([str(tmp_path / "data.csv")])
    with pytest.raises(SourceError, match="input not found"):
        plan_inputs([str(tmp_path / "missing.jsonl")])


def test_a_directory_of_several_formats_is_read_in_each_and_the_rest_is_named(tmp_path: Path) -> None:
    """A directory holding JSONL and Parquet (and a file of neither, links, a FIFO) is read in both
    formats, by itself or as a glob, and nested in another multi-source; before, its first format
    won and the Parquet documents were not read, without a word ("dir/*" read them as JSONL). A link
    to a file is read (dataset caches are links); one to nothing or to a directory is named."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write_jsonl(mixed / "a.jsonl", [{"id": f"j{i}", "text": f"json {i}"} for i in range(3)])
    pq.write_table(pa.table({"id": ["p0", "p1"], "text": ["parquet 0", "parquet 1"]}), mixed / "b.PARQUET")
    (mixed / "README.md").write_text("not data")
    os.symlink(mixed / "a.jsonl", mixed / "again.jsonl")
    os.symlink(tmp_path / "nowhere.jsonl", mixed / "gone.jsonl")
    os.symlink(tmp_path, mixed / "up")
    os.mkfifo(mixed / "pipe")
    for given in (str(mixed), str(mixed / "*")):
        source = source_for_inputs([given])
        assert sorted(s.kind for s in source.splits()) == ["jsonl", "jsonl", "parquet"]
        bad: list[RecordError] = []
        ids = sorted(i for s in source.splits() for b in source.read(s, bad.append) for i in b.column("id").to_pylist())
        assert ids == ["j0", "j0", "j1", "j1", "j2", "j2", "p0", "p1"] and not bad  # again.jsonl: a link, read
        assert {Path(e["url"]).name: e["reason"].split(" ")[0] for e in source.not_read} == \
            {"README.md": "not", "gone.jsonl": "a", "pipe": "not", "up": "a"}
    nested = MultiSource([JsonlSource([str(mixed / "a.jsonl")]), source_for_inputs([str(mixed)])])
    assert len(nested.not_read) == 4
    assert sum(b.num_rows for s in nested.splits() for b in nested.read(s)) == 11


def test_truncated_gzip_keeps_the_readable_part(tmp_path: Path) -> None:
    rows = "".join(json.dumps({"id": i, "text": f"word{i} " * 400}) + "\n" for i in range(2000))
    data = gzip.compress(rows.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    bad: list[RecordError] = []
    table = _read_all(JsonlSource([str(path)]), bad)
    reference = []  # Python's gzip, line by line: every complete line before the cut
    with gzip.open(path, "rb") as handle:
        try:
            for line in handle:
                if line.endswith(b"\n"):
                    reference.append(str(json.loads(line)["id"]))
        except EOFError:
            pass
    assert 0 < len(reference) < 2000
    assert table.column("id").to_pylist() == reference
    assert len(bad) == 1 and bad[0].source == str(path) and bad[0].offset == len(reference) + 1
    assert "truncated" in bad[0].reason and "decompressed byte" in bad[0].reason


def test_a_dedup_output_inside_an_input_directory_is_not_read(tmp_path: Path) -> None:
    """A run whose --output lies under its --input directory made the next run over that directory
    read the first one's work and report files as documents: it failed ("no column 'text'" in
    _work/…/dropped/000000.parquet), and a resume of the first run found other splits than it
    started with. The output is now passed over and named; its data/ is read when named."""
    from haybale.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "docs.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} " * 20}) + "\n"
                                             for i in range(3)))
    assert main(["dedup", "run", "--input", str(data), "--output", str(data / "out"), "--run-id", "r1",
                 "--quiet"]) == 0
    # the same run again: its own output is under the input now, and the run resumes as it started
    assert main(["dedup", "run", "--input", str(data), "--output", str(data / "out"), "--run-id", "r1",
                 "--quiet"]) == 0
    assert main(["dedup", "run", "--input", str(data), "--output", str(tmp_path / "again"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["documents"]["input"] == 3
    assert [(e["url"], "dedup run r1" in e["reason"]) for e in summary["not_read"]] == [(str(data / "out"), True)]
    with pytest.raises(SourceError, match=r"is the output of dedup run r1: .* name its data/ directory"):
        JsonlSource([str(data / "out")]).splits()
    kept = ParquetSource([str(data / "out" / "data")]).splits()
    assert kept and all("/_work/" not in s.url for s in kept)


def test_jsonl_unpaired_surrogate_escapes_are_quarantined(tmp_path: Path) -> None:
    # JSON allows "\ud800" alone (JavaScript writes it); no Arrow string can hold it. One such line
    # failed the whole job with a UnicodeEncodeError; now it is a bad record like invalid UTF-8.
    path = tmp_path / "surrogates.jsonl"
    path.write_bytes(
        b'{"id": "ok1", "text": "fine"}\n'
        b'{"id": "t", "text": "lone \\ud800 high"}\n'
        b'{"id": "i\\udc00", "text": "lone low in the id"}\n'
        b'{"id": "m", "text": "in nested metadata", "meta": {"a": ["x", "\\uDBFF"]}}\n'
        b'{"id": "k", "text": "in a key", "\\ud801": 1}\n'
        b'{"id": "pair", "text": "a pair \\ud83d\\ude00 is fine", "u": "\\\\ud800 is a backslash"}\n'
    )
    bad: list[RecordError] = []
    table = _read_all(JsonlSource([str(path)]), bad)
    assert table.column("id").to_pylist() == ["ok1", "pair"]
    assert table.column("text").to_pylist()[1] == "a pair \U0001F600 is fine"
    assert json.loads(table.column("metadata")[1].as_py()) == {"u": "\\ud800 is a backslash"}
    assert [e.offset for e in bad] == [2, 3, 4, 5]
    assert all("unpaired surrogate" in e.reason for e in bad), [e.reason for e in bad]


def test_parquet_binary_values_not_utf8_are_quarantined_and_a_non_text_column_is_named(tmp_path: Path) -> None:
    """A binary text or id column with one value that is not UTF-8 failed the whole job
    (ArrowInvalid: Invalid UTF8 payload, naming no file); a list column named as the text failed
    with an Arrow cast error. Now the row is quarantined, and the column is named."""
    pq.write_table(pa.table({
        "id": pa.array([b"a", b"\xffb", b"c", b"d"], pa.binary()),
        "text": pa.array([b"first text", b"second text", b"bad \xe9 byte", None], pa.large_binary()),
        "url": pa.array([b"http://x/\xff", b"http://x/b", None, b"http://x/d"], pa.binary()),
    }), tmp_path / "bytes.parquet")
    bad: list[RecordError] = []
    table = _read_all(ParquetSource([str(tmp_path / "bytes.parquet")]), bad)
    assert table.to_pylist() == [{"id": "a", "url": None, "text": "first text", "metadata": '{"url": "aHR0cDovL3gv/w=="}'}]
    assert [(e.offset, e.reason) for e in bad] == [
        (1, "'id' is not UTF-8 (invalid start byte at byte 0)"),
        (2, "'text' is not UTF-8 (invalid continuation byte at byte 4)"),
        (3, "null 'id' or 'text'"),
    ]
    pq.write_table(pa.table({"id": ["a"], "text": pa.array([["x", "y"]])}), tmp_path / "lists.parquet")
    with pytest.raises(SourceError, match=r"lists\.parquet: column 'text' holds list<.*not text.*--text-field"):
        _read_all(ParquetSource([str(tmp_path / "lists.parquet")]))


def test_parquet_corrupt_row_group_is_quarantined_row_by_row_and_reading_goes_on(tmp_path: Path) -> None:
    """A corrupt page failed the whole job (OSError from Arrow, naming no file); now the rows of the
    unreadable row group are bad records and the other groups are read."""
    path = tmp_path / "corrupt.parquet"
    table = pa.table({"id": [f"i{i}" for i in range(300)], "text": [f"document {i} " + "word " * (i % 40) for i in range(300)]})
    pq.write_table(table, path, row_group_size=100, compression="zstd")
    page = pq.ParquetFile(path).metadata.row_group(1).column(1).data_page_offset
    data = bytearray(path.read_bytes())
    for index in range(page, page + 64):  # the page header of group 1's text column
        data[index] ^= 0x5A
    path.write_bytes(bytes(data))
    bad: list[RecordError] = []
    read = _read_all(ParquetSource([str(path)]), bad)
    assert read.column("id").to_pylist() == [f"i{i}" for i in list(range(100)) + list(range(200, 300))]
    assert [e.offset for e in bad] == list(range(100, 200))
    assert bad[0].reason.startswith("row group 1 (rows 100-199) is unreadable (")
    assert bad[0].reason.endswith("): repair or rewrite the file to read these rows") and bad[0].reason.isprintable()


def test_parquet_repeated_column_names_are_named(tmp_path: Path) -> None:
    """Parquet allows two columns of one name (a join's output); reading one failed the job with
    Arrow's KeyError, naming no file. Now the error names the file and the repeated names."""
    for name, columns in (("dup_id.parquet", ["id", "text", "id"]), ("dup_extra.parquet", ["id", "text", "x", "x"])):
        arrays = [pa.array(["a", "b"]), pa.array(["text one", "text two"])] + [pa.array([1, 2])] * (len(columns) - 2)
        pq.write_table(pa.Table.from_arrays(arrays, names=columns), tmp_path / name)
        with pytest.raises(SourceError, match=rf"{name}: column names repeat \('{columns[-1]}'\); give each column"):
            _read_all(ParquetSource([str(tmp_path / name)]))
