"""The member-by-member in-place pass answers exactly what the FastWARC pass answers, or gives up.

Every gzip file of ../shared/data/warc is planned both ways: where the member pass answers, its plan
(counts, keys, locations, digests, dates, CDXJ lines, quarantined records) equals the FastWARC pass's,
and every digest equals ``parse_record`` of exactly the record's range (what ``catalog cat`` checks).
Damaged shapes (junk between members, two records in one member, a truncated member) make it give up."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from catalog.warc_layout import resolve_source
from catalog.warc_records import parse_record, payload_digest
from ingest.warc_indexing import FileCounts, RecordUnreadable, _in_place_pass, _InPlacePlan, record_key
from ingest.warc_member_pass import plan_members


def _member_plan(path: Path) -> _InPlacePlan | None:
    src = resolve_source(str(path))
    try:
        plan = _InPlacePlan(FileCounts(str(path), "in-place"))
        return plan if plan_members(src, plan, record_key, RecordUnreadable) else None
    finally:
        src.close()


def _fastwarc_plan(path: Path) -> _InPlacePlan | None:
    src = resolve_source(str(path))
    try:
        return _in_place_pass(src, True, FileCounts(str(path), "in-place"), True)
    finally:
        src.close()


def _same(a: _InPlacePlan, b: _InPlacePlan) -> None:
    assert (a.counts.records, a.counts.skipped) == (b.counts.records, b.counts.skipped)
    assert a.records == b.records
    assert a.dates == b.dates
    assert a.lines == b.lines
    assert a.quarantine == b.quarantine


def test_member_pass_matches_the_fastwarc_pass_on_the_shared_files(shared_data_dir: Path) -> None:
    answered = 0
    for path in sorted((shared_data_dir / "warc").glob("*.gz")):
        if ".arc" in path.name or ".wat" in path.name:
            continue
        mine = _member_plan(path)
        if mine is None:
            continue
        answered += 1
        theirs = _fastwarc_plan(path)
        assert theirs is not None, f"{path.name}: member pass answered where the FastWARC pass gives up"
        _same(mine, theirs)
        data = path.read_bytes()
        for key, offset, length, digest in mine.records:
            assert digest == payload_digest(parse_record(data[offset:offset + length]).payload), (path.name, key)
    assert answered >= 3  # whirlwind.warc.gz, example.warc.gz, the wet.gz, ...


def _members(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r) for r in records)


def _record(uri: str, body: bytes = b"hello") -> bytes:
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    return (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
            ).encode() + block + b"\r\n\r\n"


@pytest.mark.parametrize("shape", ["plain", "junk", "two_in_one", "truncated", "continuation", "no_uri"])
def test_member_pass_gives_up_on_unusual_shapes(tmp_path: Path, shape: str) -> None:
    records = [_record(f"https://a.example/{n}") for n in range(3)]
    data = _members(records)
    if shape == "junk":
        data = _members(records[:1]) + b"garbage" + _members(records[1:])
    elif shape == "two_in_one":
        data = gzip.compress(records[0] + records[1]) + _members(records[2:])
    elif shape == "truncated":
        data = data[:-10]
    elif shape == "continuation":
        data = _members([records[0].replace(b"WARC-Date:", b"X-Folded: a\r\n b\r\nWARC-Date:")] + records[1:])
    elif shape == "no_uri":
        data = _members([records[0].replace(b"WARC-Target-URI: https://a.example/0\r\n", b"")] + records[1:])
    path = tmp_path / "f.warc.gz"
    path.write_bytes(data)
    plan = _member_plan(path)
    if shape in ("plain", "no_uri"):
        assert plan is not None
        assert plan.counts.records == 3
        assert len(plan.records) == (3 if shape == "plain" else 2)
        assert len(plan.quarantine) == (0 if shape == "plain" else 1)  # a keyed record without a key
        theirs = _fastwarc_plan(path)
        assert theirs is not None
        _same(plan, theirs)
    else:
        assert plan is None, f"{shape}: the member pass must leave this file to the general passes"
