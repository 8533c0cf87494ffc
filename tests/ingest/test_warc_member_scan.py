"""The compiled member pass (zlib from numba, records read in numba) answers exactly what the Python
member pass answers, record by record, on every shape of record it may meet — or both give up.

Records of many shapes (URIs with queries, ``www`` hosts, upper case paths, dot segments, escapes,
wget's ``<...>``; HTTP heads with odd status lines, parameters, continuations, tabs, non-ASCII; every
record type; missing or empty WARC-Date, payload digests with and without a colon, ...) are written as
one-record gzip members, shuffled into files, and planned both ways."""
from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import pytest

from catalog.warc_layout import resolve_source
from ingest import warc_member_pass
from ingest.warc_indexing import FileCounts, _InPlacePlan
from ingest.warc_member_batches import plan_member_batches
from ingest.warc_member_inflate import available
from tests.ingest.test_warc_member_pass import _member_plan

pytestmark = pytest.mark.skipif(not available(), reason="no system zlib to call from compiled code")

URIS = ["https://a.example/p", "http://www.b.example/X/Y?q=1", "https://www.example/", "https://www/",
        "https://c.example/a?b=1&a=2", "https://c.example/a?", "https://C.example/a", "https://c.example/./a",
        "https://c.example/a/../b", "https://c.example:8080/a", "https://c.example/a%20b", "https://c.example/a b",
        "<https://wget.example/x>", "https://d.example/q?x?y", "https://a..b.example/", "https://-a.example/",
        "HTTPS://e.example/", "https://e.example", "ftp://f.example/x", "urn:uuid:1234", "", "https://g.example/#f",
        "https://h.example/" + "p" * 5000, "https://i.example/a'(b)*,;=:@!$", "https://j.example/\u00e9"]
HTTP_HEADS = [b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n",
              b"HTTP/1.1 404 Not Found\r\ncontent-type :  text/plain \r\nContent-Type: x/y\r\n",
              b"HTTP/1.0 0200\r\n", b"HTTP/1.1  200 OK\r\n", b"HTTP/1.1 abc\r\nContent-Type: a\"b\r\n",
              b"  HTTP/1.1 301 Moved  \r\nLocation: /x\r\n", b"HTP/1.1 200 OK\r\nContent-Type: text/html\r\n",
              b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Type: text/html\r\n",
              b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n folded\r\n",
              b"HTTP/1.1 200 OK\r\nContent-Type:\ttext/html\r\n", b"HTTP/1.1 200 OK\r\nContent-Type: t\xe9xt/html\r\n",
              b"HTTP/1.1 200 OK\r\nNoColonLine\r\nContent-Type: text/html\r\n", b"HTTP/1.1 200\r\n",
              b"HTTP/1.1 99999999999999999999 X\r\n", b"HTTP/1.1 200 OK\rContent-Type: a\r\n", b""]


def _record(rng: random.Random, n: int) -> bytes:
    kind = rng.choice(["response"] * 6 + ["resource", "conversion", "request", "metadata", "Response", ""])
    uri = rng.choice(URIS) if rng.random() < 0.5 else f"https://h{n}.example/p{n}"
    if rng.random() < 0.3:
        body = b"<p>" + str(n).encode()
        block = (rng.choice(HTTP_HEADS) + b"\r\n" + body) if kind.lower() == "response" else body
    else:
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>x" if kind.lower() == "response" else b"x"
    ctype = rng.choice(["application/http; msgtype=response", "application/http", "text/plain", "Application/http",
                        "text/html; charset=\"x\""]) if kind.lower() == "response" else rng.choice(
        ["text/plain", "text/plain; charset=utf-8", "", None])
    if kind.lower() == "response" and rng.random() < 0.8:
        ctype = "application/http; msgtype=response"
    head = [f"WARC-Type: {kind}"] if kind or rng.random() < 0.5 else []
    if uri or rng.random() < 0.5:
        head.append(f"WARC-Target-URI: {uri}")
    date = rng.choice(["2024-05-01T00:00:01Z", "2024-05-01T00:00:01.123456Z", "", None, "x", "2024"])
    if date is not None:
        head.append(f"WARC-Date: {date}")
    if ctype is not None:
        head.append(f"Content-Type: {ctype}")
    sha1 = rng.choice([None, "sha1:ABCDEF", "ABCDEF", "sha1:", "", "sha1:a\"b"])
    if sha1 is not None:
        head.append(f"WARC-Payload-Digest: {sha1}")
    rng.shuffle(head)
    extra = rng.choice([None, "warc-type: metadata", "  WARC-Date :  2020-01-01Z  ", "X-Odd:\ta", "X-Folded: a\r\n b",
                        "NoColon", "X-Utf8: \u00e9", "Content-Length: 1"])
    if extra is not None and rng.random() < 0.15:
        head.insert(rng.randrange(len(head) + 1), extra)
    length = str(len(block))
    if rng.random() < 0.02:
        length = rng.choice(["+1", "1e3", "", " 0" + length])
    head.append(f"Content-Length: {length}")
    version = rng.choice([b"WARC/1.0", b"WARC/1.0", b"WARC/1.1", b"WARC/0.9"]) if rng.random() < 0.1 else b"WARC/1.0"
    return version + b"\r\n" + "\r\n".join(head).encode("utf-8") + b"\r\n\r\n" + block + b"\r\n\r\n"


