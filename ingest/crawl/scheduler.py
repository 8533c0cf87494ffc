"""Per-host queues with politeness, retries at a later time, and dropping of failing hosts.

Workers call :meth:`Scheduler.next` to get the next URL whose host may be fetched now, then exactly one
of :meth:`done` or :meth:`retry_later` for it. ``next`` returns None once every added item is finished
and nothing holds the scheduler open (:meth:`hold`/:meth:`release` let the crawler keep it open while it
is still feeding seeds or checking discovered links). Items of a dropped host are still handed out
(immediately, without politeness) so the worker can report them as dropped.

Only one waiting worker is woken per newly ready item, so 100+ idle workers cost nothing per page.
"""
from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field


@dataclass(slots=True)
class WorkItem:
    url: str
    canonical: str
    host: str
    depth: int = 0
    attempts: int = 0
    finished: bool = False


@dataclass(slots=True, eq=False)
class HostQueue:
    key: str
    queue: collections.deque[WorkItem] = field(default_factory=collections.deque)
    active: int = 0
    next_time: float = 0.0
    delay: float = 0.0
    failures: int = 0
    dropped: bool = False
    in_ready: bool = False
    wake_at: float | None = None
    cap: int | None = None  # per-host concurrency override: 1 until robots.txt is known, 1 with a Crawl-delay
    policy_known: bool = False


class Scheduler:
    def __init__(self, per_host_cap: int, delay: float, robots_first: bool = False) -> None:
        """``robots_first``: dispatch one request per new host until :meth:`set_policy` is called for it,
        so a Crawl-delay read from robots.txt applies from the host's first page on."""
        self._cap = per_host_cap
        self._default_delay = delay
        self._first_cap = 1 if robots_first else None
        self._hosts: dict[str, HostQueue] = {}
        self._ready: collections.deque[HostQueue] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._outstanding = 0
        self._holds = 0
        self._loop = asyncio.get_running_loop()
        self._aborted = False
        self.queued = 0

    def host(self, key: str) -> HostQueue:
        hq = self._hosts.get(key)
        if hq is None:
            hq = self._hosts[key] = HostQueue(key, delay=self._default_delay, cap=self._first_cap)
        return hq

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def add(self, item: WorkItem) -> None:
        hq = self.host(item.host)
        hq.queue.append(item)
        self._outstanding += 1
        self.queued += 1
        self._make_ready(hq)

    def hold(self) -> None:
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        self._maybe_finish()

    def set_policy(self, key: str, crawl_delay: float | None) -> None:
        """Apply robots.txt to host ``key`` (once): with a Crawl-delay, one request at a time at least
        that many seconds apart; without, the normal per-host cap and delay."""
        hq = self.host(key)
        if hq.policy_known:
            return
        hq.policy_known = True
        if crawl_delay:
            hq.delay = max(hq.delay, crawl_delay)
            hq.next_time = max(hq.next_time, self._loop.time() + crawl_delay)
            hq.cap = 1
        else:
            hq.cap = None
        self._make_ready(hq)

    def note_failure(self, key: str, max_failures: int) -> bool:
        """Count a failed attempt on ``key``; returns True when this drops the host."""
        hq = self.host(key)
        hq.failures += 1
        if not hq.dropped and hq.failures >= max_failures:
            hq.dropped = True
            self._make_ready(hq)
            return True
        return False

    def note_success(self, key: str) -> None:
        self.host(key).failures = 0

    def is_dropped(self, key: str) -> bool:
        hq = self._hosts.get(key)
        return hq is not None and hq.dropped

    def abort(self) -> None:
        """Stop handing out work: every current and later :meth:`next` returns None."""
        self._aborted = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def next(self) -> WorkItem | None:
        while True:
            if self._aborted:
                return None
            item = self._take()
            if item is not None:
                return item
            if self._outstanding == 0 and self._holds == 0:
                return None
            fut = self._loop.create_future()
            self._waiters.append(fut)
            await fut

    def done(self, item: WorkItem) -> None:
        hq = self.host(item.host)
        hq.active -= 1
        if hq.delay:
            hq.next_time = max(hq.next_time, self._loop.time() + hq.delay)
        self._outstanding -= 1
        self._make_ready(hq)
        self._maybe_finish()

    def retry_later(self, item: WorkItem, delay: float, host_pause: float = 0.0) -> None:
        """Put ``item`` back after ``delay`` seconds; ``host_pause`` also holds the whole host (Retry-After)."""
        hq = self.host(item.host)
        hq.active -= 1
        now = self._loop.time()
        if host_pause:
            hq.next_time = max(hq.next_time, now + host_pause)
        self._loop.call_later(delay, self._requeue, item)

    def _requeue(self, item: WorkItem) -> None:
        hq = self.host(item.host)
        hq.queue.appendleft(item)
        self.queued += 1
        self._make_ready(hq)

    def _take(self) -> WorkItem | None:
        ready = self._ready
        now = self._loop.time()
        while ready:
            hq = ready.popleft()
            hq.in_ready = False
            if not hq.queue:
                continue
            if hq.dropped:
                item = hq.queue.popleft()
                hq.active += 1
                self.queued -= 1
                self._make_ready(hq)
                return item
            if hq.active >= (hq.cap or self._cap):
                continue  # re-added by done()
            if hq.next_time > now:
                self._wake_later(hq)
                continue
            item = hq.queue.popleft()
            self.queued -= 1
            hq.active += 1
            if hq.delay:
                hq.next_time = now + hq.delay
            self._make_ready(hq)
            return item
        return None

    def _make_ready(self, hq: HostQueue) -> None:
        if hq.in_ready or not hq.queue or (hq.active >= (hq.cap or self._cap) and not hq.dropped):
            return
        if not hq.dropped and hq.next_time > self._loop.time():
            self._wake_later(hq)
            return
        hq.in_ready = True
        self._ready.append(hq)
        self._wake_one()

    def _wake_later(self, hq: HostQueue) -> None:
        if hq.wake_at is not None and hq.wake_at <= hq.next_time:
            return
        hq.wake_at = hq.next_time
        self._loop.call_at(hq.next_time, self._on_wake, hq)

    def _on_wake(self, hq: HostQueue) -> None:
        # Forget the wake-up even if it fired early (uvloop rounds timers to milliseconds, so loop.time()
        # can still be below wake_at): otherwise _wake_later sees it pending, never re-arms, and the host
        # stalls. A stale later timer firing after this is harmless (one extra _make_ready).
        hq.wake_at = None
        self._make_ready(hq)

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _maybe_finish(self) -> None:
        if self._outstanding == 0 and self._holds == 0:
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_result(None)
