"""The crawler against a misbehaving server: each case ends bounded in time and memory, with its outcome."""
from __future__ import annotations

import dataclasses
import time
import tracemalloc
from typing import Any

import pytest

from ingest.crawl import CrawlConfig, FetchResult, Outcome, crawl_collect
from tests.ingest.http_fixtures import BOMB_SIZE, MisbehavingServer

HOSTS = ("site.test", "polite.test", "nobots.test", "brokenbots.test", "flaky.test", "other.test")


def config(**overrides: Any) -> CrawlConfig:
    base = CrawlConfig(allow_private=True, politeness=False, connect_timeout=1.0, read_timeout=0.5,
                       total_timeout=2.0, max_retries=2, backoff_base=0.05, concurrency=8,
                       static_hosts={h: "127.0.0.1" for h in HOSTS}, result_flush_seconds=0.1)
    return dataclasses.replace(base, **overrides)


def fetch_one(server: MisbehavingServer, path: str, host: str = "site.test", **overrides: Any) -> FetchResult:
    results, summary = crawl_collect([f"http://{host}:{server.port}{path}"], config(**overrides))
    assert len(results) == 1, results
    assert summary.results == 1
    return results[0]


def test_ok_page_records_response_as_received(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/page/1")
    assert r.outcome is Outcome.OK and r.status == 200 and r.attempts == 1
    assert r.response is not None and r.response.status_line == "HTTP/1.1 200 OK"
    assert b"page 1" in r.body and r.truncated is None
    assert r.peer_ip == "127.0.0.1"
    assert r.canonical_url == f"http://site.test:{http_server.port}/page/1"
    assert ("Content-Type", "text/html; charset=utf-8") in r.response.headers


def test_hanging_server_times_out_bounded(http_server: MisbehavingServer) -> None:
    t0 = time.monotonic()
    r = fetch_one(http_server, "/hang", max_retries=1, total_timeout=1.0)
    elapsed = time.monotonic() - t0
    assert r.outcome is Outcome.TIMEOUT and r.attempts == 2
    assert elapsed < 5.0


def test_dripping_body_is_truncated_for_time(http_server: MisbehavingServer) -> None:
    t0 = time.monotonic()
    r = fetch_one(http_server, "/drip", max_retries=0, read_timeout=5.0, total_timeout=1.0)
    assert r.outcome is Outcome.TIMEOUT and r.truncated == "time"
    assert 0 < len(r.body) < 20
    assert time.monotonic() - t0 < 4.0


def test_endless_body_is_capped_and_marked_length(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/endless", max_body_bytes=300_000)
    assert r.outcome is Outcome.TOO_LARGE and r.truncated == "length"
    assert len(r.body) == 300_000 and r.attempts == 1
    assert r.response is not None and ("X-Crawler-Transfer-Encoding", "chunked") in r.response.headers


def test_redirect_loop_ends_as_redirect(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/loop/a")
    assert r.outcome is Outcome.REDIRECT and "loop" in (r.error or "")
    assert [h.status for h in r.redirects] == [302] and r.status == 302


def test_redirect_cap_and_each_hop_recorded(http_server: MisbehavingServer) -> None:
    ok = fetch_one(http_server, "/hops/3", max_redirects=3)
    assert ok.outcome is Outcome.OK and len(ok.redirects) == 3
    assert [h.url.rsplit("/", 1)[-1] for h in ok.redirects] == ["3", "2", "1"]
    assert ok.final_url.endswith("/hops/0")
    capped = fetch_one(http_server, "/hops/9", max_redirects=3)
    assert capped.outcome is Outcome.REDIRECT and "more than 3 redirects" in (capped.error or "")
    assert len(capped.redirects) == 3 and capped.status == 301


def test_500s_then_success_is_retried(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/flaky/a?fail=2", host="flaky.test", max_retries=3)
    assert r.outcome is Outcome.OK and r.attempts == 3 and r.status == 200
    assert http_server.hits["flaky.test/flaky/a"] == 3


def test_retries_exhausted_gives_http_error(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/flaky/b?fail=10", host="flaky.test", max_retries=2)
    assert r.outcome is Outcome.HTTP_ERROR and r.status == 500 and r.attempts == 3


def test_429_retry_after_is_honoured(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/limited/x", max_retries=2, backoff_base=0.01)
    assert r.outcome is Outcome.OK and r.attempts == 2
    times = http_server.hit_times["site.test/limited/x"]
    assert times[1] - times[0] >= 0.95  # Retry-After: 1, not the 0.01 s backoff


def test_robots_disallow_and_crawl_delay(http_server: MisbehavingServer) -> None:
    port = http_server.port
    urls = [f"http://polite.test:{port}/private/x", f"http://polite.test:{port}/page/a",
            f"http://polite.test:{port}/page/b", f"http://polite.test:{port}/page/c"]
    # Two slots per host: Crawl-delay must still serialize the requests.
    results, summary = crawl_collect(urls, config(politeness=True, delay=0.0, per_host_concurrency=2))
    by_url = {r.url: r for r in results}
    assert by_url[urls[0]].outcome is Outcome.ROBOTS_DISALLOWED
    assert http_server.hits["polite.test/private/x"] == 0
    assert all(by_url[u].outcome is Outcome.OK for u in urls[1:])
    times = sorted(t for p in ("a", "b", "c") for t in http_server.hit_times[f"polite.test/page/{p}"])
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.95, gaps  # Crawl-delay: 1
    assert summary.robots_fetched == 1


def test_robots_404_allows_and_503_disallows(http_server: MisbehavingServer) -> None:
    assert fetch_one(http_server, "/page/1", host="nobots.test").outcome is Outcome.OK
    r = fetch_one(http_server, "/page/1", host="brokenbots.test")
    assert r.outcome is Outcome.ROBOTS_DISALLOWED and "503" in (r.error or "")


@pytest.mark.parametrize("kind", ["gzip", "br"])
def test_compression_bomb_is_capped(http_server: MisbehavingServer, kind: str) -> None:
    tracemalloc.start()
    try:
        r = fetch_one(http_server, f"/bomb/{kind}", max_decoded_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.outcome is Outcome.TOO_LARGE and r.truncated == "length"
    assert len(r.body) == 1 << 20 and set(r.body) == {0}
    assert peak < BOMB_SIZE // 8, peak  # never held the 64 MiB decoded body, only the 1 MiB cap


def test_gzip_body_decoded_and_headers_renamed(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/gzip")
    assert r.outcome is Outcome.OK and r.body.startswith(b"<html>")
    names = [n for n, _ in r.response.headers] if r.response else []
    assert "X-Crawler-Content-Encoding" in names and "X-Crawler-Content-Length" in names
    assert "Content-Encoding" not in names and "Content-Length" not in names


def test_wrong_content_type_rejected_without_body(http_server: MisbehavingServer) -> None:
    r = fetch_one(http_server, "/image")
    assert r.outcome is Outcome.CONTENT_TYPE_REJECTED and r.body == b"" and r.status == 200
    assert "image/png" in (r.error or "")


def test_private_address_refused(http_server: MisbehavingServer) -> None:
    by_literal = fetch_one(http_server, "/page/1", host="127.0.0.1", allow_private=False)
    assert by_literal.outcome is Outcome.PRIVATE_ADDRESS
    by_name = fetch_one(http_server, "/page/1", allow_private=False)
    assert by_name.outcome is Outcome.PRIVATE_ADDRESS and "127.0.0.1" in (by_name.error or "")
    assert http_server.hits["127.0.0.1/page/1"] == 0


def test_host_dropped_after_consecutive_failures(http_server: MisbehavingServer) -> None:
    port = http_server.port
    urls = [f"http://other.test:{port}/always500?i={i}" for i in range(6)]
    results, summary = crawl_collect(urls, config(host_max_consecutive_failures=3, max_retries=5,
                                                  politeness=True, per_host_concurrency=1, delay=0.0))
    outcomes = sorted(r.outcome.value for r in results)
    assert len(results) == 6 and summary.hosts_dropped == 1
    assert outcomes.count("host_dropped") == 5 and outcomes.count("http_error") == 1
    assert http_server.hits["other.test/always500"] == 3


def test_invalid_and_unsupported_seeds_are_reported(http_server: MisbehavingServer) -> None:
    results, summary = crawl_collect(["ftp://x.test/a", "http:///nohost", "not a url"], config())
    assert [r.outcome for r in results] == [Outcome.ERROR] * 3 and summary.skipped_invalid == 3
