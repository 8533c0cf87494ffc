"""Plain-Python pieces of the crawl job (no Ray): seeds, the batch plan, and one batch crawled into volumes.

What is stored (decided here, once, for every crawl):

- ``ok`` and ``too_large`` results are *pages*: the final response becomes a WARC ``response`` record
  keyed by its (canonical) URL; a body cut at a cap carries ``WARC-Truncated`` (``length``/``time``/...).
  Every redirect hop that led to a stored page is its own ``response`` record keyed by the hop's URL
  (as Common Crawl does), so the seed URL of a redirected page is in the catalog too.
- Every other outcome — ``robots_disallowed``, ``content_type_rejected``, ``http_error``, ``timeout``,
  ``redirect`` (loop / cap), ``private_address``, ``host_dropped``, ``error`` — stores nothing: it is
  counted by outcome and listed as a reject (URL, outcome, status, reason). A rerun may try it again.
- robots.txt responses are not stored (they are only counted, as ``robots_fetched``).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from catalog.errors import InvalidKeyError
from catalog.keys import canonical_url
from catalog.volume import SealedVolume, VolumeWriter
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL, WarcRecord, response_record
from ingest.crawl import CrawlSession, FetchResult, HttpExchange, Outcome
from ingest.errors import IngestError

STORED_OUTCOMES = frozenset({Outcome.OK, Outcome.TOO_LARGE})


# ---- seeds and plan ---------------------------------------------------------------------------------

def read_seeds(path: str) -> list[str]:
    """URLs of a seeds file: one per line; blank lines and lines starting with ``#`` are skipped,
    surrounding whitespace removed. Raises :class:`IngestError` if the file cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise IngestError(f"cannot read seeds file {path!r} ({exc}): give a text file with one URL per line") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class SeedCheck:
    """Seeds after canonicalization: unique canonical URLs in first-seen order, and what was dropped."""

    urls: list[str] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0


def canonical_seeds(seeds: Iterable[str]) -> SeedCheck:
    """Canonicalize and de-duplicate ``seeds``; a seed that is not an http(s) URL is listed as invalid
    (URL and reason), never raised."""
    out = SeedCheck()
    seen: set[str] = set()
    for raw in seeds:
        scheme = raw[:8].lower().split(":", 1)[0]
        try:
            if scheme not in ("http", "https"):
                raise InvalidKeyError("not an http(s) URL: only http and https are crawled")
            canon = canonical_url(raw)
        except ValueError as exc:  # InvalidKeyError and urlsplit's ValueError
            out.invalid.append({"url": raw[:500], "outcome": "invalid_seed", "reason": str(exc)[:300]})
            continue
        if canon in seen:
            out.duplicates += 1
            continue
        seen.add(canon)
        out.urls.append(canon)
    return out


def host_of(canonical: str) -> str:
    """``scheme://host[:port]`` of a canonical URL (the crawler's per-host queue key)."""
    return canonical[:canonical.index("/", canonical.index("//") + 2)]


@dataclass(frozen=True)
class CrawlBatch:
    """One unit of work: URLs of whole hosts where possible. ``hosts`` lists the hosts it touches, so
    the driver can keep two batches of one host from running at once (politeness stays in one actor)."""

    index: int
    urls: tuple[str, ...]
    hosts: tuple[str, ...]


def plan_batches(urls: Iterable[str], batch_urls: int) -> list[CrawlBatch]:
    """Group canonical ``urls`` by host and pack them into batches of about ``batch_urls`` URLs: a
    batch holds several small hosts; a host with more than ``batch_urls`` URLs spans several batches."""
    if batch_urls < 1:
        raise IngestError(f"batch_urls={batch_urls}: give a positive number of URLs per batch")
    by_host: dict[str, list[str]] = {}
    for url in urls:
        by_host.setdefault(host_of(url), []).append(url)
    batches: list[CrawlBatch] = []
    current: list[str] = []
    hosts: list[str] = []

    def close() -> None:
        nonlocal current, hosts
        if current:
            batches.append(CrawlBatch(len(batches), tuple(current), tuple(hosts)))
        current, hosts = [], []

    for host, host_urls in by_host.items():
        for start in range(0, len(host_urls), batch_urls):
            chunk = host_urls[start:start + batch_urls]
            if len(current) + len(chunk) > batch_urls:
                close()
            current.extend(chunk)
            hosts.append(host)
    close()
    return batches


