"""WARC splits registered from their workers keep plan order (ingest/warc_worker.py: each task registers
after the task of the split before it): a later split that finishes indexing first still decides last,
so on equal WARC-Dates the later split's capture wins — whatever order Ray finished them in."""
from __future__ import annotations

from pathlib import Path

from bench.warc_ingest_bench import generate
from catalog.catalog_meta import load_meta
from catalog.store import Store
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.ingest.test_warc_job import _latest_captures
from tests.integrity.reference import http_response, write_warc

DATE = "2024-05-01T12:00:00Z"
SHARED = "https://tie.example/page"
BIG_RECORDS = 100_000


def test_a_later_split_that_finishes_first_still_wins_an_equal_date(tmp_path: Path, ray_session: None) -> None:
    from catalog.owner_actor import stop_owners

    headers = [("Content-Type", "text/html")]
    big, small, shared_first = tmp_path / "a-big.warc.gz", tmp_path / "b-small.warc.gz", tmp_path / "first.warc.gz"
    # split 0 (first in plan order) takes ~1 s to index, split 1 a few ms; both hold SHARED at DATE
    (many,) = generate(tmp_path / "gen", 1, BIG_RECORDS)
    write_warc(shared_first, [http_response(SHARED, b"<p>first capture</p>", headers, DATE)])
    big.write_bytes(many.read_bytes() + shared_first.read_bytes())  # gzip members concatenate
    write_warc(small, [http_response(SHARED, b"<p>second capture, same date</p>", headers, DATE)])
    root = str(tmp_path / "root")
    store = Store(root, cluster=True, num_shards=2)
    try:
        summary = run_warc_job(store, [str(big), str(small)], WarcJobConfig(run_id="tie", split_files=1),
                               show_progress=False)
        assert summary.splits == 2 and summary.splits_on_driver == 0  # Ray was up: both registered by workers
        assert summary.added == BIG_RECORDS + 1 and summary.captures_replaced == 1
        expected = _latest_captures([big, small], tmp_path)  # ties: the later in input order
        held = {k: loc.digest for k, loc in store.catalog.items()}
        assert held == expected
        assert b"second capture" in store.cat(SHARED)
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
