"""Crawler features beyond misbehaving servers: link following, the already-known hook, batching,
the peer-address check, and the small pure helpers."""
from __future__ import annotations

import asyncio
import gzip
import time
import zlib

import aiohttp
import pytest

from ingest.crawl import CrawlConfig, Crawler, CrawlSession, Outcome, crawl_collect, is_public_ip
from ingest.crawl.addresses import GuardedConnector, GuardedResolver, PrivateAddressError
from ingest.crawl.decode import CappedDecoder, ContentDecodingError, normalize_encoding
from ingest.crawl.fetcher import parse_retry_after
from ingest.errors import CrawlConfigError
from tests.ingest.http_fixtures import MisbehavingServer
from tests.ingest.test_crawl_misbehaving import config


def test_follow_links_within_domains_to_depth(http_server: MisbehavingServer) -> None:
    port = http_server.port
    cfg = config(follow_links=True, max_depth=1, allowed_domains=("site.test",))
    results, summary = crawl_collect([f"http://site.test:{port}/links"], cfg)
    got = sorted((r.final_url.rsplit(":", 1)[-1], r.depth, r.outcome.value) for r in results)
    assert got == [(f"{port}/links", 0, "ok"), (f"{port}/page/1", 1, "ok"), (f"{port}/page/2", 1, "ok")]
    # /page/1, page/2, /links itself and one off the allowed domain (mailto: is no link to crawl)
    assert (summary.links_found, summary.links_off_domain) == (4, 1)


def test_nofollow_links_and_pages_are_not_followed(http_server: MisbehavingServer) -> None:
    """rel=nofollow (a token among others), a robots meta tag and an X-Robots-Tag for haybale keep
    links from being fetched; an X-Robots-Tag for another crawler does not; the summary counts them."""
    port = http_server.port
    seeds = [f"http://site.test:{port}/nofollow/{kind}" for kind in ("rel", "meta", "header", "otherbot")]
    cfg = config(follow_links=True, max_depth=1, allowed_domains=("site.test",))
    results, summary = crawl_collect(seeds, cfg)
    fetched = sorted(r.final_url.rsplit("/", 2)[-2] + "/" + r.final_url.rsplit("/", 1)[-1] for r in results)
    assert fetched == ["nofollow/header", "nofollow/meta", "nofollow/otherbot", "nofollow/rel", "page/3", "page/8"]
    assert all(http_server.hits[f"site.test/page/{n}"] == 0 for n in (4, 5, 6, 7))
    # distinct links: rel page 3 (/page/3 is also linked plainly, so followed), one on each other page
    assert (summary.links_found, summary.links_nofollow, summary.links_off_domain) == (6, 4, 0)


def test_nofollow_can_be_switched_off(http_server: MisbehavingServer) -> None:
    cfg = config(follow_links=True, max_depth=1, allowed_domains=("site.test",), obey_nofollow=False)
    results, summary = crawl_collect([f"http://site.test:{http_server.port}/nofollow/meta"], cfg)
    assert len(results) == 2 and (summary.links_found, summary.links_nofollow) == (1, 0)


def test_depth_zero_follows_nothing(http_server: MisbehavingServer) -> None:
    cfg = config(follow_links=True, max_depth=0, allowed_domains=("site.test",))
    results, _ = crawl_collect([f"http://site.test:{http_server.port}/links"], cfg)
    assert len(results) == 1


def test_already_known_urls_are_not_fetched_and_hook_is_batched(http_server: MisbehavingServer) -> None:
    port = http_server.port
    urls = [f"http://SITE.test:{port}/page/known{i}" for i in range(5)] + \
           [f"http://site.test:{port}/page/new{i}" for i in range(5)]
    calls: list[list[str]] = []

    def already_known(batch: list[str]) -> list[bool]:
        calls.append(batch)
        return ["known" in u for u in batch]

    results, summary = crawl_collect(urls, config(known_batch_size=4), already_known)
    assert sorted(r.url.rsplit("/", 1)[-1] for r in results) == [f"new{i}" for i in range(5)]
    assert summary.skipped_known == 5
    assert all(len(c) <= 4 for c in calls) and sum(len(c) for c in calls) == 10
    assert all(u.startswith("http://site.test:") for c in calls for u in c)  # canonical URLs
    assert http_server.hits["site.test/page/known0"] == 0


def test_duplicate_seeds_fetched_once(http_server: MisbehavingServer) -> None:
    port = http_server.port
    urls = [f"http://site.test:{port}/page/dup", f"HTTP://Site.Test:{port}/page/./dup#x"]
    results, _ = crawl_collect(urls, config())
    assert len(results) == 1 and http_server.hits["site.test/page/dup"] == 1


def test_results_come_in_batches(http_server: MisbehavingServer) -> None:
    urls = [f"http://site.test:{http_server.port}/page/b{i}" for i in range(5)]

    async def run() -> list[int]:
        sizes = []
        async for batch in Crawler(config(result_batch_size=2, result_flush_seconds=30)).run(urls):
            sizes.append(len(batch))
        return sizes

    assert asyncio.run(run()) == [2, 2, 1]


