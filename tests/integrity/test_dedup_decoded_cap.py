"""``dedup run --max-decoded-bytes N``: a record over the cap is quarantined with its reason, never
truncated, and the counts add up (records = kept + removed + quarantined), on real files: a WARC
whose response says ``Content-Encoding: gzip`` (1,270 bytes decoded), the same record read from the
catalog, and the real JSONL.gz of neardup-core, whose longest lines go past a small cap.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalog.store import Store
from haybale.cli import main as haybale_main
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.conftest import shared_data

pytestmark = pytest.mark.ray
GZIP_BODY_DECODED = 1270  # the gzip-encoded response of example.warc.gz, decoded (warcio's content stream)


def _dedup(out: Path, *args: str) -> dict:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = haybale_main(["dedup", "run", "--output", str(out), "--quiet", "--json", *args])
    assert code == 0
    docs = json.loads(printed.getvalue())["documents"]
    assert docs["records"] == docs["kept"] + docs["removed"] + docs["quarantined"]
    assert docs["input"] == docs["kept"] + docs["removed"]
    assert pq.read_table(out / "data").num_rows == docs["kept"]
    assert pq.read_table(out / "quarantine.parquet").num_rows == docs["quarantined"]
    return docs


def _reasons(out: Path) -> list[str]:
    return [row["reason"] for row in pq.read_table(out / "quarantine.parquet").to_pylist()]


def test_warc_and_catalog_body_over_the_cap_is_quarantined(ray_session: None, tmp_path: Path) -> None:
    warc = str(shared_data() / "warc" / "example.warc.gz")
    whole = _dedup(tmp_path / "default", "--input", warc)
    assert whole["quarantined"] == 0 and whole["input"] == 1
    kept = pq.read_table(tmp_path / "default" / "data").to_pylist()[0]["text"]
    assert "Example Domain" in kept  # the gzip body, decoded

    for cap, quarantined in ((GZIP_BODY_DECODED, 0), (GZIP_BODY_DECODED - 1, 1)):
        out = tmp_path / f"cap-{cap}"
        docs = _dedup(out, "--input", warc, "--max-decoded-bytes", str(cap))
        assert docs["records"] == whole["records"] and docs["quarantined"] == quarantined
        if quarantined:
            (reason,) = _reasons(out)
            assert f"decoded-size cap of {cap:,} bytes" in reason and "not truncated" in reason
            assert "example.warc.gz at offset" in reason

    root = str(tmp_path / "root")
    with Store(root) as store:
        run_warc_job(store, [warc], WarcJobConfig(run_id="w"), show_progress=False, local=True)
    out = tmp_path / "catalog"
    docs = _dedup(out, "--root", root, "--input", "catalog:", "--max-decoded-bytes", str(GZIP_BODY_DECODED - 1))
    assert docs["quarantined"] == 1 and docs["input"] == 0
    (reason,) = _reasons(out)
    assert f"decoded-size cap of {GZIP_BODY_DECODED - 1:,} bytes" in reason


def test_jsonl_lines_over_the_cap_are_quarantined(ray_session: None, tmp_path: Path) -> None:
    docs_file = shared_data() / "neardup-core" / "docs.jsonl.gz"
    with gzip.open(docs_file, "rb") as fh:  # the reference reader
        lines = fh.read().splitlines()
    cap = sorted(len(line) for line in lines)[len(lines) // 2]  # the median line: about half go over
    over = sum(1 for line in lines if len(line) > cap)
    assert 0 < over < len(lines)
    out = tmp_path / "out"
    docs = _dedup(out, "--input", str(docs_file), "--max-decoded-bytes", str(cap))
    assert docs["records"] == len(lines) and docs["quarantined"] == over
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    expected = {n + 1: starts[n] for n, line in enumerate(lines) if len(line) > cap}  # line -> its byte offset
    rows = pq.read_table(out / "quarantine.parquet").to_pylist()
    assert {row["offset"]: row["reason"] for row in rows}.keys() == expected.keys()
    for row in rows:
        assert f"line {row['offset']} (decompressed byte {expected[row['offset']]:,})" in row["reason"]
        assert f"{cap:,}-byte line cap" in row["reason"] and "--max-decoded-bytes" in row["reason"]
    kept_or_removed = {r["id"] for r in pq.read_table(out / "data").to_pylist()} | \
        {r["id"] for r in pq.read_table(out / "removed").to_pylist()}
    assert kept_or_removed == {json.loads(line)["id"] for line in lines if len(line) <= cap}


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots"])
def test_a_bad_cap_is_refused_naming_the_option(value: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = haybale_main(["dedup", "run", "--input", str(shared_data() / "warc" / "example.warc.gz"),
                         "--output", str(tmp_path / "o"), "--max-decoded-bytes", value])
    err = capsys.readouterr().err
    assert code == 2 and "--max-decoded-bytes" in err and value in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("block_bytes", [16, 1 << 20])
def test_line_blocks_take_out_exactly_the_lines_over_the_cap(block_bytes: int) -> None:
    from dedup.line_blocks import Block, Problem, iter_line_blocks

    lines = [b"a" * 10, b"", b"b" * 31, b"c" * 30, b"d" * 45, b"e" * 5, b"f" * 31]  # the last without newline
    data = b"\n".join(lines)
    got_lines: list[tuple[int, bytes]] = []
    problems: list[tuple[int, int]] = []
    for item in iter_line_blocks(io.BytesIO(data), "x.jsonl", block_bytes=block_bytes, max_line=30):
        if isinstance(item, Problem):
            problems.append((item.line, item.offset))
        else:
            assert isinstance(item, Block)
            got_lines += [(item.first_line + n, text) for n, text in enumerate(item.data.split(b"\n")) if text]
    starts = [sum(len(x) + 1 for x in lines[:n]) for n in range(len(lines))]
    assert problems == [(n + 1, starts[n]) for n, line in enumerate(lines) if len(line) > 30]
    assert got_lines == [(n + 1, line) for n, line in enumerate(lines) if line and len(line) <= 30]
