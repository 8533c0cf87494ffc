"""An I/O error while reading an input file fails the split; bad data is still quarantined.

A read that fails on the storage (object storage, a disk error) says nothing about the data: the
lines after it were never seen. Before, dedup quarantined it as "cut or corrupt data" and dropped
the rest of the file under one entry, so the records were lost unaccounted and a resume did not read
them again. The storage here is a real fsspec filesystem (an in-memory one, tests/failing_storage.py)
whose files fail every read that touches a given byte range, as a bad sector or a failing ranged GET
does.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup import line_blocks, sources
from dedup.errors import RecordError, SourceError
from dedup.sources import JsonlSource, ParquetSource
from dedup.warc_source import WarcSource
from tests.dedup.inline_job import run_inline
from tests.failing_storage import FlakyFileSystem, path_of, put


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit whose read failed is tried again at once here (dedup.units waits a second between tries)."""
    from dedup import units

    monkeypatch.setattr(units, "READ_RETRY_PAUSE", 0.0)


def _lines(n: int) -> bytes:
    return b"".join(json.dumps({"id": str(i), "text": f"document number {i} " * 5}).encode() + b"\n" for i in range(n))


def _read(source: Any) -> tuple[list[str], list[RecordError]]:
    bad: list[RecordError] = []
    (split,) = source.splits()
    ids = [i for batch in source.read(split, on_bad_record=bad.append) for i in batch.column("id").to_pylist()]
    return ids, bad


