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

from catalog.exports import lazy_exports

_EXPORTS = {
    "is_public_ip": "ingest.crawl.addresses", "DEFAULT_CONTENT_TYPES": "ingest.crawl.config",
    "CrawlConfig": "ingest.crawl.config", "AlreadyKnown": "ingest.crawl.crawler", "Crawler": "ingest.crawl.crawler",
    "crawl": "ingest.crawl.crawler", "crawl_collect": "ingest.crawl.crawler", "extract_links": "ingest.crawl.links",
    "CrawlSummary": "ingest.crawl.result", "FetchResult": "ingest.crawl.result", "HttpExchange": "ingest.crawl.result",
    "Outcome": "ingest.crawl.result", "CrawlSession": "ingest.crawl.session",
}
__all__ = sorted(_EXPORTS)
# names load on first use, so ingest.crawl.config (the settings) imports without aiohttp
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