def _plan(path: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> _InPlacePlan | None:
    monkeypatch.setattr(warc_member_pass, "member_inflate_available", lambda: compiled)
    return _member_plan(path)


def _as_tuple(plan: _InPlacePlan | None) -> Any:
    if plan is None:
        return None
    return (plan.counts.records, plan.counts.skipped, plan.records, plan.dates, plan.lines, plan.quarantine)


@pytest.mark.parametrize("seed", range(6))
def test_compiled_member_pass_matches_the_python_one_record_by_record(tmp_path: Path, seed: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    gave_up = 0
    for n in range(40):  # small files: one odd record makes a whole file give up
        records = [_record(rng, 100 * n + i) for i in range(rng.randint(1, 12))]
        path = tmp_path / f"f{n}.warc.gz"
        path.write_bytes(b"".join(gzip.compress(r, compresslevel=rng.choice([1, 6, 9])) for r in records))
        python = _plan(path, False, monkeypatch)
        compiled = _plan(path, True, monkeypatch)
        assert _as_tuple(compiled) == _as_tuple(python), (seed, n, records)
        gave_up += python is None
    assert gave_up < 40  # both answer for many files


def test_every_real_file_is_planned_alike(shared_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """../shared/data's WARC/ARC/WAT/WET files: the same plan (or both give up) either way, and every
    record of a planned file is keyed, quarantined or counted as a skipped type."""
    files = sorted(p for p in shared_data_dir.rglob("*") if p.is_file() and any(
        s in p.name for s in (".warc", ".wet", ".wat", ".arc")))
    assert len(files) >= 20
    planned = 0
    for path in files:
        compiled = _plan(path, True, monkeypatch)
        assert _as_tuple(compiled) == _as_tuple(_plan(path, False, monkeypatch)), path.name
        if compiled is not None:
            planned += 1
            counts = compiled.counts
            assert len(compiled.records) + len(compiled.quarantine) + sum(counts.skipped.values()) == counts.records
    assert planned >= 8  # the gzip-per-record files: dolma, whirlwind.*.gz, example*.warc.gz, post-test


def test_each_odd_record_alone_is_read_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(99)
    plain = [gzip.compress(_record(random.Random(1000 + i), 10_000 + i)) for i in range(3)]
    for n in range(300):
        path = tmp_path / f"g{n}.warc.gz"
        path.write_bytes(plain[0] + gzip.compress(_record(rng, n)) + plain[1] + plain[2])
        assert _as_tuple(_plan(path, True, monkeypatch)) == _as_tuple(_plan(path, False, monkeypatch)), n


def test_the_common_record_is_answered_by_the_compiled_reading(tmp_path: Path) -> None:
    """The bench's records (and Common Crawl's responses) never reach the Python reading."""
    body = b"<html><body><p>a b c</p></body></html>"
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 38\r\n\r\n" + body
    records = [(f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://h{i}.example/f0/p{i}\r\n"
                f"WARC-Date: 2024-05-01T00:00:{i % 60:02d}Z\r\nWARC-Record-ID: <urn:uuid:{i:032x}>\r\n"
                f"WARC-Payload-Digest: sha1:ABC{i}\r\nContent-Type: application/http; msgtype=response\r\n"
                f"Content-Length: {len(block)}\r\n\r\n").encode() + block + b"\r\n\r\n" for i in range(20_000)]
    path = tmp_path / "common.warc.gz"
    path.write_bytes(b"".join(gzip.compress(r, compresslevel=1) for r in records))
    read_in_python = []
    src = resolve_source(str(path))
    try:
        plan = _InPlacePlan(FileCounts(str(path), "in-place"))
        assert plan_member_batches(src, plan, f'"{path}"', 1 << 20,
                                   lambda plan, offset, length, data: read_in_python.append(offset))
    finally:
        src.close()
    assert read_in_python == []
    assert plan.counts.records == len(plan.records) == 20_000
    assert plan.lines[0].startswith("example,h0)/f0/p0 20240501000000 ")
    assert plan.records[0][1] == 0 and plan.records[1][1] == plan.records[0][2]
    columns = plan.columns()  # what registration reads instead of the records: the same values
    assert columns is not None
    assert list(zip(columns[0], *(c.tolist() for c in columns[1:]))) == plan.records


def test_a_member_over_the_limit_makes_the_batches_give_up(tmp_path: Path) -> None:
    big = b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: https://a.example/\r\nContent-Length: 5000\r\n\r\n"
    path = tmp_path / "big.warc.gz"
    path.write_bytes(gzip.compress(big + b"x" * 5000 + b"\r\n\r\n"))
    src = resolve_source(str(path))
    try:
        plan = _InPlacePlan(FileCounts(str(path), "in-place"))
        assert not plan_member_batches(src, plan, '"x"', 4096, lambda *a: None)
        plan = _InPlacePlan(FileCounts(str(path), "in-place"))
        assert plan_member_batches(src, plan, '"x"', 8192, lambda *a: None)
    finally:
        src.close()