def test_connector_refuses_private_peer_even_when_name_passed(http_server: MisbehavingServer) -> None:
    """The resolver is told to allow anything; the connector still checks the connected socket's peer."""

    async def run() -> BaseException:
        connector = GuardedConnector(resolver=GuardedResolver(True, {"sneaky.test": "127.0.0.1"}),
                                     allow_private=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                await session.get(f"http://sneaky.test:{http_server.port}/page/sneaky")
            except aiohttp.ClientConnectorError as exc:
                return exc
        raise AssertionError("connection to a private peer was not refused")

    exc = asyncio.run(run())
    assert isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, PrivateAddressError)
    assert http_server.hits["sneaky.test/page/sneaky"] == 0


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.1.2.3", False),
    ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("224.0.0.1", False),
    ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("240.0.0.1", False), ("not-an-ip", False)])
def test_is_public_ip(address: str, public: bool) -> None:
    assert is_public_ip(address) is public


def test_parse_retry_after() -> None:
    assert parse_retry_after("7", 0.0) == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert parse_retry_after("soon", 0.0) is None and parse_retry_after(None, 0.0) is None


def test_decoders_roundtrip_and_cap() -> None:
    text = b"hello world " * 1000
    for enc, data in [("gzip", gzip.compress(text) + gzip.compress(text)), ("deflate", zlib.compress(text)),
                      ("deflate", zlib.compress(text)[2:-4])]:
        dec = CappedDecoder(enc, 1 << 20)
        for i in range(0, len(data), 100):
            dec.feed(data[i:i + 100])
        assert dec.result() == (text * 2 if enc == "gzip" else text) and not dec.capped
    capped = CappedDecoder("gzip", 500)
    capped.feed(gzip.compress(text))
    assert capped.capped and capped.result() == text[:500]
    with pytest.raises(ContentDecodingError):
        CappedDecoder("gzip", 100).feed(b"not gzip at all")
    assert normalize_encoding("gzip") == "gzip" and normalize_encoding("identity") is None
    assert normalize_encoding("gzip, br") == "" and normalize_encoding("zstd") == ""


def test_config_rejects_bad_values() -> None:
    with pytest.raises(CrawlConfigError, match="concurrency"):
        CrawlConfig(concurrency=0)
    with pytest.raises(CrawlConfigError, match="allowed_domains"):
        CrawlConfig(follow_links=True, max_depth=1)


def test_content_encoding_kept_raw_when_unknown() -> None:
    dec = CappedDecoder(None, 10)
    dec.feed(b"0123456789abc")
    assert dec.capped and dec.result() == b"0123456789"
    assert Outcome.OK.value == "ok"


def test_session_reuses_robots_cache_across_batches(http_server: MisbehavingServer) -> None:
    port = http_server.port
    before = http_server.hits["nobots.test/robots.txt"]
    with CrawlSession(config()) as session:
        first, s1 = session.crawl_collect([f"http://nobots.test:{port}/page/s1"])
        second, s2 = session.crawl_collect([f"http://nobots.test:{port}/page/s2", f"http://nobots.test:{port}/page/s3"])
    assert [r.outcome for r in first + second] == [Outcome.OK] * 3
    assert (s1.robots_fetched, s2.robots_fetched) == (1, 0) and (s1.requests, s2.requests) == (2, 2)
    assert http_server.hits["nobots.test/robots.txt"] == before + 1


def test_public_api_exports() -> None:
    import ingest.crawl as api

    assert sorted(api.__all__) == sorted([
        "AlreadyKnown", "CrawlConfig", "CrawlSession", "CrawlSummary", "Crawler", "DEFAULT_CONTENT_TYPES",
        "FetchResult", "HttpExchange", "Outcome", "crawl", "crawl_collect", "extract_links", "is_public_ip"])
    from ingest.crawl.crawler import Crawler as CrawlerImpl

    assert all(hasattr(api, name) for name in api.__all__) and api.Crawler is CrawlerImpl


def test_failing_already_known_hook_stops_the_crawl_with_its_error(http_server: MisbehavingServer) -> None:
    calls = 0

    def flaky_hook(batch: list[str]) -> list[bool]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("catalog unreachable")
        return [False] * len(batch)

    cfg = config(follow_links=True, max_depth=1, allowed_domains=("site.test",))
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="catalog unreachable"):
        crawl_collect([f"http://site.test:{http_server.port}/links"], cfg, flaky_hook)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("headers, html, expected", [
    ([], b'<a href="/a" rel="nofollow">a</a><a href="/b">b</a>', (["http://h.test/b"], 1)),
    ([], b'<meta name="haybale" content="none"><a href="/a">a</a>', ([], 1)),
    ([], b'<meta name="googlebot" content="nofollow"><a href="/a">a</a>', (["http://h.test/a"], 0)),
    ([("X-Robots-Tag", "noindex, nofollow")], b'<a href="/a">a</a>', ([], 1)),
    ([("x-robots-tag", "unavailable_after: 25 Jun 2010 15:00:00 PST")], b'<a href="/a">a</a>',
     (["http://h.test/a"], 0)),
    ([("X-Robots-Tag", "otherbot: nofollow"), ("X-Robots-Tag", "HayBale: noindex,nofollow")],
     b'<a href="/a">a</a>', ([], 1)),
])
def test_page_links_reads_every_nofollow_form(headers: list[tuple[str, str]], html: bytes,
                                              expected: tuple[list[str], int]) -> None:
    from ingest.crawl.links import page_links
    page = page_links(html, "http://h.test/p", headers, agent="haybale")
    assert (page.follow, page.nofollow) == expected