# ---- one batch: results → WARC records → sealed volumes ---------------------------------------------

def _record(ex: HttpExchange) -> WarcRecord:
    return response_record(ex.url, ex.status_line, ex.headers, ex.body, ip=ex.peer_ip,
                           fetched_at=ex.fetched_at, truncated=ex.truncated)


def records_of(result: FetchResult) -> list[tuple[str, WarcRecord]]:
    """(key, record) pairs to store for one result: the redirect hops then the final response, for
    stored outcomes only (see the module docstring); empty for everything else."""
    if result.outcome not in STORED_OUTCOMES or result.response is None:
        return []
    return [(ex.url, _record(ex)) for ex in (*result.redirects, result.response)]


def reject_of(result: FetchResult) -> dict[str, object]:
    return {"url": result.url[:500], "outcome": result.outcome.value, "status": result.status,
            "reason": (result.error or "")[:300]}


@dataclass
class BatchResult:
    """What an actor returns for one batch: only sealed volumes, plus counts and rejects."""

    index: int
    sealed: list[SealedVolume] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    results: int = 0
    pages: int = 0
    records: int = 0
    body_bytes: int = 0
    requests: int = 0
    robots_fetched: int = 0
    skipped_known: int = 0
    hosts_dropped: int = 0
    links_found: int = 0
    links_nofollow: int = 0
    links_off_domain: int = 0
    stored_keys: list[str] = field(default_factory=list)
    rejects: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the worker process while crawling the batch
    write_seconds: float = 0.0
    registered: tuple[int, int, int] | None = None  # (added, updated, unchanged) when the actor registered


class BatchWriter:
    """Appends the records of each list of results to a :class:`VolumeWriter` as they arrive."""

    def __init__(self, writer: VolumeWriter, out: BatchResult, seen: set[str] | None = None) -> None:
        self.writer = writer
        self.out = out
        self.seen = seen

    def __call__(self, results: list[FetchResult]) -> None:
        t0 = time.perf_counter()
        out, writer = self.out, self.writer
        for result in results:
            out.results += 1
            out.outcomes[result.outcome.value] += 1
            if self.seen is not None:
                self.seen.add(result.canonical_url)
                self.seen.update(ex.url for ex in result.redirects)
            pairs = records_of(result)
            if not pairs:
                out.rejects.append(reject_of(result))
                continue
            out.pages += 1
            out.body_bytes += len(result.body)
            for key, record in pairs:
                out.sealed += writer.append(key, record)
                out.stored_keys.append(key)
                out.records += 1
        out.write_seconds += time.perf_counter() - t0


def crawl_batch(session: CrawlSession, index: int, urls: list[str], volumes_url: str, *,
                volume_bytes: int, compresslevel: int = DEFAULT_COMPRESS_LEVEL,
                name_prefix: str = "crawl", seen: set[str] | None = None) -> BatchResult:
    """Crawl ``urls`` with ``session`` and store the pages in volumes under ``volumes_url``, sealed
    before returning. Nothing is registered here (the caller registers, then marks the batch done), so a
    crash at any point leaves at worst volumes nobody references. ``seen``, if given, receives the
    canonical URL of every result and redirect hop (a worker's memory of what it already fetched)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    out = BatchResult(index)
    writer = VolumeWriter(volumes_url, max_bytes=volume_bytes, compresslevel=compresslevel,
                          name_prefix=name_prefix)
    summary = session.crawl(urls, BatchWriter(writer, out, seen))
    out.sealed += writer.close()
    out.requests = summary.requests
    out.robots_fetched = summary.robots_fetched
    out.skipped_known = summary.skipped_known
    out.hosts_dropped = summary.hosts_dropped
    out.links_found = summary.links_found
    out.links_nofollow = summary.links_nofollow
    out.links_off_domain = summary.links_off_domain
    out.seconds = time.perf_counter() - started
    out.cpu_seconds = time.process_time() - cpu_started
    return out
