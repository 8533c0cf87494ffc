"""Asyncio HTTP(S) crawler core (no Ray): per-host politeness, robots.txt, retries, caps, batched results.

Public API::

    CrawlConfig                         frozen settings
    Crawler(config, already_known=None) .run(seeds) -> async iterator of list[FetchResult]; .summary
    crawl(seeds, config, on_batch, already_known=None) -> CrawlSummary        (sync driver)
    crawl_collect(seeds, config, already_known=None) -> (list[FetchResult], CrawlSummary)
    CrawlSession(config, already_known=None)  .crawl(seeds, on_batch) / .crawl_collect(seeds) / .close()
                                        one loop, connection pool and robots cache for many batches
    FetchResult, HttpExchange, Outcome, CrawlSummary
    extract_links(html, page_url) -> list[str];  is_public_ip(address) -> bool
"""
from __future__ import annotations

from ingest.crawl.addresses import is_public_ip
from ingest.crawl.config import DEFAULT_CONTENT_TYPES, CrawlConfig
from ingest.crawl.crawler import AlreadyKnown, Crawler, crawl, crawl_collect
from ingest.crawl.links import extract_links
from ingest.crawl.result import CrawlSummary, FetchResult, HttpExchange, Outcome
from ingest.crawl.session import CrawlSession

__all__ = ["AlreadyKnown", "CrawlConfig", "CrawlSession", "CrawlSummary", "Crawler", "DEFAULT_CONTENT_TYPES", "FetchResult",
           "HttpExchange", "Outcome", "crawl", "crawl_collect", "extract_links", "is_public_ip"]
