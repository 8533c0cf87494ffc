"""Crawl settings: one frozen dataclass, printable into run metadata and picklable for Ray actors."""
from __future__ import annotations

from dataclasses import dataclass, field

from ingest.errors import CrawlConfigError

DEFAULT_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


@dataclass(frozen=True)
class CrawlConfig:
    """How a crawl behaves. Defaults follow Common Crawl / Nutch / Scrapy practice.

    Politeness (``politeness=True``): at most ``per_host_concurrency`` requests in flight per host and
    ``delay`` seconds between the end of one request and the start of the next on that host (raised to
    the host's robots.txt ``Crawl-delay``, capped at ``max_crawl_delay``). ``politeness=False`` (for
    benchmarks against your own servers) removes both limits; robots.txt is still obeyed if
    ``obey_robots``.
    """

    user_agent: str = "haybale/0.1 (+https://github.com/haybale)"
    robots_agent: str = "haybale"
    concurrency: int = 128
    politeness: bool = True
    per_host_concurrency: int = 2
    delay: float = 1.0
    max_crawl_delay: float = 30.0
    obey_robots: bool = True
    obey_nofollow: bool = True
    """When following links: skip links marked ``rel="nofollow"``, and every link of a page whose robots
    meta tag or ``X-Robots-Tag`` header (for all crawlers or ``robots_agent``) says ``nofollow``/``none``."""
    robots_max_bytes: int = 512 * 1024
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 60.0
    host_max_consecutive_failures: int = 5
    max_redirects: int = 5
    max_body_bytes: int = 1 << 20
    max_decoded_bytes: int = 8 << 20
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    accept_missing_content_type: bool = True
    allow_private: bool = False
    follow_links: bool = False
    max_depth: int = 0
    allowed_domains: tuple[str, ...] = ()
    known_batch_size: int = 1000
    result_batch_size: int = 1000
    result_flush_seconds: float = 1.0
    static_hosts: dict[str, str] = field(default_factory=dict)
    """Host name -> IP address, consulted before DNS (like /etc/hosts); used by tests and benchmarks."""

    def __post_init__(self) -> None:
        positive = ("concurrency", "per_host_concurrency", "max_body_bytes", "max_decoded_bytes",
                    "robots_max_bytes", "host_max_consecutive_failures", "known_batch_size", "result_batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise CrawlConfigError(f"CrawlConfig.{name}={getattr(self, name)!r}: must be >= 1")
        non_negative = ("delay", "max_crawl_delay", "max_retries", "backoff_base", "backoff_max",
                        "max_retry_after", "max_redirects", "max_depth", "result_flush_seconds")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise CrawlConfigError(f"CrawlConfig.{name}={getattr(self, name)!r}: must be >= 0")
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            if not getattr(self, name) > 0:
                raise CrawlConfigError(f"CrawlConfig.{name}={getattr(self, name)!r}: must be > 0 seconds")
        if self.follow_links and not self.allowed_domains:
            raise CrawlConfigError("CrawlConfig.follow_links=True needs allowed_domains (e.g. ('example.com',)) "
                                   "so the crawl stays bounded")
