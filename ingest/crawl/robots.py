"""robots.txt: fetched once per scheme+host+port, cached for the crawl, answered from the cache.

Status handling follows RFC 9309: 2xx -> parse the rules; 4xx -> no rules (everything allowed);
5xx, timeouts and network errors -> the site is "unreachable", everything disallowed; redirects are
followed up to 5 hops. Bodies over ``robots_max_bytes`` are parsed up to the cap. Matching follows
RFC 9309 (longest match, wildcards): see :mod:`ingest.crawl.robots_rules`.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ingest.crawl.fetcher import REDIRECT_STATUSES, Fetcher
from ingest.crawl.result import Outcome
from ingest.crawl.robots_rules import RobotsRules, parse_rules

_MAX_ROBOTS_REDIRECTS = 5


@dataclass(slots=True)
class RobotsPolicy:
    """The rules for one origin. ``private`` means the origin is a refused (non-public) address."""

    rules: RobotsRules | None
    allow_all: bool
    disallow_all: bool
    crawl_delay: float | None
    private: bool = False
    note: str = ""

    def allows(self, url: str) -> bool:
        """Whether the absolute ``url`` (canonical form) may be fetched."""
        if self.allow_all:
            return True
        if self.disallow_all or self.rules is None:
            return False
        return self.rules.can_fetch(path_of(url))


def path_of(url: str) -> str:
    """Path plus query of an absolute URL (``/`` if none), without parsing the whole URL."""
    start = url.find("//")
    slash = url.find("/", start + 2 if start >= 0 else 0)
    if slash < 0:
        query = url.find("?", start + 2 if start >= 0 else 0)
        return "/" + url[query:] if query >= 0 else "/"
    return url[slash:].split("#", 1)[0]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_robots(text: str, agent: str) -> RobotsPolicy:
    """Rules from robots.txt text for ``agent``."""
    rules = parse_rules(text, agent)
    return RobotsPolicy(rules, not rules.rules, False, rules.crawl_delay)


class RobotsCache:
    """One fetch per origin, shared by every worker: concurrent callers await the same fetch."""

    def __init__(self, fetcher: Fetcher, agent: str, max_bytes: int) -> None:
        self._fetcher = fetcher
        self._agent = agent
        self._max_bytes = max_bytes
        self._policies: dict[str, RobotsPolicy] = {}
        self._pending: dict[str, asyncio.Future[RobotsPolicy]] = {}
        self.fetched = 0

    def cached(self, origin: str) -> RobotsPolicy | None:
        return self._policies.get(origin)

    async def policy(self, origin: str) -> RobotsPolicy:
        known = self._policies.get(origin)
        if known is not None:
            return known
        fut = self._pending.get(origin)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._pending[origin] = fut
            try:
                result = await self._fetch(origin)
            except BaseException as exc:
                fut.set_exception(exc)
                del self._pending[origin]
                raise
            self._policies[origin] = result
            del self._pending[origin]
            fut.set_result(result)
            return result
        return await asyncio.shield(fut)

    async def _fetch(self, origin: str) -> RobotsPolicy:
        self.fetched += 1
        url = origin + "/robots.txt"
        for _ in range(_MAX_ROBOTS_REDIRECTS + 1):
            attempt = await self._fetcher.request(url, check_content_type=False, max_body=self._max_bytes)
            if attempt.outcome is Outcome.PRIVATE_ADDRESS:
                return RobotsPolicy(None, False, True, None, private=True, note=attempt.error or "")
            ex = attempt.exchange
            if ex is None or (attempt.outcome is not None and attempt.outcome is not Outcome.TOO_LARGE):
                return RobotsPolicy(None, False, True, None, note=f"robots.txt unreachable: {attempt.error}")
            if ex.status in REDIRECT_STATUSES:
                location = dict((k.lower(), v) for k, v in ex.headers).get("location")
                if not location:
                    break
                url = urljoin(url, location)
                continue
            if 200 <= ex.status < 300:
                return parse_robots(ex.body.decode("utf-8", "replace"), self._agent)
            if 400 <= ex.status < 500:
                return RobotsPolicy(None, True, False, None, note=f"robots.txt status {ex.status}")
            return RobotsPolicy(None, False, True, None, note=f"robots.txt status {ex.status}: site unreachable")
        return RobotsPolicy(None, True, False, None, note="robots.txt redirect chain too long")
