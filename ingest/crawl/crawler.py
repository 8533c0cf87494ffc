"""The crawl loop: seeds in, batches of :class:`FetchResult` out, on one asyncio event loop.

Contract of :meth:`Crawler.run`: every seed that is a valid http(s) URL and not ``already_known`` (and
every discovered link, when link following is on) gives exactly one :class:`FetchResult`; invalid seeds
give one result with outcome ``error``; duplicates (same canonical URL) are fetched once. Results come
out in lists of up to ``result_batch_size``, at least every ``result_flush_seconds`` while results
arrive. Network and server misbehaviour never raises; it becomes an outcome. An exception from the
``already_known`` hook stops the crawl and is raised from ``run``.

Memory: the canonical URLs seen in one run are kept in a set (for de-duplication of seeds and links);
across runs, the ``already_known`` hook (the catalog) is what prevents re-fetching.

No Ray here: a Ray actor owns one event loop and calls :meth:`Crawler.run` (async actor) or
:meth:`ingest.crawl.session.CrawlSession.crawl` (sync actor) with each batch of URLs.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import AsyncIterator, Callable, Iterable
from urllib.parse import urljoin

from catalog.keys import canonical_url
from ingest.crawl.config import CrawlConfig
from ingest.crawl.fetcher import REDIRECT_STATUSES, Attempt, Fetcher
from ingest.crawl.links import extract_links, in_domains, page_links
from ingest.crawl.result import CrawlSummary, FetchResult, HttpExchange, Outcome
from ingest.crawl.robots import RobotsCache, origin_of
from ingest.crawl.scheduler import Scheduler, WorkItem
from ingest.errors import UnsupportedURLError

AlreadyKnown = Callable[[list[str]], list[bool]]
"""Given canonical URLs, True for each one already stored (not to be fetched again). Called in batches
of up to ``known_batch_size`` from a worker thread, so it may block (catalog lookups)."""

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_QUEUED = 100_000  # seeds beyond this wait in the caller's iterable, not in memory


def _location(ex: HttpExchange) -> str | None:
    for name, value in ex.headers:
        if name.lower() == "location":
            return value.strip()
    return None


def _is_html(ex: HttpExchange) -> bool:
    for name, value in ex.headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower() in _HTML_TYPES
    return False


class Crawler:
    """One crawl on the running event loop. Create, then ``async for batch in crawler.run(seeds)``;
    :attr:`summary` holds the counts (final once ``run`` is exhausted)."""

    def __init__(self, config: CrawlConfig, already_known: AlreadyKnown | None = None, *,
                 fetcher: Fetcher | None = None, robots: RobotsCache | None = None) -> None:
        """``fetcher``/``robots`` let several crawls share one open session and robots.txt cache
        (see :class:`ingest.crawl.session.CrawlSession`); by default each run opens its own."""
        self.config = config
        self.summary = CrawlSummary()
        self._already_known = already_known
        self._seen: set[str] = set()
        self._buffer: list[FetchResult] = []
        self._discovered: list[tuple[str, int]] = []
        self._out: asyncio.Queue[list[FetchResult] | None] | None = None
        self._sched: Scheduler | None = None
        self._fetcher: Fetcher | None = fetcher
        self._robots: RobotsCache | None = robots
        self._fatal: BaseException | None = None  # the already_known hook failed: the crawl stops
        self._per_host_cap = config.per_host_concurrency if config.politeness else config.concurrency
        self._agent = config.robots_agent

    async def run(self, seeds: Iterable[str]) -> AsyncIterator[list[FetchResult]]:
        self._out = asyncio.Queue(maxsize=4)
        main = asyncio.create_task(self._main(seeds))
        out = self._out
        try:
            while True:
                getter = asyncio.ensure_future(out.get())
                await asyncio.wait((getter, main), return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the crawl ended (or failed) with nothing more queued
                    getter.cancel()
                    while not out.empty() and (batch := out.get_nowait()) is not None:
                        yield batch
                    break
                batch = getter.result()
                if batch is None:
                    break
                yield batch
            await main  # re-raises what stopped the crawl, if anything
        finally:
            if not main.done():
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)

    async def _main(self, seeds: Iterable[str]) -> None:
        cfg = self.config
        started = time.monotonic()
        assert self._out is not None
        async with contextlib.AsyncExitStack() as stack:
            if self._fetcher is None:
                self._fetcher = await stack.enter_async_context(Fetcher(cfg))
            fetcher = self._fetcher
            if self._robots is None:
                self._robots = RobotsCache(fetcher, self._agent, cfg.robots_max_bytes)
            requests_before, robots_before = fetcher.requests, self._robots.fetched
            self._sched = Scheduler(self._per_host_cap, cfg.delay if cfg.politeness else 0.0,
                                    robots_first=cfg.politeness and cfg.obey_robots)
            self._sched.hold()
            tasks = [asyncio.create_task(self._worker()) for _ in range(cfg.concurrency)]
            flusher = asyncio.create_task(self._flush_loop())
            try:
                try:
                    await self._feed(seeds)
                finally:
                    self._sched.release()
                await asyncio.gather(*tasks)
            finally:
                for t in (*tasks, flusher):
                    t.cancel()
                await asyncio.gather(*tasks, flusher, return_exceptions=True)
            if self._fatal is not None:
                raise self._fatal
            self.summary.requests = fetcher.requests - requests_before
            self.summary.robots_fetched = self._robots.fetched - robots_before
        self.summary.elapsed_seconds = time.monotonic() - started
        if self._buffer:
            await self._out.put(self._buffer)
            self._buffer = []
        await self._out.put(None)

    async def _feed(self, seeds: Iterable[str]) -> None:
        assert self._sched is not None
        chunk: list[str] = []
        for url in seeds:
            chunk.append(url)
            if len(chunk) >= self.config.known_batch_size:
                await self._admit(chunk, 0)
                chunk = []
                while self._sched.queued > _MAX_QUEUED:
                    await asyncio.sleep(0.05)
        if chunk:
            await self._admit(chunk, 0)

    async def _admit(self, urls: list[str], depth: int) -> None:
        """Canonicalize, drop duplicates and already-known URLs, queue the rest."""
        assert self._sched is not None
        fresh: list[tuple[str, str]] = []
        for url in urls:
            try:
                if url.lstrip()[:8].lower().split(":", 1)[0] not in ("http", "https"):
                    raise UnsupportedURLError(f"URL {url[:120]!r} is not http(s): only http and https are crawled")
                canon = canonical_url(url)
            except ValueError as exc:  # UnsupportedURLError, InvalidKeyError, urlsplit's ValueError
                self.summary.skipped_invalid += 1
                await self._emit(FetchResult(url, url, Outcome.ERROR, depth, error=str(exc), fetched_at=time.time()))
                continue
            if canon in self._seen:
                continue
            self._seen.add(canon)
            fresh.append((url, canon))
        if fresh and self._already_known is not None:
            flags = await asyncio.to_thread(self._already_known, [c for _, c in fresh])
            if len(flags) != len(fresh):
                raise ValueError(f"already_known returned {len(flags)} answers for {len(fresh)} URLs")
            self.summary.skipped_known += sum(1 for f in flags if f)
            fresh = [pair for pair, known in zip(fresh, flags) if not known]
        for url, canon in fresh:
            # Canonical URLs always read scheme://netloc/...: the origin is everything before that slash.
            self._sched.add(WorkItem(url, canon, canon[:canon.index("/", canon.index("//") + 2)], depth))

    async def _worker(self) -> None:
        assert self._sched is not None
        sched = self._sched
        while (item := await sched.next()) is not None:
            try:
                await self._process(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug in one URL must not stop the crawl
                await self._finish(item, FetchResult(item.url, item.canonical, Outcome.ERROR, item.depth,
                                                     attempts=item.attempts, fetched_at=time.time(),
                                                     error=f"internal error: {type(exc).__name__}: {exc}"))

    async def _process(self, item: WorkItem) -> None:
        cfg = self.config
        sched = self._sched
        assert sched is not None
        if sched.is_dropped(item.host):
            await self._finish(item, FetchResult(
                item.url, item.canonical, Outcome.HOST_DROPPED, item.depth, attempts=item.attempts,
                fetched_at=time.time(), error=f"host {item.host} dropped after "
                                              f"{cfg.host_max_consecutive_failures} consecutive failures"))
            return
        item.attempts += 1
        result, failed = await self._fetch_chain(item)
        if failed is None:
            sched.note_success(item.host)
            await self._finish(item, result)
            return
        if sched.note_failure(item.host, cfg.host_max_consecutive_failures):
            self.summary.hosts_dropped += 1
        elif item.attempts <= cfg.max_retries:
            if failed.retry_after is not None:
                wait = min(failed.retry_after, cfg.max_retry_after)
                sched.retry_later(item, wait, host_pause=wait)
            else:
                backoff = min(cfg.backoff_max, cfg.backoff_base * 2 ** (item.attempts - 1))
                sched.retry_later(item, backoff * random.uniform(0.8, 1.2))
            return
        await self._finish(item, result)

    async def _fetch_chain(self, item: WorkItem) -> tuple[FetchResult, Attempt | None]:
        """Fetch ``item`` following redirects; returns the result and the retryable attempt, if any."""
        cfg = self.config
        assert self._fetcher is not None and self._robots is not None and self._sched is not None
        hops: list[HttpExchange] = []
        visited = {item.canonical}
        current = item.canonical

        def result(outcome: Outcome, response: HttpExchange | None, error: str | None = None) -> FetchResult:
            return FetchResult(item.url, item.canonical, outcome, item.depth, response, hops, item.attempts,
                               error, time.time())

        for _ in range(cfg.max_redirects + 1):
            if cfg.obey_robots:
                origin = item.host if current is item.canonical else origin_of(current)
                policy = self._robots.cached(origin) or await self._robots.policy(origin)
                if cfg.politeness:
                    self._sched.set_policy(origin, min(policy.crawl_delay, cfg.max_crawl_delay)
                                           if policy.crawl_delay else None)
                if policy.private:
                    return result(Outcome.PRIVATE_ADDRESS, None, policy.note), None
                if not policy.allows(current):
                    return result(Outcome.ROBOTS_DISALLOWED, None,
                                  f"robots.txt of {origin} disallows {current}{'; ' + policy.note if policy.note else ''}"), None
            attempt = await self._fetcher.request(current)
            ex = attempt.exchange
            if attempt.retryable:
                outcome = attempt.outcome or Outcome.HTTP_ERROR
                return result(outcome, ex, attempt.error), attempt
            if ex is None or attempt.outcome is not None:
                return result(attempt.outcome or Outcome.ERROR, ex, attempt.error), None
            location = _location(ex) if ex.status in REDIRECT_STATUSES else None
            if location is None:
                return result(Outcome.OK if ex.status < 400 else Outcome.HTTP_ERROR, ex,
                              None if ex.status < 400 else f"HTTP {ex.status}"), None
            try:
                target = urljoin(current, location)
                if target[:8].lower().split(":", 1)[0] not in ("http", "https"):
                    return result(Outcome.REDIRECT, ex, f"redirect to unsupported URL {location[:200]!r}"), None
                target = canonical_url(target)
            except ValueError as exc:  # InvalidKeyError is a ValueError
                return result(Outcome.REDIRECT, ex, f"redirect to invalid URL {location[:200]!r}: {exc}"), None
            if target in visited:
                return result(Outcome.REDIRECT, ex, f"redirect loop back to {target}"), None
            hops.append(ex)
            visited.add(target)
            self._seen.add(target)
            current = target
        last = hops.pop()
        return result(Outcome.REDIRECT, last, f"more than {cfg.max_redirects} redirects"), None

    async def _finish(self, item: WorkItem, result: FetchResult) -> None:
        assert self._sched is not None
        if item.finished:
            return
        item.finished = True
        cfg = self.config
        if (cfg.follow_links and item.depth < cfg.max_depth and result.outcome is Outcome.OK
                and result.response is not None and _is_html(result.response)):
            response = result.response
            if cfg.obey_nofollow:
                page = page_links(response.body, response.url, response.headers, agent=self._agent)
                found, nofollow = page.follow, page.nofollow
            else:
                found, nofollow = extract_links(response.body, response.url), 0
            links = [u for u in found if in_domains(u, cfg.allowed_domains)]
            self.summary.links_found += len(found) + nofollow
            self.summary.links_nofollow += nofollow
            self.summary.links_off_domain += len(found) - len(links)
            if links:
                if not self._discovered:
                    self._sched.hold()  # keep the crawl open until these are checked and queued
                self._discovered.extend((u, item.depth + 1) for u in links)
        self._sched.done(item)
        await self._emit(result)
        if len(self._discovered) >= cfg.known_batch_size:
            await self._flush_discovered()

    async def _emit(self, result: FetchResult) -> None:
        summary = self.summary
        summary.results += 1
        summary.outcomes[result.outcome.value] += 1
        if result.response is not None:
            summary.body_bytes += len(result.response.body)
        self._buffer.append(result)
        if len(self._buffer) >= self.config.result_batch_size:
            batch, self._buffer = self._buffer, []
            assert self._out is not None
            await self._out.put(batch)

    async def _flush_discovered(self) -> None:
        assert self._sched is not None
        if not self._discovered:
            return
        found, self._discovered = self._discovered, []
        try:
            by_depth: dict[int, list[str]] = {}
            for url, depth in found:
                by_depth.setdefault(depth, []).append(url)
            for depth, urls in by_depth.items():
                await self._admit(urls, depth)
        except Exception as exc:  # noqa: BLE001 - the already_known hook failed: stop, and raise it from run()
            self._fatal = self._fatal or exc
            self._sched.abort()
        finally:
            self._sched.release()

    async def _flush_loop(self) -> None:
        assert self._out is not None
        interval = min(self.config.result_flush_seconds, 0.2) or 0.05
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            await self._flush_discovered()
            if self._buffer and time.monotonic() - last_flush >= self.config.result_flush_seconds:
                batch, self._buffer = self._buffer, []
                await self._out.put(batch)
                last_flush = time.monotonic()


def crawl(seeds: Iterable[str], config: CrawlConfig, on_batch: Callable[[list[FetchResult]], None],
          already_known: AlreadyKnown | None = None) -> CrawlSummary:
    """Run a whole crawl on a new event loop (for a sync caller, e.g. a Ray actor method).

    ``on_batch`` is called on the loop thread with each list of results; keep it quick (hand the list
    to a writer) or results queue up. Returns the :class:`CrawlSummary`.
    """

    async def main() -> CrawlSummary:
        crawler = Crawler(config, already_known)
        async for batch in crawler.run(seeds):
            on_batch(batch)
        return crawler.summary

    return asyncio.run(main())


def crawl_collect(seeds: Iterable[str], config: CrawlConfig, already_known: AlreadyKnown | None = None
                  ) -> tuple[list[FetchResult], CrawlSummary]:
    """:func:`crawl` that returns every result in one list (for small batches of URLs)."""
    results: list[FetchResult] = []
    summary = crawl(seeds, config, results.extend, already_known)
    return results, summary
