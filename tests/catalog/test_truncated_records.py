"""A record archived cut short (``WARC-Truncated``: a crawl's body cap, a timeout) reads back with a
warning everywhere its body is read: ``catalog cat`` (whole or streamed), the dedup catalog input
and the dedup WARC input. Before, ``cat`` printed the first 1 MiB of a 3 MiB page without a word, and
dedup counted the cut page as a whole document."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.store import Store
from catalog.warc_records import response_record
from haybale.cli import main

URL = "https://example.com/long"
SENT = b"<html><body><p>" + b"a long story " * 400 + b"</p></body></html>"
STORED = SENT[:1000]


def _root(tmp_path: Path) -> str:
    root = str(tmp_path / "root")
    with Store(root) as store:
        writer = store.writer()
        record = response_record(URL, "HTTP/1.1 200 OK", [("Content-Type", "text/html"),
                                                          ("Content-Length", str(len(SENT)))], STORED,
                                 truncated="length")
        sealed = writer.append(URL, record) + writer.close()
        store.register_sealed(sealed[0])
        whole = response_record("https://example.com/short", "HTTP/1.1 200 OK", [("Content-Type", "text/html")],
                                b"<html><body><p>short and whole</p></body></html>")
        writer = store.writer()
        store.register_sealed((writer.append("https://example.com/short", whole) + writer.close())[0])
    return root


def test_cat_warns_that_the_body_is_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _root(tmp_path)
    with Store(root, read_only=True, create=False) as store:
        warnings: list[str] = []
        assert store.cat(URL, warnings=warnings) == STORED
        assert warnings == [f"the record was cut short when it was archived (WARC-Truncated: length): the body is "
                            f"incomplete, 1,000 bytes as stored of the {len(SENT):,} the server sent"]
        streamed: list[str] = []
        assert store.cat_whole(URL, lambda _: None, streamed) == len(STORED) and streamed == warnings
        quiet: list[str] = []
        store.cat("https://example.com/short", warnings=quiet)
        assert quiet == []
    assert main(["--root", root, "catalog", "cat", URL]) == 0
    assert "cut short when it was archived" in capsys.readouterr().err


def test_dedup_counts_the_cut_page_as_a_warning(tmp_path: Path) -> None:
    root = _root(tmp_path)
    out = tmp_path / "out"
    assert main(["--root", root, "--quiet", "dedup", "run", "--input", "catalog:https://", "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"]["input"] == 2 and summary["documents"]["warnings"] == 1
    warc_out = tmp_path / "warc-out"  # the same volumes read as WARC files
    assert main(["--quiet", "dedup", "run", "--input", str(tmp_path / "root" / "volumes"), "--output", str(warc_out)]) == 0
    documents = json.loads((warc_out / "summary.json").read_text())["documents"]
    assert documents["input"] == 2 and documents["warnings"] == 1


def test_the_first_segment_of_a_segmented_record_reads_back_with_a_warning(tmp_path: Path) -> None:
    """A response archived in two segments (``WARC-Segment-Number``; the rest in a ``continuation``
    record): it is indexed as the URL's capture, and ``cat`` gave its first 38 KB of a 73 KB page
    without a word."""
    from ingest.warc_job import WarcJobConfig, run_warc_job

    path = _segmented_warc(tmp_path)
    with Store(str(tmp_path / "root")) as store:
        assert run_warc_job(store, [str(path)], WarcJobConfig(), show_progress=False, local=True).indexed == 1
        for read in ("cat", "cat_whole"):
            warnings: list[str] = []
            if read == "cat":
                store.cat("https://an.wikipedia.org/wiki/Escopete", warnings=warnings)
            else:
                store.cat_whole("https://an.wikipedia.org/wiki/Escopete", lambda _: None, warnings)
            assert any("segment 1" in w and "incomplete" in w for w in warnings), (read, warnings)


def test_dedup_counts_the_first_segment_as_a_warning(tmp_path: Path) -> None:
    """Both dedup inputs took the first segment for the whole page without a word."""
    path = _segmented_warc(tmp_path)
    out = tmp_path / "warc-out"
    assert main(["--quiet", "dedup", "run", "--input", str(path), "--output", str(out)]) == 0
    documents = json.loads((out / "summary.json").read_text())["documents"]
    assert documents["input"] == 1 and documents["warnings"] == 1
    root = str(tmp_path / "root")
    assert main(["--root", root, "--quiet", "ingest", "warc", str(path), "--no-ray"]) == 0
    out = tmp_path / "catalog-out"
    assert main(["--root", root, "--quiet", "dedup", "run", "--input", "catalog:https://", "--output", str(out)]) == 0
    documents = json.loads((out / "summary.json").read_text())["documents"]
    assert documents["input"] == 1 and documents["warnings"] == 1


def _segmented_warc(tmp_path: Path) -> Path:
    """A response of whirlwind.warc archived in two segments: its first 40,000 bytes, then the rest in a
    continuation record."""
    from tests.conftest import shared_data

    data = (shared_data() / "warc" / "whirlwind.warc").read_bytes()
    record = data[1375:76549]  # its response, 74,581 bytes of block
    start = record.find(b"\r\n\r\n") + 4
    head, block = record[:start], record[start:start + 74581]
    first = head.replace(b"Content-Length: 74581", b"Content-Length: 40000").replace(
        b"WARC-Type: response\r\n", b"WARC-Type: response\r\nWARC-Segment-Number: 1\r\n")
    rest = (b"WARC/1.0\r\nWARC-Type: continuation\r\nWARC-Target-URI: https://an.wikipedia.org/wiki/Escopete\r\n"
            b"WARC-Date: 2024-05-18T01:58:10Z\r\nWARC-Segment-Number: 2\r\nWARC-Segment-Total-Length: 74581\r\n"
            b"Content-Length: %d\r\n\r\n" % (74581 - 40000))
    path = tmp_path / "segmented.warc"
    path.write_bytes(first + block[:40000] + b"\r\n\r\n" + rest + block[40000:] + b"\r\n\r\n")
    return path
