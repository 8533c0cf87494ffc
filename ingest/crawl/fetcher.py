"""One HTTP request with every cap a crawler needs; no redirects, no retries (the crawler decides those).

:meth:`Fetcher.request` always returns an :class:`Attempt` and never raises for network or server
misbehaviour: a hanging server ends at ``total_timeout``, an endless body at ``max_body_bytes``, a
compression bomb at ``max_decoded_bytes``; a peer that turns out to be a private address is refused
before the body is read.
"""
from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from ingest.crawl.addresses import (
    GuardedConnector,
    GuardedResolver,
    PrivateAddressError,
    ip_literal,
    is_public_ip,
    peer_ip_of,
)
from ingest.crawl.config import CrawlConfig
from ingest.crawl.decode import CappedDecoder, ContentDecodingError, normalize_encoding
from ingest.crawl.result import HttpExchange, Outcome

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})
_READ_CHUNK = 1 << 16


@dataclass(slots=True)
class Attempt:
    """Result of one request. ``outcome`` is None for a complete response the crawler must classify
    (2xx, 3xx, 4xx/5xx); otherwise it is the failure. ``retryable`` marks transient failures
    (timeouts, connection errors, 408/429/5xx); ``retry_after`` is the server's Retry-After in seconds."""

    exchange: HttpExchange | None
    outcome: Outcome | None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type is not None else None


_ALWAYS_RENAMED = frozenset({b"transfer-encoding"})
_RENAMED_WHEN_DECODED = frozenset({b"transfer-encoding", b"content-encoding", b"content-length"})


def _recorded_headers(raw: tuple[tuple[bytes, bytes], ...], decoded: bool) -> list[tuple[str, str]]:
    """Headers as received (latin-1 decoded), renamed as Common Crawl does for what the stored body no
    longer matches: ``X-Crawler-`` + name."""
    renamed = _RENAMED_WHEN_DECODED if decoded else _ALWAYS_RENAMED
    out = []
    for name, value in raw:
        text = name.decode("latin-1")
        if name.lower() in renamed:
            text = "X-Crawler-" + text
        out.append((text, value.decode("latin-1")))
    return out


