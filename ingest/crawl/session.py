"""A long-lived crawl session for a worker (e.g. one Ray actor): one event loop, one aiohttp session
(connection pool, DNS cache) and one robots.txt cache, reused by every batch of URLs it is given.

Not thread-safe: call it from one thread at a time (a Ray actor with ``max_concurrency=1``).
"""
from __future__ import annotations

import asyncio
from typing import Callable, Iterable

from ingest.crawl.config import CrawlConfig
from ingest.crawl.crawler import AlreadyKnown, Crawler
from ingest.crawl.fetcher import Fetcher
from ingest.crawl.result import CrawlSummary, FetchResult
from ingest.crawl.robots import RobotsCache


class CrawlSession:
    """``with CrawlSession(config) as s: s.crawl(urls, on_batch)`` — many batches, one loop and cache."""

    def __init__(self, config: CrawlConfig, already_known: AlreadyKnown | None = None) -> None:
        self.config = config
        self._already_known = already_known
        self._loop = asyncio.new_event_loop()
        self._fetcher = Fetcher(config)
        self._loop.run_until_complete(self._fetcher.__aenter__())
        self._robots = RobotsCache(self._fetcher, config.robots_agent, config.robots_max_bytes)

    def crawl(self, seeds: Iterable[str], on_batch: Callable[[list[FetchResult]], None]) -> CrawlSummary:
        """Crawl ``seeds`` (same contract as :meth:`Crawler.run`), calling ``on_batch`` with each list of
        results; robots.txt answers and open connections carry over to the next call."""

        async def run() -> CrawlSummary:
            crawler = Crawler(self.config, self._already_known, fetcher=self._fetcher, robots=self._robots)
            async for batch in crawler.run(seeds):
                on_batch(batch)
            return crawler.summary

        return self._loop.run_until_complete(run())

    def crawl_collect(self, seeds: Iterable[str]) -> tuple[list[FetchResult], CrawlSummary]:
        """:meth:`crawl` returning every result in one list (for a batch of URLs)."""
        results: list[FetchResult] = []
        summary = self.crawl(seeds, results.extend)
        return results, summary

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._fetcher.__aexit__(None, None, None))
            self._loop.close()

    def __enter__(self) -> "CrawlSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