def _read_fails(source: Any) -> str:
    """Reading the source's one split fails as the storage's failure, with nothing reported as a bad
    record (quarantined as bad data); the error's message."""
    bad: list[RecordError] = []
    with pytest.raises(SourceError) as caught:
        for _ in source.read(source.splits()[0], on_bad_record=bad.append):
            pass
    assert not isinstance(caught.value, RecordError) and bad == []
    return str(caught.value)


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz"])
def test_an_io_error_mid_jsonl_fails_the_split_and_a_resume_reads_everything(
        name: str, flaky: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_blocks, "READ_SIZE", 256)
    monkeypatch.setattr(sources, "_BLOCK_BYTES", 1024)
    data = _lines(400)
    stored = gzip.compress(data) if name.endswith(".gz") else data
    url = put(name, stored)
    size = len(stored)
    flaky.bad = (size // 2, size // 2 + 1)
    source = JsonlSource([url])
    message = _read_fails(source)
    assert source.splits()[0].url in message and "I/O error" in message and "same --run-id" in message
    flaky.bad = None  # the storage is back: the rerun reads the whole file
    ids, bad = _read(source)
    assert ids == [str(i) for i in range(400)] and bad == []


def test_a_cut_gzip_jsonl_is_still_quarantined_not_failed(flaky: Any) -> None:
    packed = gzip.compress(_lines(400))
    url = put("cut.jsonl.gz", packed[: len(packed) // 2])
    ids, bad = _read(JsonlSource([url]))
    assert 0 < len(ids) < 400 and len(bad) == 1 and "truncated" in bad[0].reason


def test_a_corrupt_gzip_jsonl_is_still_quarantined_not_failed(flaky: Any) -> None:
    packed = bytearray(gzip.compress(_lines(2000), mtime=0))
    packed[len(packed) // 2] ^= 0xFF
    url = put("corrupt.jsonl.gz", bytes(packed))
    ids, bad = _read(JsonlSource([url]))
    assert len(ids) < 2000 and len(bad) == 1 and "cut or corrupt" in bad[0].reason


def test_an_io_error_in_a_parquet_row_group_fails_the_split(flaky: Any) -> None:
    table = pa.table({"id": [str(i) for i in range(300)], "text": [f"text {i} " * 300 for i in range(300)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=100, compression="none")
    url = put("docs.parquet", out.getvalue())
    second = pq.ParquetFile(io.BytesIO(out.getvalue())).metadata.row_group(1).column(1).data_page_offset
    flaky.bad = (second + 10, second + 11)
    source = ParquetSource([url])
    message = _read_fails(source)
    assert source.splits()[0].url in message and "row group 1" in message and "same --run-id" in message
    flaky.bad = None
    ids, bad = _read(source)
    assert ids == [str(i) for i in range(300)] and bad == []


def _warc_job(urls: list[str], output: Path, run_id: str) -> dict[str, Any]:
    return run_inline(WarcSource(urls), str(output), run_id, urls)  # in this process: the flaky fs is in its memory


def _outputs(output: Path) -> dict[str, Any]:
    """What a run leaves for its users: kept documents, removal reports, quarantine, document counts."""
    tables = {name: pq.read_table(output / name).to_pylist()
              for name in ("data/part-000000.parquet", "removed/part-000000.parquet", "quarantine.parquet")}
    return {**tables, "documents": json.loads((output / "summary.json").read_text())["documents"]}


@pytest.mark.parametrize("ranged", [True, False], ids=["every-read-fails", "stream-fails"])
def test_an_io_error_mid_warc_fails_the_split_and_a_resume_ends_as_a_clean_run(
        ranged: bool, flaky: Any, tmp_path: Path, shared_data_dir: Path) -> None:
    """Before, a failed read of the stream the parsers read was quarantined as "unreadable by every
    parser" and the records after it were in no output, no removal report and no quarantine (a resume
    did not read them again); a failed ranged read (the reader's resynchronisation) failed the job with
    a bare OSError naming no file."""
    data = (shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes()
    urls = [put("in/a.warc.gz", data), put("in/b.warc.gz", data)]  # b: exact duplicates of a's pages
    clean = _warc_job(urls, tmp_path / "clean", "r1")
    assert clean["documents"]["input"] == 48 and clean["documents"]["removed"] == 24
    flaky.bad, flaky.bad_path, flaky.ranged = (len(data) // 2, len(data) // 2 + 1), path_of(urls[1]), ranged
    with pytest.raises(SourceError) as caught:
        _warc_job(urls, tmp_path / "out", "r2")
    message = str(caught.value)
    assert WarcSource(urls).splits()[1].url in message and "I/O error" in message and "same --run-id" in message
    assert not isinstance(caught.value, RecordError)
    spilled = (tmp_path / "out" / "_work" / "r2" / "quarantine").glob("*.parquet")
    assert sum(pq.read_table(path).num_rows for path in spilled) == 0  # nothing quarantined for the failed read
    flaky.bad = None  # the storage is back: the resume reads b again
    _warc_job(urls, tmp_path / "out", "r2")
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "clean")


def test_a_corrupt_warc_is_still_quarantined_not_failed(flaky: Any, shared_data_dir: Path) -> None:
    data = bytearray((shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # bytes gone bad on a disk that reads them fine
    ids, bad = _read(WarcSource([put("corrupt.warc.gz", bytes(data))]))
    assert 0 < len(ids) < 24 and bad and all("I/O error" not in error.reason for error in bad)


def test_an_io_error_reading_a_catalog_volume_fails_the_split_naming_it(flaky: Any, tmp_path: Path) -> None:
    """Before, the volume's OSError escaped bare: the stage failed with "[Errno 5] Input/output error",
    naming neither the volume nor the record (VolumeReader only noted them on the exception)."""
    from catalog.volume import VolumeWriter
    from catalog.warc_records import resource_record
    from dedup.catalog_source import CatalogSource

    writer = VolumeWriter(f"{FlakyFileSystem.protocol}://volumes", name_prefix="v")
    keys = [f"https://c.example/page-{i}" for i in range(40)]
    for key in keys:
        writer.append(key, resource_record(key, f"<p>page {key} has a paragraph of words</p>".encode(),
                                           content_type="text/html"))
    (volume,) = writer.close()
    piece, volumes = tmp_path / "piece.parquet", tmp_path / "volumes.json"
    pq.write_table(pa.table({"key": [r[0] for r in volume.records], "volume": [1] * len(keys),
                             "offset": [r[1] for r in volume.records], "length": [r[2] for r in volume.records],
                             "digest": pa.array([r[3] for r in volume.records], pa.uint64())}), piece)
    volumes.write_text(json.dumps({"1": volume.url}))
    source = CatalogSource([[str(piece)]], volumes_url=str(volumes))
    middle = volume.records[20]
    flaky.bad = (middle[1], middle[1] + 1)
    bad: list[RecordError] = []
    with pytest.raises(SourceError) as caught:
        for _ in source.read(source.splits()[0], on_bad_record=bad.append):
            pass
    message = str(caught.value)
    assert volume.url in message and keys[20] in message and "same --run-id" in message and bad == []
    flaky.bad = None
    ids, bad = _read(source)
    assert ids == keys and bad == []


def test_a_storage_hiccup_is_tried_again_and_the_run_ends_as_a_clean_run(
        flaky: Any, tmp_path: Path, shared_data_dir: Path) -> None:
    """A read that fails once and then works (a 503, a dropped connection) failed the whole run, to be
    resumed by hand; the unit is now tried again, and a lasting failure says how often it was tried."""
    data = (shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes()
    urls = [put("in/a.warc.gz", data), put("in/b.warc.gz", data)]
    _warc_job(urls, tmp_path / "clean", "r1")
    flaky.bad, flaky.bad_path, flaky.heal_after = (len(data) // 2, len(data) // 2 + 1), path_of(urls[1]), 1
    _warc_job(urls, tmp_path / "out", "r2")
    assert flaky.bad is None  # it failed once, then healed
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "clean")
    flaky.bad, flaky.heal_after = (len(data) // 2, len(data) // 2 + 1), None
    with pytest.raises(SourceError, match=r"I/O error .* it was tried 3 times"):
        _warc_job(urls, tmp_path / "lasting", "r3")