class Fetcher:
    """Owns the aiohttp session (one per event loop). Use ``async with Fetcher(config) as f``."""

    def __init__(self, config: CrawlConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=config.total_timeout, sock_connect=config.connect_timeout,
                                              sock_read=config.read_timeout)
        self._allowed_types = frozenset(t.lower() for t in config.content_types)
        self.requests = 0

    async def __aenter__(self) -> "Fetcher":
        cfg = self.config
        connector = GuardedConnector(limit=cfg.concurrency, limit_per_host=0, ttl_dns_cache=300,
                                     resolver=GuardedResolver(cfg.allow_private, cfg.static_hosts),
                                     allow_private=cfg.allow_private)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate, br",
                     "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.8"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, url: str, *, check_content_type: bool = True, max_body: int | None = None) -> Attempt:
        """GET ``url`` once (no redirects followed). Never raises for network/server errors."""
        assert self._session is not None, "use Fetcher inside 'async with'"
        cfg = self.config
        target = URL(url, encoded=True)  # canonical URLs are already percent-encoded
        if not cfg.allow_private:
            literal = ip_literal(target.host or "")
            if literal is not None and not is_public_ip(literal):
                return Attempt(None, Outcome.PRIVATE_ADDRESS, f"{literal} is not a public address")
        self.requests += 1
        try:
            # aiohttp's total timeout bounds the whole exchange: resolving, connecting and reading the body.
            return await self._request(target, check_content_type, max_body or cfg.max_body_bytes)
        except PrivateAddressError as exc:
            return Attempt(None, Outcome.PRIVATE_ADDRESS, str(exc))
        except TimeoutError:
            return Attempt(None, Outcome.TIMEOUT, f"no response within {cfg.total_timeout}s", retryable=True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PrivateAddressError):
                return Attempt(None, Outcome.PRIVATE_ADDRESS, str(exc.os_error))
            return Attempt(None, Outcome.ERROR, f"connect failed: {exc}", retryable=True)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Attempt(None, Outcome.ERROR, f"{type(exc).__name__}: {exc}", retryable=True)

    async def _request(self, target: URL, check_content_type: bool, max_body: int) -> Attempt:
        cfg = self.config
        assert self._session is not None
        url = str(target)
        async with self._session.get(target, allow_redirects=False) as resp:
            fetched_at = time.time()
            peer = peer_ip_of(resp)  # already checked by GuardedConnector when the socket connected
            raw_headers = resp.raw_headers
            status_line = f"HTTP/{resp.version.major}.{resp.version.minor} {resp.status} {resp.reason or ''}".rstrip()
            status = resp.status
            media = _media_type(resp.headers.get("Content-Type"))
            if (check_content_type and 200 <= status < 300
                    and not (media in self._allowed_types or (media is None and cfg.accept_missing_content_type))):
                resp.close()  # do not download what we will not keep
                ex = HttpExchange(url, status, status_line, _recorded_headers(raw_headers, False), b"", None,
                                  peer, fetched_at)
                return Attempt(ex, Outcome.CONTENT_TYPE_REJECTED, f"content type {media!r} not allowed")
            encoding = normalize_encoding(resp.headers.get("Content-Encoding"))
            decoder = CappedDecoder(encoding or None, cfg.max_decoded_bytes)
            truncated, error, outcome = await self._read_body(resp, decoder, max_body)
            decoded = bool(encoding)
            ex = HttpExchange(url, status, status_line, _recorded_headers(raw_headers, decoded),
                              decoder.result(), truncated, peer, fetched_at)
            if outcome is not None:
                return Attempt(ex, outcome, error, retryable=outcome in (Outcome.TIMEOUT, Outcome.ERROR)
                               and truncated != "length")
            if status in RETRY_STATUSES:
                return Attempt(ex, None, f"HTTP {status}", retryable=True,
                               retry_after=parse_retry_after(resp.headers.get("Retry-After"), fetched_at))
            return Attempt(ex, None)

    async def _read_body(self, resp: aiohttp.ClientResponse, decoder: CappedDecoder, max_body: int
                         ) -> tuple[str | None, str | None, Outcome | None]:
        """Read into ``decoder`` until EOF or a cap; returns (WARC-Truncated reason, error, failure outcome)."""
        received = 0
        try:
            declared = resp.content_length
            if declared is not None and declared <= min(max_body, _READ_CHUNK):
                # Small declared body (most pages): one read; the parser stops at Content-Length.
                decoder.feed(await resp.read())
                if decoder.capped:
                    return ("length", f"decoded body over the {decoder.max_output}-byte cap "
                                      f"({decoder.encoding})", Outcome.TOO_LARGE)
                return None, None, None
            while True:
                chunk = await resp.content.read(_READ_CHUNK)
                if not chunk:
                    return None, None, None
                if received + len(chunk) > max_body:
                    decoder.feed(chunk[: max_body - received])
                    resp.close()
                    return "length", f"body over the {max_body}-byte cap", Outcome.TOO_LARGE
                received += len(chunk)
                decoder.feed(chunk)
                if decoder.capped:
                    resp.close()
                    return ("length", f"decoded body over the {decoder.max_output}-byte cap "
                                      f"({decoder.encoding})", Outcome.TOO_LARGE)
        except ContentDecodingError as exc:
            resp.close()
            return None, f"cannot decode content-encoding {decoder.encoding}: {exc}", Outcome.ERROR
        except TimeoutError:
            resp.close()
            return "time", f"body not complete within the timeouts after {received} bytes", Outcome.TIMEOUT
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError) as exc:
            return "disconnect", f"connection lost after {received} bytes: {exc}", Outcome.ERROR
