"""The WARC ingest benchmark's files: deterministic, small records one gzip member each, read alike by
FastWARC and by the in-place index pass (so the benchmark measures the path users get)."""
from __future__ import annotations

from pathlib import Path

from bench.warc_ingest_bench import fastwarc_iterate, generate
from catalog.warc_layout import resolve_source
from ingest.warc_indexing import FileCounts, RecordUnreadable, _InPlacePlan, record_key
from ingest.warc_member_pass import plan_members


def test_generated_files_are_deterministic_small_records_the_member_pass_reads(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", files=2, records=300)
    again = generate(tmp_path / "b", files=2, records=300)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert generate(tmp_path / "a", files=2, records=300) == first  # cached: reused, not rewritten
    size = sum(p.stat().st_size for p in first)
    assert 250 <= size / 600 <= 400  # about 300 bytes a record on disk
    assert fastwarc_iterate(first) == 600
    src = resolve_source(str(first[0]))
    try:
        plan = _InPlacePlan(FileCounts(str(first[0]), "in-place"))
        assert plan_members(src, plan, record_key, RecordUnreadable)
    finally:
        src.close()
    assert len(plan.records) == 300 and len({key for key, *_ in plan.records}) == 300 and not plan.quarantine
