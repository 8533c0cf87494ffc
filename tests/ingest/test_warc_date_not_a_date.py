"""A record whose WARC-Date is not a date: its CDXJ line gets a real 14-digit timestamp, it is ordered as
before, and the job warns about it.

The line's timestamp was the date's characters as written (``garbage0000000``), which CDX tools
(pywb, cdxj-indexer consumers) cannot read, and the job said nothing. Now the timestamp is the one the
catalog orders the record by (its digits; the oldest, all zeros, when it has none), the date as
written stays in the line's ``warc_date``, which ``catalog rebuild`` orders by, and the job lists the
record under its warnings.
"""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest

from catalog.cdxj import external_cdxj_line
from catalog.rebuild import rebuild
from catalog.store import Store
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.ingest.test_warc_job import expected_documents

WELD = "https://www.cs.washington.edu/people/faculty/weld"
WELD_AT, NEXT_AT = 15904, 24476  # the weld response's member in the wget sample, and the member after it


def _line_fields(date: str) -> tuple[str, dict]:
    line = external_cdxj_line("http://example.com/", record_type="response", content_type="text/html", date=date,
                              offset=0, length=10, digest=1, filename="f.warc")
    _, timestamp, text = line.split(" ", 2)
    return timestamp, json.loads(text)


def test_cdxj_timestamp_is_14_digits_and_the_date_is_kept() -> None:
    assert _line_fields("2024-04-25T16:24:44Z") == ("20240425162444", _line_fields("2024-04-25T16:24:44Z")[1])
    assert "warc_date" not in _line_fields("2024-04-25T16:24:44Z")[1]
    assert "warc_date" not in _line_fields("")[1] and _line_fields("")[0] == "00000000000000"
    for date, timestamp in (("garbage", "00000000000000"), ("Thu, 25 Apr 2024 16:24:44 GMT", "25202416244400")):
        got, fields = _line_fields(date)
        assert (got, fields["warc_date"]) == (timestamp, date)


@pytest.mark.parametrize("repack", [False, True])
def test_job_warns_orders_as_before_and_rebuild_agrees(shared_data_dir: Path, tmp_path: Path, repack: bool) -> None:
    """The weld page again at the end of the file, its body changed and its date ``garbage``: the first
    capture (a real date) stays the one kept, in the job and in a rebuild from the sidecars."""
    source = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    data = source.read_bytes()
    weld = zlib.decompressobj(31).decompress(data[WELD_AT:NEXT_AT])
    copy = weld.replace(b"WARC-Date: 2024-04-25T16:24:44Z", b"WARC-Date: garbage", 1).replace(b"Weld", b"WELD")
    path = tmp_path / "odd-date.warc.gz"
    path.write_bytes(data + gzip.compress(copy))
    root = tmp_path / "root"
    with Store(str(root)) as store:
        summary = run_warc_job(store, [str(path)], WarcJobConfig(repack=repack), show_progress=False, local=True)
        assert (summary.records, summary.quarantined, summary.captures_replaced) == (49, 0, 1)
        assert summary.warned == 1 and summary.warnings[0]["offset"] == len(data), summary.warnings
        assert "'garbage' is not a date" in summary.warnings[0]["reason"]
        assert store.cat(WELD) == expected_documents(source, set())[WELD]
        kept = store.get(WELD)
        sidecars = list((root / ("volumes" if repack else "indexes")).rglob("*.cdxj"))
        lines = [ln for p in sidecars for ln in p.read_text().splitlines()]
        assert lines and all(ln.split(" ", 2)[1].isdigit() and len(ln.split(" ", 2)[1]) == 14 for ln in lines)
        odd = [json.loads(ln.split(" ", 2)[2]) for ln in lines if "warc_date" in ln]
        assert [f["warc_date"] for f in odd] == ["garbage"]
        with Store(str(root), catalog_dir=str(tmp_path / "rebuilt")) as target:
            rebuild(store.volumes_url, target, progress=lambda _: None)
            again = target.get(WELD)
            assert again is not None and (again.offset, again.digest) == (kept.offset, kept.digest)
