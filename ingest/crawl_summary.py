"""Settings and summary of the crawl job (plain dataclasses; the job itself is :mod:`ingest.crawl_job`)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL
from ingest.crawl_records import BatchResult
from ingest.runner import JobSummary

MAX_LISTED_REJECTS = 1000  # in the summary; every reject is kept in its batch's completion marker


@dataclass
class CrawlJobConfig:
    """How a crawl job runs (the crawl itself is a :class:`CrawlConfig`). Printed into the summary."""

    run_id: str = ""
    actors: int = 0  # 0: one per CPU of the cluster
    batch_urls: int = 5000
    calls_per_actor: int = 2  # batches queued per actor, so the next is ready while one is registered
    volume_bytes: int = DEFAULT_VOLUME_BYTES
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    actor_restarts: int = 3


@dataclass
class CrawlJobSummary(JobSummary):
    """A crawl's counts (this attempt's, except the plan's seed counts); a split is a batch of URLs."""

    seeds: int = 0
    seeds_invalid: int = 0
    seeds_duplicate: int = 0
    skipped_known: int = 0  # in the catalog already: at planning, before dispatch, or as a found link
    urls_planned: int = 0
    results: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    records: int = 0
    body_bytes: int = 0
    requests: int = 0
    robots_fetched: int = 0
    hosts_dropped: int = 0
    links_found: int = 0  # on pages whose links were followed (below --max-depth), distinct per page
    links_nofollow: int = 0  # of those, rel="nofollow" or on a page saying nofollow: not followed
    links_off_domain: int = 0  # of the rest, outside --allow-domain: not followed
    rejects_total: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    actor_seconds: float = 0.0  # summed over batches: crawl + write inside the actors
    actor_cpu_seconds: float = 0.0  # summed over batches: CPU time of the actor processes
    write_seconds: float = 0.0  # summed over batches: WARC records, gzip and volume appends (in actors)
    register_seconds: float = 0.0  # driver: registering volumes and writing completion markers
    actors_start_seconds: float = 0.0
    crawl_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        secs = self.crawl_seconds
        out["pages_per_s"] = round(self.results / secs, 1) if secs else None
        out["mb_per_s"] = round(self.body_bytes / secs / 1e6, 2) if secs else None
        return out

    def add_batch(self, result: BatchResult) -> None:
        self.results += result.results
        self.outcomes = dict(Counter(self.outcomes) + result.outcomes)
        self.pages += result.pages
        self.records += result.records
        self.body_bytes += result.body_bytes
        self.requests += result.requests
        self.robots_fetched += result.robots_fetched
        self.hosts_dropped += result.hosts_dropped
        self.links_found += result.links_found
        self.links_nofollow += result.links_nofollow
        self.links_off_domain += result.links_off_domain
        self.skipped_known += result.skipped_known
        self.rejects_total += len(result.rejects)
        self.actor_seconds = round(self.actor_seconds + result.seconds, 3)
        self.actor_cpu_seconds = round(self.actor_cpu_seconds + result.cpu_seconds, 3)
        self.write_seconds = round(self.write_seconds + result.write_seconds, 3)
        room = MAX_LISTED_REJECTS - len(self.rejected)
        if room > 0:
            self.rejected += result.rejects[:room]
