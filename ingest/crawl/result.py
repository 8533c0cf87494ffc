"""What a crawl produces for each URL: :class:`FetchResult`, and the run's :class:`CrawlSummary`."""
from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class Outcome(str, enum.Enum):
    """Final outcome of one URL (after retries and redirects)."""

    OK = "ok"
    REDIRECT = "redirect"  # ended on a redirect: cap exceeded, loop, or a target we may not fetch
    HTTP_ERROR = "http_error"  # final status 4xx/5xx
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"  # body or decoded body over its cap: stored truncated (truncated="length")
    ROBOTS_DISALLOWED = "robots_disallowed"
    CONTENT_TYPE_REJECTED = "content_type_rejected"  # response recorded, body not stored
    PRIVATE_ADDRESS = "private_address"
    HOST_DROPPED = "host_dropped"  # the host failed too often in a row; not fetched (further)
    ERROR = "error"  # connection refused, reset, bad response, undecodable content-encoding, ...


@dataclass(slots=True)
class HttpExchange:
    """One HTTP response as received: one hop of a redirect chain, or the final response.

    ``headers`` are the response headers as received, in order, except (as Common Crawl does) that when
    the body was content-decoded ``Content-Encoding``/``Content-Length`` are renamed
    ``X-Crawler-Content-Encoding``/``X-Crawler-Content-Length``, and ``Transfer-Encoding`` (always
    removed by the client) is renamed ``X-Crawler-Transfer-Encoding``.
    """

    url: str
    status: int
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes
    truncated: str | None  # WARC-Truncated reason: "length", "time", "disconnect"; None if complete
    peer_ip: str | None
    fetched_at: float  # UNIX time the response headers arrived


@dataclass(slots=True)
class FetchResult:
    """Everything known about one requested URL. ``response`` is the final HTTP exchange (None if none
    arrived); ``redirects`` are the earlier hops in order, each a full exchange (so each can be archived).
    """

    url: str
    canonical_url: str
    outcome: Outcome
    depth: int = 0
    response: HttpExchange | None = None
    redirects: list[HttpExchange] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None
    fetched_at: float = 0.0

    @property
    def status(self) -> int | None:
        return self.response.status if self.response else None

    @property
    def body(self) -> bytes:
        return self.response.body if self.response else b""

    @property
    def truncated(self) -> str | None:
        return self.response.truncated if self.response else None

    @property
    def peer_ip(self) -> str | None:
        return self.response.peer_ip if self.response else None

    @property
    def final_url(self) -> str:
        return self.response.url if self.response else self.url

    @property
    def surt(self) -> str:
        """SURT sort key of :attr:`canonical_url` (``com,example)/path``), as the catalog lists URLs."""
        from catalog.keys import surt

        return surt(self.canonical_url)


@dataclass
class CrawlSummary:
    """Counts of a finished crawl."""

    outcomes: Counter[str] = field(default_factory=Counter)
    results: int = 0
    body_bytes: int = 0
    requests: int = 0
    skipped_known: int = 0
    skipped_invalid: int = 0
    robots_fetched: int = 0
    hosts_dropped: int = 0
    links_found: int = 0  # distinct links per page, on the pages whose links were followed
    links_nofollow: int = 0  # of those, marked rel="nofollow" or on a page that says nofollow: not followed
    links_off_domain: int = 0  # of the rest, to hosts outside --allow-domain: not followed
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"outcomes": dict(self.outcomes), "results": self.results, "body_bytes": self.body_bytes,
                "requests": self.requests, "skipped_known": self.skipped_known,
                "skipped_invalid": self.skipped_invalid, "robots_fetched": self.robots_fetched,
                "hosts_dropped": self.hosts_dropped, "links_found": self.links_found,
                "links_nofollow": self.links_nofollow, "links_off_domain": self.links_off_domain, "elapsed_seconds": round(self.elapsed_seconds, 3)}
