"""A gzip member that is not a WARC record, inside a gzip-per-record WARC indexed in place.

``cat a.warc.gz notes.txt.gz b.warc.gz > c.warc.gz`` leaves a member that decompresses to text between
two records. FastWARC reads past it without a word, so the record before it was given a range running
over it (a ranged read of the record returned the text's member too) and the member was in no report.
Now the record's range ends at its own member and the foreign member is quarantined with its offset.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from catalog.rebuild import rebuild
from catalog.store import Store
from catalog.warc_reader import Quarantined, SourceRecord, iter_records
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.ingest.test_warc_job import expected_documents

WELD = "https://www.cs.washington.edu/people/faculty/weld"
WELD_AT, NEXT_AT = 15904, 24476  # the weld response's member in the wget sample, and the member after it
NOTES = gzip.compress(b"notes.txt: not a WARC record\n" * 40)


def _with_notes(shared_data_dir: Path, tmp_path: Path, at_end: bool) -> tuple[Path, Path, int]:
    """The wget sample with ``NOTES`` after the weld response (or after the last record): (copy, source,
    offset of the notes member)."""
    source = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    data = source.read_bytes()
    at = len(data) if at_end else NEXT_AT
    path = tmp_path / "with-notes.warc.gz"
    path.write_bytes(data[:at] + NOTES + data[at:])
    return path, source, at


@pytest.mark.parametrize("at_end", [False, True])
def test_reader_ends_the_record_at_its_member_and_quarantines_the_foreign_one(
        shared_data_dir: Path, tmp_path: Path, at_end: bool) -> None:
    path, source, notes_at = _with_notes(shared_data_dir, tmp_path, at_end)
    items = list(iter_records(str(path)))
    records = [i for i in items if isinstance(i, SourceRecord)]
    quarantined = [i for i in items if isinstance(i, Quarantined)]
    assert len(records) == 48
    assert [(q.offset, "not part of any WARC record" in q.reason) for q in quarantined] == [(notes_at, True)]
    before = next(r for r in records if r.offset + (r.length or 0) >= notes_at)
    assert before.offset + before.length == notes_at  # its own member only
    assert sum(r.length for r in records) + len(NOTES) == path.stat().st_size  # every byte accounted for


def test_job_in_place_and_repacked_agree_and_rebuild_gives_the_same_catalog(
        shared_data_dir: Path, tmp_path: Path) -> None:
    path, source, notes_at = _with_notes(shared_data_dir, tmp_path, False)
    expected = expected_documents(source, set())
    digests = {}
    for repack in (False, True):
        root = tmp_path / f"root-{repack}"
        with Store(str(root)) as store:
            summary = run_warc_job(store, [str(path)], WarcJobConfig(repack=repack), show_progress=False,
                                   local=True)
            assert (summary.records, summary.indexed + summary.repacked, summary.quarantined) == (48, 24, 1)
            assert [q["offset"] for q in summary.quarantine] == [notes_at]
            assert {k for k, _ in store.catalog.items()} == set(expected)
            for key in expected:
                assert store.cat(key) == expected[key], key
            digests[repack] = {k: loc.digest for k, loc in store.catalog.items()}
            if repack:
                continue
            weld = store.get(WELD)
            assert weld is not None and (weld.offset, weld.length) == (WELD_AT, NEXT_AT - WELD_AT)
            before = {k: (loc.volume, loc.offset, loc.length, loc.digest) for k, loc in store.catalog.items()}
            with Store(str(root), catalog_dir=str(tmp_path / "rebuilt")) as target:
                rebuild(store.volumes_url, target, progress=lambda _: None)
                after = {k: (loc.volume, loc.offset, loc.length, loc.digest) for k, loc in target.catalog.items()}
                assert {k: v[1:] for k, v in after.items()} == {k: v[1:] for k, v in before.items()}
    assert digests[False] == digests[True]
