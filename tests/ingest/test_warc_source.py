"""The WARC/WET/ARC source reader against every shared edge-case file and against damaged copies."""
from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import fsspec
import pytest

from catalog.warc_layout import Compression, RecordFormat
from catalog.warc_reader import (
    Quarantined,
    SourceRecord,
    is_indexable_in_place,
    iter_files,
    iter_records,
    probe_layout,
    read_record_at,
)
from ingest.errors import WarcSourceError

# file: (records yielded, quarantined, in place?, compression, {parser: records})  -- as observed
EXPECTED: dict[str, tuple[int, int, bool, Compression, dict[str, int]]] = {
    "bad.arc": (4, 0, True, Compression.NONE, {"warcio": 4}),
    "dolma-wget-sample-0000.warc.gz": (48, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 48}),
    "example-bad-non-chunked.warc.gz": (6, 0, False, Compression.GZIP_WHOLE_FILE, {"fastwarc": 6}),
    "example-bad.warc.gz.bad": (6, 0, False, Compression.GZIP_WHOLE_FILE, {"fastwarc": 6}),
    "example-digest.warc": (4, 0, True, Compression.NONE, {"fastwarc": 4}),
    "example-iana.org-chunked.warc": (3, 0, True, Compression.NONE, {"fastwarc": 3}),
    "example-resource.warc.gz": (3, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 3}),
    "example-space-in-target-uri.warc.gz": (2, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 2}),
    "example-space-in-url.arc": (2, 0, True, Compression.NONE, {"warcio": 2}),
    "example-trunc.warc": (4, 0, True, Compression.NONE, {"fastwarc": 3, "fastwarc-quirks": 1}),
    "example-wget-bad-target-uri.warc.gz": (6, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 6}),
    "example-wrong-chunks.warc.gz": (2, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 2}),
    "example.arc": (2, 0, True, Compression.NONE, {"warcio": 2}),
    "example.arc.gz": (2, 0, True, Compression.GZIP_PER_RECORD, {"warcio": 2}),
    "example.warc": (6, 0, True, Compression.NONE, {"fastwarc": 6}),
    "example.warc.gz": (6, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 6}),
    "post-test.warc.gz": (6, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 6}),
    "whirlwind.warc": (4, 0, True, Compression.NONE, {"fastwarc": 4}),
    "whirlwind.warc.gz": (4, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 4}),
    "whirlwind.warc.wat": (2, 0, True, Compression.NONE, {"fastwarc": 2}),
    "whirlwind.warc.wat.gz": (2, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 2}),
    "whirlwind.warc.wet": (2, 0, True, Compression.NONE, {"fastwarc": 2}),
    "whirlwind.warc.wet.gz": (2, 0, True, Compression.GZIP_PER_RECORD, {"fastwarc": 2}),
}


@pytest.fixture(scope="module")
def warc_dir(shared_data_dir: Path) -> Path:
    return shared_data_dir / "warc"


def test_table_covers_every_shared_file(warc_dir: Path) -> None:
    assert sorted(p.name for p in warc_dir.iterdir()) == sorted(EXPECTED)


def _same_record(a: SourceRecord, b: SourceRecord, arc: bool) -> bool:
    if arc:  # warcio's ARC-to-WARC conversion makes up a new record id on every read
        return (a.target_uri, a.date, a.content_length) == (b.target_uri, b.date, b.content_length)
    return a.record_id == b.record_id


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_file_counts_and_ranged_reads(warc_dir: Path, name: str) -> None:
    url = str(warc_dir / name)
    records, quarantined, in_place, compression, parsers = EXPECTED[name]
    out = list(iter_records(url))
    recs = [r for r in out if isinstance(r, SourceRecord)]
    assert len(recs) == records and len(out) - len(recs) == quarantined
    assert dict(Counter(r.parser for r in recs)) == parsers
    assert all(r.in_place is in_place for r in recs)
    layout = probe_layout(url)
    assert layout.compression is compression and is_indexable_in_place(url) is in_place
    offsets = [r.offset for r in recs]
    assert offsets == sorted(offsets) and all(r.file == url and r.record_type != "unknown" for r in recs)
    if in_place:
        size = warc_dir.joinpath(name).stat().st_size
        assert offsets[0] == 0 and recs[-1].offset + (recs[-1].length or 0) == size
        for a, b in zip(recs, recs[1:]):
            assert a.offset + (a.length or 0) == b.offset  # spans tile the file: no byte unaccounted
        for r in recs:
            assert r.length is not None
            alone = read_record_at(url, r.offset, r.length)
            assert _same_record(alone, r, layout.record_format is RecordFormat.ARC)
    else:  # whole-file gzip: offsets tile the decompressed stream instead
        total = len(gzip.decompress(warc_dir.joinpath(name).read_bytes()))
        assert offsets[0] == 0 and recs[-1].offset + (recs[-1].length or 0) == total
        with pytest.raises(WarcSourceError):
            read_record_at(url, recs[1].offset, recs[1].length or 0)


def test_payload_and_http_fields(warc_dir: Path) -> None:
    recs = [r for r in iter_records(str(warc_dir / "whirlwind.warc.gz"), read_payload=True)
            if isinstance(r, SourceRecord)]
    response = next(r for r in recs if r.record_type == "response")
    assert response.http_status == 200 and response.payload is not None and len(response.payload) == 72848
    assert response.target_uri and response.target_uri.startswith("https://")
    assert response.payload_digest and response.payload_digest.startswith("sha1:")
    assert response.date and response.record_id and response.content_type == "application/http; msgtype=response"
    wet = [r for r in iter_records(str(warc_dir / "whirlwind.warc.wet"), read_payload=True)
           if isinstance(r, SourceRecord)]
    assert wet[1].record_type == "conversion" and wet[1].payload and len(wet[1].payload) == wet[1].content_length


