"""Caps are errors, not truncation, and no single record takes a process past bounded memory.

A gzip bomb (1 GiB of zeros, ~1 MB compressed) is put in a small file (``ingest files`` of
``bomb.html.gz``), in a WARC record (``Content-Encoding: gzip``) and in one JSONL line. Each is read the
way a dedup worker reads it, in a subprocess whose peak RSS is measured beside a subprocess reading
the same input without the bomb: the bomb is quarantined with its reason, the rest of the input is
kept, and the peak stays within a bound far below the bomb's size. ``catalog cat`` of the bomb fails
naming the key and the cap, and ``--whole`` streams all of it in bounded memory, from the root and
from the catalog service (``--url``) alike.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from isal import isal_zlib

from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from catalog.store import Store
from ingest.files_job import FilesJobConfig, run_files_job
from tests.conftest import shared_data
from tests.integrity.reference import http_response, write_warc

REPO = Path(__file__).resolve().parents[2]
BOMB_BYTES = 1 << 30
EXTRA_RSS_BOUND_MB = 400  # what one record may add to a worker's peak; the bomb would add >= 1024


def _gzip_bomb(prefix: bytes = b"", suffix: bytes = b"", zeros: int = BOMB_BYTES, fill: bytes = b"\0") -> bytes:
    comp = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    parts = [comp.compress(prefix)]
    block = fill * (1 << 24)
    for _ in range(zeros // len(block)):
        parts.append(comp.compress(block))
    parts.append(comp.compress(suffix))
    parts.append(comp.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _gzip_bomb()


def _pages(n: int) -> list[bytes]:
    html = sorted((shared_data() / "aeb-dev" / "html").glob("*.html.gz"))[:n]
    return [gzip.decompress(p.read_bytes()) for p in html]


def _read_in_subprocess(kind: str, target: str, out: Path, root: str = "") -> dict:
    args = [sys.executable, "-m", "tests.integrity.bomb_reader", kind, target, str(out)] + ([root] if root else [])
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_bounded(with_bomb: dict, without: dict) -> None:
    extra = with_bomb["peak_rss_mb"] - without["peak_rss_mb"]
    print(f"peak RSS: {with_bomb['peak_rss_mb']:.0f} MB with the bomb, {without['peak_rss_mb']:.0f} MB without")
    assert extra < EXTRA_RSS_BOUND_MB, f"the bomb added {extra:.0f} MB of peak RSS (bound {EXTRA_RSS_BOUND_MB} MB)"


def test_gzip_bomb_in_a_small_file_is_quarantined_in_bounded_memory(bomb: bytes, tmp_path: Path) -> None:
    pages = _pages(3)
    for name, files in (("clean", {}), ("bombed", {"bomb.html.gz": bomb})):
        src = tmp_path / name / "src"
        src.mkdir(parents=True)
        for n, page in enumerate(pages):
            (src / f"page{n}.html.gz").write_bytes(gzip.compress(page))
        for file, data in files.items():
            (src / file).write_bytes(data)
        with Store(str(tmp_path / name / "root")) as store:
            run_files_job(store, [str(src)], FilesJobConfig(), show_progress=False, local=True)
    clean = _read_in_subprocess("catalog", "file://", tmp_path / "clean" / "out", str(tmp_path / "clean" / "root"))
    bombed = _read_in_subprocess("catalog", "file://", tmp_path / "bombed" / "out", str(tmp_path / "bombed" / "root"))
    assert clean["stats"][0]["documents_in"] == 3 and not clean["quarantine"]
    assert bombed["stats"][0]["documents_in"] == 3  # the three real pages, decompressed (.html.gz)
    [q] = bombed["quarantine"]
    assert "bomb.html.gz" in q["reason"] and "decoded-size cap of 67,108,864 bytes" in q["reason"]
    _assert_bounded(bombed, clean)

    root = str(tmp_path / "bombed" / "root")
    key = f"file://{tmp_path}/bombed/src/bomb.html.gz"
    raw = _cat(root, key, "--raw")  # the stored file: fine, it is small
    assert raw.returncode == 0 and len(raw.stdout) > len(bomb)


def _cat(root: str, key: str, *flags: str) -> subprocess.CompletedProcess[bytes]:
    code = ("import sys; from haybale.cli import main; from tests.integrity.bomb_reader import peak_rss_mb; "
            "rc = main(sys.argv[1:]); sys.stdout.flush(); print('PEAK_RSS_MB', peak_rss_mb(), file=sys.stderr); "
            "sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, "catalog", "cat", "--root", root, key, *flags], cwd=REPO,
                          capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def _peak(proc: subprocess.CompletedProcess[bytes]) -> float:
    return float(proc.stderr.decode().rsplit("PEAK_RSS_MB", 1)[1].split()[0])


def test_gzip_bomb_in_a_warc_record(bomb: bytes, tmp_path: Path) -> None:
    """The dedup WARC input quarantines it; catalog cat refuses it loudly, or streams it whole."""
    pages = _pages(3)
    good = [http_response(f"https://news.example/{n}", page, [("Content-Type", "text/html; charset=utf-8")],
                          f"2024-05-0{n + 1}T00:00:00Z") for n, page in enumerate(pages)]
    bomb_record = http_response("https://bomb.example/", bomb, [("Content-Type", "text/html"),
                                                               ("Content-Encoding", "gzip")], "2024-05-09T00:00:00Z")
    write_warc(tmp_path / "clean.warc.gz", good)
    write_warc(tmp_path / "bombed.warc.gz", good[:2] + [bomb_record] + good[2:])
    clean = _read_in_subprocess("warc", str(tmp_path / "clean.warc.gz"), tmp_path / "o1")
    bombed = _read_in_subprocess("warc", str(tmp_path / "bombed.warc.gz"), tmp_path / "o2")
    assert bombed["stats"][0]["documents_in"] == 3 and clean["stats"][0]["documents_in"] == 3
    [q] = bombed["quarantine"]
    assert "decoded-size cap" in q["reason"] and q["offset"] > 0
    _assert_bounded(bombed, clean)

    root = str(tmp_path / "root")
    from ingest.file_sources import FileRef, Split
    from ingest.warc_indexing import IndexOptions, index_split
    from ingest.warc_job import WarcJobSummary, register_split

    with Store(root) as store:
        path = tmp_path / "bombed.warc.gz"
        result = index_split(Split(0, (FileRef(str(path), path.stat().st_size, str(path)),)),
                             store.volumes_url + "/t", root + "/indexes", IndexOptions())
        register_split(store, result, "t", WarcJobSummary("t"))
    refused = _cat(root, "https://bomb.example/")
    message = refused.stderr.decode()
    assert refused.returncode == 2 and refused.stdout == b"", message
    assert "https://bomb.example/" in message and "decoded-size cap of 67,108,864 bytes" in message
    assert "--whole" in message or "raise the cap" in message
    whole = _cat(root, "https://bomb.example/", "--whole")
    streamed, zeros = len(whole.stdout), not whole.stdout.strip(b"\0")
    whole.stdout = b""  # 1 GiB: free it before the next subprocess
    print(f"catalog cat --whole: {streamed:,} bytes streamed, peak RSS {_peak(whole):.0f} MB")
    assert whole.returncode == 0 and streamed == BOMB_BYTES and zeros
    assert _peak(whole) < EXTRA_RSS_BOUND_MB, "--whole held the body in memory"
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0)) as service:
        refused = _cat(root, "https://bomb.example/", "--url", service.url)
        assert refused.returncode != 0 and refused.stdout == b""
        assert "decoded-size cap of 67,108,864 bytes" in refused.stderr.decode()
        over_http = _cat(root, "https://bomb.example/", "--whole", "--url", service.url)
    streamed, zeros = len(over_http.stdout), not over_http.stdout.strip(b"\0")
    over_http.stdout = b""
    print(f"catalog cat --whole --url: {streamed:,} bytes streamed, peak RSS {_peak(over_http):.0f} MB")
    assert over_http.returncode == 0 and streamed == BOMB_BYTES and zeros, over_http.stderr.decode()[-2000:]
    assert _peak(over_http) < EXTRA_RSS_BOUND_MB, "--whole --url held the body in memory"
    small = _cat(root, "https://news.example/1")
    assert small.returncode == 0 and small.stdout == pages[1]


def test_gzip_bomb_in_a_jsonl_line(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"doc{n}", "text": f"real text number {n} " * 20}).encode() + b"\n" for n in range(4)]
    prefix = lines[0] + lines[1] + b'{"id": "bomb", "text": "'
    bombed = _gzip_bomb(prefix, b'"}\n' + lines[2] + lines[3], fill=b"a")
    (tmp_path / "bombed.jsonl.gz").write_bytes(bombed)
    (tmp_path / "clean.jsonl.gz").write_bytes(gzip.compress(b"".join(lines)))
    clean = _read_in_subprocess("jsonl", str(tmp_path / "clean.jsonl.gz"), tmp_path / "o1")
    result = _read_in_subprocess("jsonl", str(tmp_path / "bombed.jsonl.gz"), tmp_path / "o2")
    assert result["stats"][0]["documents_in"] == 4, "every line but the bomb is kept"
    [q] = result["quarantine"]
    assert q["offset"] == 3 and "line cap" in q["reason"]
    _assert_bounded(result, clean)
