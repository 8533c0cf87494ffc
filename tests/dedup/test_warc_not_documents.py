"""A WARC's records that are not documents (request, warcinfo, metadata) are counted by type, so a
file's records add up: documents read + not documents + quarantined = records in the file. Before,
they were passed over without a word: ``dedup run`` of whirlwind.warc.gz (4 records) said "records: 1"."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from dedup.errors import RecordError
from dedup.warc_source import WarcSource
from haybale.cli.dedup_commands import describe_dedup_summary
from tests.dedup.inline_job import run_inline


def _types_in(path: Path) -> list[str]:
    return [t.decode().lower() for t in re.findall(rb"\r\nWARC-Type: (\w+)\r\n", gzip.decompress(path.read_bytes()))]


def test_records_that_are_not_documents_are_counted_by_type(shared_data_dir: Path, tmp_path: Path) -> None:
    files = [shared_data_dir / "warc" / "whirlwind.warc.gz", shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"]
    types = [t for f in files for t in _types_in(f)]
    inputs = [str(f) for f in files]
    summary = run_inline(WarcSource(inputs), str(tmp_path / "out"), "r", inputs)
    expected = {t: types.count(t) for t in set(types) if t not in ("response", "resource", "conversion")}
    assert summary["not_documents"] == dict(sorted(expected.items())) and expected
    assert summary["documents"]["records"] + sum(summary["not_documents"].values()) == len(types)
    text = describe_dedup_summary(summary, str(tmp_path / "out"))
    assert f"{sum(expected.values())} WARC records are not documents (" in text


def test_a_reader_without_a_handler_still_passes_them_over(shared_data_dir: Path) -> None:
    source = WarcSource([str(shared_data_dir / "warc" / "whirlwind.warc.gz")])
    rows = [row for split in source.splits() for batch in source.read(split) for row in batch.to_pylist()]
    assert len(rows) == 1
    seen: list[RecordError] = []
    [row for split in source.splits() for batch in source.read(split, seen.append) for row in batch.to_pylist()]
    assert sorted(e.reason for e in seen) == ["metadata", "request", "warcinfo"]