def test_file_url_and_memory_url_give_same_records(warc_dir: Path) -> None:
    local = warc_dir / "example.warc.gz"
    fs = fsspec.filesystem("memory")
    fs.pipe("/same/example.warc.gz", local.read_bytes())
    a = [(r.offset, r.length, r.record_id) for r in iter_records(local.as_uri()) if isinstance(r, SourceRecord)]
    b = [(r.offset, r.length, r.record_id) for r in iter_records("memory:///same/example.warc.gz")
         if isinstance(r, SourceRecord)]
    assert a == b and len(a) == 6


def _damaged(warc_dir: Path) -> dict[str, bytes]:
    gz = (warc_dir / "example.warc.gz").read_bytes()
    plain = (warc_dir / "example.warc").read_bytes()
    return {
        "truncated.warc.gz": gz[:-200],
        "cut.warc": plain[:3000],
        "garbage.warc": b"hello, this is not an archive\n" * 10,
        "junk-member.warc.gz": gz[:784] + b"\x1f\x8bjunkjunkjunk" + gz[784:],
        "corrupt-member.warc.gz": gz[:800] + b"\xff" * 50 + gz[850:],
        "junk-between.warc": plain[:1197] + b"GARBAGE LINE\r\n\r\n" + plain[1197:],
    }


# name: (kinds in order: R = record, Q = quarantined), quarantine offsets
DAMAGED_EXPECTED = {
    "truncated.warc.gz": ("RRRRRQ", [3207]),
    "cut.warc": ("RRRQ", [2566]),
    "garbage.warc": ("Q", [0]),
    "junk-member.warc.gz": ("RRQRRRR", [784]),
    "corrupt-member.warc.gz": ("RRQRRR", [784]),
    "junk-between.warc": ("RRQRRRR", [1197]),
}


@pytest.mark.parametrize("name", sorted(DAMAGED_EXPECTED))
def test_damaged_files_are_quarantined_and_reading_goes_on(warc_dir: Path, name: str) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe(f"/damaged/{name}", _damaged(warc_dir)[name])
    url = f"memory:///damaged/{name}"
    out = list(iter_records(url))
    kinds, offsets = DAMAGED_EXPECTED[name]
    assert "".join("Q" if isinstance(r, Quarantined) else "R" for r in out) == kinds
    assert [r.offset for r in out if isinstance(r, Quarantined)] == offsets
    assert all(r.reason for r in out if isinstance(r, Quarantined))
    for r in out:
        if isinstance(r, SourceRecord) and r.in_place:
            assert r.length is not None and read_record_at(url, r.offset, r.length).record_id == r.record_id


def test_missing_file_is_quarantined_by_iter_files_and_raises_alone(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.warc.gz")
    out = list(iter_files([missing]))
    assert len(out) == 1 and isinstance(out[0], Quarantined) and "nope.warc.gz" in out[0].reason
    with pytest.raises(WarcSourceError):
        list(iter_records(missing))


def test_read_record_at_wrong_offset_raises(warc_dir: Path) -> None:
    with pytest.raises(WarcSourceError, match="not exactly one"):
        read_record_at(str(warc_dir / "example.warc.gz"), 10, 300)


def test_checking_the_record_a_parser_stopped_at_reads_in_bounded_blocks(warc_dir: Path, tmp_path: Path) -> None:
    """When a parser stops early (a corrupt member mid-file), the record it stopped at is checked over
    the rest of the file: that range was read into memory at once (a whole 1 GB WARC for a corrupt
    member near its start). It is read a block at a time now, with the same answers."""
    from catalog.warc_layout import resolve_source
    from catalog.warc_recovery import _SCAN_BLOCK, truncation_problem

    members = (warc_dir / "dolma-wget-sample-0000.warc.gz").read_bytes()
    damaged = bytearray(members)
    damaged[15904 + 3000] ^= 0xFF  # inside the member of the record at 15904
    plain = (warc_dir / "whirlwind.warc").read_bytes()
    response = plain[1375:76549]  # its 74,581-byte response record, whole
    start = response.find(b"\r\n\r\n") + 4
    block = response[start:start + 74581] * 30  # one record of 30 copies of that block (2.2 MB)
    big = response[:start].replace(b"Content-Length: 74581", b"Content-Length: %d" % len(block)) + block + b"\r\n\r\n"
    cases = {  # file bytes, record offset, answer (None: whole)
        "damaged.warc.gz": (bytes(damaged) + members * 11, 15904, "gzip member is corrupt"),
        "whole.warc.gz": (members * 12, 15904, None),
        "cut.warc.gz": ((members * 12)[:-10], 15904, "ends early"),
        "big.warc": (big, 0, None),
        "bigcut.warc": (big[:-100], 0, "holds"),
    }
    for name, (data, offset, answer) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        src = resolve_source(str(path))
        sizes: list[int] = []
        read = src.read
        src.read = lambda start, end, read=read, sizes=sizes: sizes.append(end - start) or read(start, end)  # type: ignore
        clen = len(block) if name.startswith("big") else 0
        problem = truncation_problem(src, offset, len(data) - offset, clen)
        src.close()
        assert (problem is None) if answer is None else (problem is not None and answer in problem), (name, problem)
        assert len(data) - offset > 2 * _SCAN_BLOCK and max(sizes) <= _SCAN_BLOCK, (name, max(sizes))
