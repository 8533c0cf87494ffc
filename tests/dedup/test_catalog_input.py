"""Dedup with the catalog as input: pages stored as WARC response records are read from the volumes
by the workers, near duplicates are removed, and every key is marked kept or removed in the catalog."""
from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalog.store import Store
from catalog.warc_records import resource_record, response_record
from haybale.cli import main as haybale_main


def _store_pages(root: str, pages: list[bytes]) -> tuple[list[str], dict[str, str]]:
    """Originals under https://news.example/a/N, edited copies under https://mirror.example/N."""
    originals = []
    copies: dict[str, str] = {}
    with Store(root) as store:
        writer = store.writer(max_bytes=400_000)
        sealed = []
        for n, html in enumerate(pages):
            url = f"https://news.example/a/{n}"
            originals.append(url)
            sealed += writer.append(url, response_record(url, "HTTP/1.1 200 OK",
                                                         [("Content-Type", "text/html; charset=utf-8")], html))
            if n % 5 == 0:  # a mirror that adds a line to the page: a near duplicate
                copy = f"https://mirror.example/{n}"
                edited = html.replace(b"</body>", b"<p>Mirrored with permission.</p></body>", 1)
                sealed += writer.append(copy, response_record(copy, "HTTP/1.1 200 OK",
                                                              [("Content-Type", "text/html")], edited))
                copies[copy] = url
        sealed += writer.append("file:///img/logo.png", resource_record("file:///img/logo.png", b"\x89PNG\r\n",
                                                                        "image/png"))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s)
    return originals, copies


@pytest.mark.ray
def test_dedup_reads_the_catalog_and_marks_every_key(ray_session: None, shared_data_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pages = [gzip.decompress(p.read_bytes()) for p in sorted((shared_data_dir / "aeb-dev" / "html").glob("*.html.gz"))[:20]]
    root = str(tmp_path / "root")
    originals, copies = _store_pages(root, pages)
    out = tmp_path / "out"
    code = haybale_main(["dedup", "run", "--root", root, "--input", "catalog:https://", "--input", "catalog:file:///img/",
                         "--output", str(out), "--run-id", "catalog-dedup", "--json"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    # The progress rate is the text the splits read over the time taken (it once divided the sizes of
    # the catalog splits' small manifest files, and showed 0.1 MB/s for 132 MB read in 3 s).
    read_lines = [line for line in capsys.readouterr().err.splitlines() if "read+signatures" in line]
    number, unit = re.search(r"([0-9.]+) ([KMG]?B)/s of text", read_lines[-1]).groups()
    shown = float(number) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
    actual = summary["bytes_input_text"] / summary["seconds"]["read_clean_signature"]
    assert actual / 2 <= shown <= actual * 2, (shown, actual, read_lines[-1])
    assert summary["documents"]["input"] == len(originals) + len(copies)
    assert summary["documents"]["quarantined"] == 1  # the PNG is not text
    removed = pq.read_table(out / "removed").to_pylist()
    by_id = {r["id"]: r for r in removed}
    for copy, original in copies.items():
        assert copy in by_id, f"{copy} should be removed as a near duplicate of {original}"
        assert by_id[copy]["kept_id"] == original and by_id[copy]["reason"] in ("near_duplicate", "exact_duplicate")
    with Store(root, read_only=True) as store:
        for copy in copies:
            status, reason = store.catalog.mark_of(copy)
            assert status == "removed" and reason == by_id[copy]["reason"]
        for url in originals:
            assert store.catalog.mark_of(url) == ("kept", "")


def _store_texts(root: str, count: int) -> list[str]:
    """``count`` small text files in the catalog, every other one a copy of the one before."""
    keys = []
    with Store(root) as store:
        writer = store.writer()
        sealed = []
        for n in range(count):
            key = f"file:///docs/{n}.txt"
            keys.append(key)
            rng = random.Random(n - n % 2)
            text = " ".join(f"w{rng.randrange(100_000)}" for _ in range(60))
            sealed += writer.append(key, resource_record(key, text.encode(), "text/plain"))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s)
    return keys


def test_catalog_and_file_inputs_mark_only_catalog_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--input catalog: --input file.jsonl` failed after writing every output: the JSONL documents'
    ids were sent to the catalog as marks ("cannot mark 'x1': it is not in the catalog"), and a rerun
    failed the same way, so the run could never finish."""
    root = str(tmp_path / "root")
    keys = _store_texts(root, 6)
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"id": f"x{i}", "text": f"a file document number {i} of its own"}) + "\n"
                             for i in range(2)))
    out = tmp_path / "out"
    assert haybale_main(["dedup", "run", "--root", root, "--input", "catalog:", "--input", str(extra),
                         "--output", str(out), "--quiet"]) == 0
    assert "6 catalog keys marked" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"]["input"] == 8 and summary["catalog_marks"] == 6
    with Store(root, read_only=True) as store:
        assert [store.catalog.mark_of(k)[0] for k in keys] == ["kept", "removed"] * 3


def test_a_key_deleted_during_the_run_is_reported_not_marked(tmp_path: Path) -> None:
    """The marks come last; a key deleted from the catalog before them used to fail the run (and
    every rerun). It is now left unmarked and named."""
    from dedup.catalog_source import CatalogMarkSink

    root = str(tmp_path / "root")
    keys = _store_texts(root, 4)
    with Store(root) as store:
        assert store.delete([keys[1]]) == 1
        sink = CatalogMarkSink(store.catalog)
        sink.mark(keys, ["kept", "removed", "kept", "removed"], [None, "exact_duplicate", None, "exact_duplicate"])
        assert (sink.marked, sink.missing, sink.missing_count) == (3, [keys[1]], 1)
        assert store.catalog.mark_of(keys[3]) == ("removed", "exact_duplicate")
