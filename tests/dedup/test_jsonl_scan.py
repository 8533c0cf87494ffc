"""The compiled JSONL scan (dedup/jsonl_scan.py) gives exactly Arrow's JSON reader's strings, or gives up."""
from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.json as pa_json
import pytest

from dedup.jsonl_scan import scan_id_text_block
from dedup.sources import DOCUMENT_SCHEMA, JsonlSource, Split

_ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)] * 4
    + list('"\\/\b\f\n\r\t\x00\x01\x1f\x7f')
    + ["é", "ß", "\u00a0", "«", "\u2019", "\u2014", "\u3000", "中", "文", "\U0001F600", "\U00010348", "\uffff", "\ue000"]
)


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 60)))


def _line(rng: random.Random, doc_id: str, text: str) -> str:
    ascii_only = rng.random() < 0.5
    items = [("id", doc_id), ("text", text)]
    rng.shuffle(items)
    blank = lambda: rng.choice(["", "", " ", "\t", "  "])  # noqa: E731
    parts = [f'{blank()}{json.dumps(k)}{blank()}:{blank()}{json.dumps(v, ensure_ascii=ascii_only)}{blank()}'
             for k, v in items]
    return f"{blank()}{{{','.join(parts)}}}{blank()}"


def _arrow_columns(block: bytes) -> tuple[pa.Array, pa.Array]:
    table = pa_json.read_json(pa.BufferReader(block), read_options=pa_json.ReadOptions(block_size=len(block) + 1))
    return table.column("id").combine_chunks(), table.column("text").cast(pa.large_string()).combine_chunks()


@pytest.mark.parametrize("seed", range(20))
def test_scan_equals_arrow_on_random_lines(seed: int) -> None:
    rng = random.Random(seed)
    lines = [_line(rng, _random_text(rng) or "x", _random_text(rng)) for _ in range(rng.randint(1, 200))]
    block = ("\n".join(lines) + ("\n" if rng.random() < 0.7 else "")).encode()
    scanned = scan_id_text_block(block, "id", "text")
    assert scanned is not None
    ids, texts = scanned
    arrow_ids, arrow_texts = _arrow_columns(block)
    assert ids.equals(arrow_ids) and texts.equals(arrow_texts)
    assert texts.to_pylist() == [json.loads(line)["text"] for line in lines]
    ids.validate(full=True)
    texts.validate(full=True)


def test_scan_decodes_every_escape() -> None:
    text = 'q" b\\ s/ \b\f\n\r\t \x00 é \u2019 \U0001F600'
    block = (json.dumps({"text": text, "id": "a"}) + "\n" + '{"id": "b", "text": "\\u00e9\\u2019\\ud83d\\ude00\\/"}\n').encode()
    ids, texts = scan_id_text_block(block, "id", "text")  # type: ignore[misc]
    assert ids.to_pylist() == ["a", "b"]
    assert texts.to_pylist() == [text, "é\u2019\U0001F600/"]


@pytest.mark.parametrize("block", [
    b'{"id": "a", "text": "t", "url": "u"}\n',  # another field
    b'{"id": "a", "text": "t", "text": "u"}\n',  # a repeated field
    b'{"id": 1, "text": "t"}\n',  # not a string
    b'{"id": "a"}\n',  # a missing field
    b'{"id": "a", "text": "t"}\n\n{"id": "b", "text": "t"}\n',  # a blank line
    b'{"id": "a", "text": "t"}\r\n',  # a carriage return
    b'{"id": "a", "text": "\xff"}\n',  # not UTF-8
    b'{"id": "a", "text": "\xed\xa0\x80"}\n',  # an encoded surrogate
    b'{"id": "a", "text": "\\ud800"}\n',  # an unpaired surrogate escape
    b'{"id": "a", "text": "\\udc00"}\n',
    b'{"id": "a", "text": "a\tb"}\n',  # a raw control character
    b'{"id": "a", "text": "\\x"}\n',  # an unknown escape
    b'{"id": "a", "text": "t"',  # cut
    b'{"id": "a", "text": "t"} x\n',  # trailing garbage
    b'[1]\n',
    b'',
])
def test_scan_gives_up_outside_its_shape(block: bytes) -> None:
    assert scan_id_text_block(block, "id", "text") is None


def test_source_reads_the_same_with_and_without_the_scan(tmp_path, monkeypatch) -> None:
    rng = random.Random(7)
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(_line(rng, f"d{i}", _random_text(rng)) for i in range(500)) + "\n", encoding="utf-8")
    split = Split("jsonl", str(path), (("text_field", "text"), ("id_field", "id"), ("url_field", "url")))
    with_scan = pa.Table.from_batches(list(JsonlSource([str(path)], batch_size=64).read(split)), DOCUMENT_SCHEMA)
    import dedup.jsonl_scan as jsonl_scan

    monkeypatch.setattr(jsonl_scan, "scan_id_text_block", lambda *args: None)
    without = pa.Table.from_batches(list(JsonlSource([str(path)], batch_size=64).read(split)), DOCUMENT_SCHEMA)
    assert with_scan.num_rows == 500 and with_scan.equals(without)
