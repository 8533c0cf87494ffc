"""Bytes that are not gzip between the gzip members of a gzip-per-record WARC (or after the last one).

``cat a.warc.gz notes.txt b.warc.gz`` leaves plain bytes between two records' members. Parsers read
them as they could: warcio made a record of each line of a plain-text block (80 "response" records
keyed ``this%20is``, each then quarantined as a record of its own), and a block
starting with a blank line became one ``unknown`` record whose range ran over every later member — the
records after it were neither read nor reported. FastWARC made an empty record of a bare CRLF between
members and reported it as a truncated file. Now such bytes are one quarantine entry with their offset
(none when they are only line ends or zero padding), the record before them ends at its own member, and
reading goes on at the next member that starts a record: in place, ``--repack`` and rebuild agree.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.rebuild import rebuild
from catalog.store import Store
from catalog.warc_reader import Quarantined, SourceRecord, iter_records, read_record_at
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.ingest.test_warc_job import expected_documents

NEXT_AT = 24476  # the member after the weld response in the wget sample (48 records, 24 with keys)
SHAPES = {
    "text": b"this is a plain text block\n" * 80,
    "blank-then-text": b"\r\n\r\nthis is a plain text block\n" * 3,
    "few-bytes": b"JUNK!",
    "line-ends": b"\r\n",  # nothing but line ends: no quarantine entry
    "zero-padding": b"\x00" * 512,
}


def _with(shared_data_dir: Path, tmp_path: Path, shape: str, at_end: bool = False) -> tuple[Path, Path, int]:
    source = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    data = source.read_bytes()
    at = len(data) if at_end else NEXT_AT
    path = tmp_path / f"{shape}-{at_end}.warc.gz"
    path.write_bytes(data[:at] + SHAPES[shape] + data[at:])
    return path, source, at


@pytest.mark.parametrize("at_end", [False, True])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_reader_quarantines_the_bytes_once_and_reads_every_record(
        shared_data_dir: Path, tmp_path: Path, shape: str, at_end: bool) -> None:
    path, _, at = _with(shared_data_dir, tmp_path, shape, at_end)
    items = list(iter_records(str(path)))
    records = [i for i in items if isinstance(i, SourceRecord)]
    quarantined = [(q.offset, q.reason) for q in items if isinstance(q, Quarantined)]
    assert len(records) == 48 and all(r.target_uri is None or "this" not in r.target_uri for r in records)
    blank = not SHAPES[shape].strip(b"\r\n\x00")
    assert [offset for offset, _ in quarantined] == ([] if blank else [at])
    assert all(f"{len(SHAPES[shape])} bytes" in reason and "not a gzip member" in reason for _, reason in quarantined)
    before = next(r for r in records if r.offset + (r.length or 0) >= at)
    assert before.offset + before.length == at  # its own member only, not the bytes after it
    assert sum(r.length for r in records) + len(SHAPES[shape]) == path.stat().st_size  # every byte accounted for
    for r in records[-3:]:
        assert read_record_at(str(path), r.offset, r.length).record_id == r.record_id


def test_job_in_place_repacked_and_rebuilt_count_every_record(shared_data_dir: Path, tmp_path: Path) -> None:
    path, source, at = _with(shared_data_dir, tmp_path, "blank-then-text")
    expected = expected_documents(source, set())
    for repack in (False, True):
        root = tmp_path / f"root-{repack}"
        with Store(str(root)) as store:
            summary = run_warc_job(store, [str(path)], WarcJobConfig(repack=repack), show_progress=False,
                                   local=True)
            # 48 records = 24 with keys + 24 skipped (warcinfo, request, metadata); one range of bytes
            assert (summary.records, summary.indexed + summary.repacked, sum(summary.skipped.values()),
                    summary.quarantined) == (48, 24, 24, 1), repack
            assert [(q["offset"], q["record"]) for q in summary.quarantine] == [(at, False)]  # bytes, no record
            f = summary.per_file[str(path)]
            assert (f["quarantined"], f["quarantined_records"]) == (1, 0)
            assert {k for k, _ in store.catalog.items()} == set(expected)
            for key in expected:
                assert store.cat(key) == expected[key], key
            before = {k: (loc.offset, loc.length, loc.digest) for k, loc in store.catalog.items()}
            with Store(str(root), catalog_dir=str(tmp_path / f"rebuilt-{repack}")) as target:
                report = rebuild(store.volumes_url, target, progress=lambda _: None)
                assert not report.skipped
                assert {k: (loc.offset, loc.length, loc.digest) for k, loc in target.catalog.items()} == before


def test_bytes_after_the_last_record_of_an_uncompressed_warc_are_quarantined(shared_data_dir: Path,
                                                                             tmp_path: Path) -> None:
    """Bytes after the last record of an uncompressed WARC (and of one gzipped as a stream, which is
    repacked from its decompressed copy) were folded into that record's range and reported nowhere."""
    import gzip

    plain = (shared_data_dir / "warc" / "example.warc").read_bytes()  # its last record ends the file
    junk = b"this is a plain text block\n" * 3
    path = tmp_path / "trailing.warc"
    path.write_bytes(plain + junk)
    items = list(iter_records(str(path)))
    last = [i for i in items if isinstance(i, SourceRecord)][-1]
    assert last.offset + last.length == len(plain)
    assert [(q.offset, q.record, f"{len(junk)} bytes after the last record" in q.reason)
            for q in items if isinstance(q, Quarantined)] == [(len(plain), False, True)]
    whole = tmp_path / "trailing.warc.gz"
    whole.write_bytes(gzip.compress(plain + junk))
    for name, source in (("in-place", path), ("whole-gzip", whole)):
        with Store(str(tmp_path / name)) as store:
            summary = run_warc_job(store, [str(source)], WarcJobConfig(), show_progress=False, local=True)
            assert (summary.records, summary.quarantined) == (6, 1), name
            assert [(q["offset"], q["record"]) for q in summary.quarantine] == [(len(plain), False)], name


def test_every_stretch_of_junk_in_an_uncompressed_warc_is_quarantined(shared_data_dir: Path, tmp_path: Path) -> None:
    """Once the strict parser gave up on a plain WARC, the lenient one skipped junk silently: only the
    first stretch was looked for, a second went into the range of the record before it."""
    plain = (shared_data_dir / "warc" / "example.warc").read_bytes()  # records at 0, 488, 1197, 2566, 3370, 4316
    junk = b"this is junk\r\n"
    path = tmp_path / "two.warc"
    path.write_bytes(plain[:1197] + junk + plain[1197:4316] + junk + plain[4316:])
    items = list(iter_records(str(path)))
    assert [(q.offset, q.record) for q in items if isinstance(q, Quarantined)] == [(1197, False), (4316 + len(junk), False)]
    records = [i for i in items if isinstance(i, SourceRecord)]
    assert [r.length for r in records] == [488, 709, 1369, 804, 946, 804]  # each its own bytes only
