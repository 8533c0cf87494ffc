"""The crawl job on Ray: a seeds file crawled by a pool of fetcher actors into volumes and the catalog.

Plan (once per run id, saved in :class:`ingest.checkpoint.RunState`): seeds are canonicalized and
de-duplicated, URLs already in the catalog dropped (``exists_many``, batched), and the rest grouped by
host into batches (:func:`ingest.crawl_records.plan_batches`). Each fetcher actor holds one
:class:`ingest.crawl.CrawlSession` (event loop, connection pool, robots.txt cache) for its whole life
and crawls a whole batch per call: fetch, WARC records, volumes appended and sealed inside the actor
(gzip runs in the actors, in parallel). The driver, which alone holds the catalog, registers a batch's
sealed volumes and only then writes the batch's completion marker.

Guarantees:

- Exactly once: a rerun with the same run id skips marked batches; in a resumed run the driver drops,
  before dispatching a batch, its URLs that are now in the catalog (registered by a killed attempt), so
  nothing registered is fetched again. Registration is idempotent by key and digest; a volume none of
  whose records ended up referenced is deleted at once. A fetcher actor that dies is restarted by Ray
  (``max_restarts``) and its whole batch retried (``max_task_retries``): pages it had fetched are
  fetched again, and its unsealed volume stays a ``.tmp`` file that nothing references.
- Politeness: with politeness on, two batches touching the same host never run at once, so a host's
  concurrency cap and delay are enforced by one actor's scheduler. (Links discovered on a page may
  lead to hosts of other batches: those requests are polite within their actor only.)
- Links (``follow_links``): a discovered link is not fetched if, when the crawler checks it, it is in
  the catalog (asked through a small exchange actor that the driver answers from the catalog), or this
  actor already fetched it in this run, or it is a duplicate within the batch. Two actors that
  discover the same new link at the same moment may both fetch it; it is registered once.

Limits: the plan (``plan.json``) lists every URL, and with link following each actor remembers the
URLs it fetched; both grow with the crawl (~100 B per URL). Progress advances per finished batch.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict
from typing import Any

import ray

from catalog.store import Store
from catalog.failpoints import failpoint
from catalog.progress import Progress
from ingest.checkpoint import RunState
from ingest.crawl import CrawlConfig, CrawlSession
from ingest.crawl_records import BatchResult, CrawlBatch, canonical_seeds, crawl_batch, plan_batches, read_seeds
from ingest.crawl_summary import MAX_LISTED_REJECTS, CrawlJobConfig, CrawlJobSummary
from ingest.errors import IngestError
from ingest.ray_runtime import ray_connection

KNOWN_CHUNK = 10_000  # URLs per catalog exists_many call while planning

__all__ = ["CrawlJobConfig", "CrawlJobSummary", "FetcherActor", "KnownUrlExchange", "run_crawl_job"]
# ---- the actors ---------------------------------------------------------------------------------------

@ray.remote(num_cpus=0)
class KnownUrlExchange:
    """Lets fetcher actors ask the driver's catalog which URLs are already stored (the driver holds the
    catalog's write lock, so actors cannot open it). Actors call :meth:`ask`; a driver thread long-polls
    :meth:`take` and replies with :meth:`answer`."""

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self._requests: list[tuple[str, list[str]]] = []
        self._arrived = asyncio.Event()
        self._waiting: dict[str, Any] = {}

    async def ask(self, urls: list[str]) -> list[bool]:
        rid = uuid.uuid4().hex
        future = self._asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        self._requests.append((rid, urls))
        self._arrived.set()
        return list(await future)

    async def take(self, timeout: float) -> list[tuple[str, list[str]]]:
        if not self._requests:
            try:
                await self._asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return []
        taken, self._requests = self._requests, []
        self._arrived.clear()
        return taken

    async def answer(self, answers: list[tuple[str, list[bool]]]) -> None:
        for rid, flags in answers:
            future = self._waiting.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(flags)


class _ExchangeServer:
    """Driver thread answering :class:`KnownUrlExchange` questions from the catalog."""

    def __init__(self, store: Store, exchange: Any) -> None:
        self.store, self.exchange = store, exchange
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True, name="crawl-known-urls")
        self.thread.start()

    def _serve(self) -> None:
        try:
            while not self.stop.is_set():
                asked = ray.get(self.exchange.take.remote(0.5))
                if asked:
                    self.exchange.answer.remote([(rid, self.store.catalog.exists_many(urls)) for rid, urls in asked])
        except BaseException as exc:  # noqa: BLE001 - reported by the driver loop
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


class FetcherActor:
    """One :class:`CrawlSession` for the actor's whole life; :meth:`crawl` processes a whole batch."""

    def __init__(self, config: CrawlConfig, exchange: Any = None) -> None:
        self._exchange = exchange
        self._seen: set[str] | None = set() if config.follow_links else None
        self._session = CrawlSession(config, self._already_known if config.follow_links else None)

    def _already_known(self, urls: list[str]) -> list[bool]:
        seen = self._seen if self._seen is not None else set()
        flags = [u in seen for u in urls]
        unknown = [i for i, f in enumerate(flags) if not f]
        if unknown and self._exchange is not None:
            answers = ray.get(self._exchange.ask.remote([urls[i] for i in unknown]), timeout=300)
            for i, known in zip(unknown, answers):
                flags[i] = known
        return flags

    def ready(self) -> int:
        return os.getpid()

    def crawl(self, batch: CrawlBatch, urls: list[str], volumes_url: str, volume_bytes: int,
              compresslevel: int) -> BatchResult:
        result = crawl_batch(self._session, batch.index, urls, volumes_url, volume_bytes=volume_bytes,
                             compresslevel=compresslevel, name_prefix=f"crawl-b{batch.index:06d}", seen=self._seen)
        failpoint("crawl_job.batch_crawled")
        return result


# ---- the driver ---------------------------------------------------------------------------------------

def _plan(store: Store, state: RunState, seeds_path: str, config: CrawlJobConfig,
          summary: CrawlJobSummary) -> tuple[list[CrawlBatch], bool]:
    """The run's batches (planned now, or as saved by an earlier attempt) and whether they were saved."""
    saved = state.load_plan()
    resumed = saved is not None
    if saved is None:
        check = canonical_seeds(read_seeds(seeds_path))
        fresh: list[str] = []
        for start in range(0, len(check.urls), KNOWN_CHUNK):
            chunk = check.urls[start:start + KNOWN_CHUNK]
            fresh += [u for u, known in zip(chunk, store.catalog.exists_many(chunk)) if not known]
        batches = plan_batches(fresh, config.batch_urls)
        saved = {"seeds": seeds_path, "created": time.time(), "seeds_total": len(check.urls) + len(check.invalid)
                 + check.duplicates, "invalid": check.invalid, "duplicates": check.duplicates,
                 "known": len(check.urls) - len(fresh),
                 "batches": [{"index": b.index, "urls": list(b.urls), "hosts": list(b.hosts)} for b in batches]}
        state.save_plan(saved)
    summary.seeds = saved["seeds_total"]
    summary.seeds_invalid = len(saved["invalid"])
    summary.seeds_duplicate = saved["duplicates"]
    summary.skipped_known = saved["known"]
    summary.rejected = list(saved["invalid"][:MAX_LISTED_REJECTS])
    summary.rejects_total = len(saved["invalid"])
    return [CrawlBatch(b["index"], tuple(b["urls"]), tuple(b["hosts"])) for b in saved["batches"]], resumed



def _register(store: Store, result: BatchResult, summary: CrawlJobSummary) -> tuple[set[str], list[str]]:
    """Register a batch's sealed volumes. Returns the URLs of volumes its records now live in, and the
    keys whose volume is elsewhere (already registered from an earlier, killed attempt) to look up."""
    volumes: set[str] = set()
    elsewhere: list[str] = []
    for sealed in result.sealed:
        reg = store.register_sealed(sealed)
        summary.added += reg.added
        summary.updated += reg.updated
        summary.unchanged += reg.unchanged
        if reg.unchanged:
            elsewhere += [key for key, *_ in sealed.records]
        if reg.added + reg.updated == 0:  # every record already registered (a redo): nothing points here
            store.drop_volume(sealed)
            summary.unreferenced_volumes_removed += 1
            continue
        volumes.add(sealed.url)
        summary.volumes += 1
        summary.volume_bytes += sealed.bytes
    return volumes, elsewhere


def _volumes_of(store: Store, keys: list[str]) -> set[str]:
    numbers = {loc.volume for loc in store.catalog.get_many(keys) if loc is not None} if keys else set()
    return {store.volume_url(n) for n in numbers}


def run_crawl_job(store: Store, seeds_path: str, crawl_config: CrawlConfig, config: CrawlJobConfig, *,
                  show_progress: bool = True, address: str | None = None,
                  num_cpus: int | None = None) -> CrawlJobSummary:
    """Crawl the URLs of ``seeds_path`` into ``store`` on Ray: the one already initialized, else
    ``address`` / ``$RAY_ADDRESS``, else a local Ray with ``num_cpus`` started for the job. The seeds
    are planned before Ray starts. Raises :class:`IngestError` for an unreadable seeds file, a bad run
    id, or a fetcher actor that died more often than ``config.actor_restarts``."""
    started = time.perf_counter()
    run_id = config.run_id or f"crawl-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    state = RunState(store.root.rstrip("/") + "/runs", run_id)
    summary = CrawlJobSummary(run_id, config={"job": asdict(config), "crawl": asdict(crawl_config)})
    batches, resumed = _plan(store, state, seeds_path, config, summary)
    done = state.done_splits()
    todo = [b for b in batches if b.index not in done]
    summary.batches = len(batches)
    summary.batches_skipped_done = len(batches) - len(todo)
    summary.urls_planned = sum(len(b.urls) for b in batches)
    t_ray = time.perf_counter()
    with ray_connection(address, num_cpus):
        summary.ray_start_seconds = round(time.perf_counter() - t_ray, 3)
        # created after Ray's start-up so that its rates and ETA are the crawl's
        progress = Progress(f"ingest crawl [{run_id}]", total=sum(len(b.urls) for b in todo), unit="pages",
                            enabled=show_progress)
        if todo:
            _Driver(store, state, crawl_config, config, summary, progress, resumed).run(todo)
    progress.done()
    summary.seconds = round(time.perf_counter() - started, 3)
    state.save_summary(summary.as_dict())
    return summary


class _Driver:
    """Dispatches batches to the actor pool, registers results, writes completion markers."""

    def __init__(self, store: Store, state: RunState, crawl_config: CrawlConfig, config: CrawlJobConfig,
                 summary: CrawlJobSummary, progress: Progress, resumed: bool) -> None:
        self.resumed = resumed
        self.store, self.state, self.config = store, state, config
        self.crawl_config, self.summary, self.progress = crawl_config, summary, progress
        self.volumes_url = store.volumes_url.rstrip("/") + f"/{state.run_id}"

    def _start_actors(self) -> tuple[list[Any], Any]:
        cfg = self.config
        cpus = float(ray.cluster_resources().get("CPU", 1))
        count = cfg.actors or max(1, int(cpus))
        exchange = KnownUrlExchange.remote() if self.crawl_config.follow_links else None
        actor_cls = ray.remote(FetcherActor)
        actors = [actor_cls.options(
            name=f"haybale-crawl-{self.state.run_id}-{i}", num_cpus=min(1.0, cpus / count),
            max_restarts=cfg.actor_restarts, max_task_retries=cfg.actor_restarts, max_concurrency=1,
        ).remote(self.crawl_config, exchange) for i in range(count)]
        ray.get([a.ready.remote() for a in actors])
        return actors, exchange

    def run(self, todo: list[CrawlBatch]) -> None:
        t0 = time.perf_counter()
        actors, exchange = self._start_actors()
        self.summary.actors_start_seconds = round(time.perf_counter() - t0, 3)
        server = _ExchangeServer(self.store, exchange) if exchange is not None else None
        t1 = time.perf_counter()
        try:
            self._loop(actors, list(todo), server)
        finally:
            if server is not None:
                server.close()
            for actor in actors:
                ray.kill(actor)
            if exchange is not None:
                ray.kill(exchange)
        self.summary.crawl_seconds = round(time.perf_counter() - t1, 3)

    def _unknown(self, batch: CrawlBatch) -> tuple[list[str], list[str]]:
        """(URLs to fetch, URLs stored since the plan was made). Only a resumed run (a killed attempt may
        have stored part of a batch) or link following (another batch may have stored the URL) can find
        any: a fresh plan was checked against the catalog moments ago, so that lookup is skipped."""
        if not (self.resumed or self.crawl_config.follow_links):
            return list(batch.urls), []
        flags = self.store.catalog.exists_many(list(batch.urls))
        known = [u for u, f in zip(batch.urls, flags) if f]
        self.summary.skipped_known += len(known)
        return [u for u, f in zip(batch.urls, flags) if not f], known

    def _next_batch(self, queue: list[CrawlBatch], busy: Counter[str]) -> CrawlBatch | None:
        if not self.crawl_config.politeness:
            return queue.pop(0) if queue else None
        for i, batch in enumerate(queue):
            if not any(busy[h] for h in batch.hosts):
                return queue.pop(i)
        return None

    def _loop(self, actors: list[Any], queue: list[CrawlBatch], server: _ExchangeServer | None) -> None:
        cfg = self.config
        pending: dict[Any, tuple[CrawlBatch, int, list[str]]] = {}
        load = [0] * len(actors)
        busy: Counter[str] = Counter()
        while queue or pending:
            while queue:
                slot = min(range(len(actors)), key=load.__getitem__)
                if load[slot] >= cfg.calls_per_actor:
                    break
                batch = self._next_batch(queue, busy)
                if batch is None:
                    break
                urls, known = self._unknown(batch)
                if not urls:  # everything stored already (by a killed attempt): nothing to fetch
                    self._finish(batch, BatchResult(batch.index), known)
                    continue
                ref = actors[slot].crawl.remote(batch, urls, self.volumes_url, cfg.volume_bytes, cfg.compresslevel)
                pending[ref] = (batch, slot, known)
                load[slot] += 1
                busy.update(batch.hosts)
            if not pending:
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            if server is not None and server.error is not None:
                raise IngestError(f"the catalog lookup thread failed: {server.error!r}") from server.error
            for ref in ready:
                batch, slot, known = pending.pop(ref)
                load[slot] -= 1
                busy.subtract(batch.hosts)
                try:
                    result: BatchResult = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    raise IngestError(f"batch {batch.index}: its fetcher actor died more than "
                                      f"{cfg.actor_restarts} times ({exc}); rerun with --run-id "
                                      f"{self.state.run_id} to resume") from exc
                self._finish(batch, result, known)

    def _finish(self, batch: CrawlBatch, result: BatchResult, known: list[str]) -> None:
        """Register ``result``, then mark ``batch`` done listing every volume its URLs live in (``known``:
        URLs dropped before dispatch because they were stored already)."""
        t0 = time.perf_counter()
        volumes, elsewhere = _register(self.store, result, self.summary)
        failpoint("crawl_job.after_register")
        volumes |= _volumes_of(self.store, known + elsewhere)
        self.state.mark_done(batch.index, {"volumes": sorted(volumes), "results": result.results,
                                           "pages": result.pages, "outcomes": dict(result.outcomes),
                                           "body_bytes": result.body_bytes, "rejects": result.rejects,
                                           "seconds": round(result.seconds, 3),
                                           "write_seconds": round(result.write_seconds, 3)})
        self.summary.add_batch(result)
        self.summary.register_seconds = round(self.summary.register_seconds + time.perf_counter() - t0, 3)
        self.progress.update(result.results + len(known), result.body_bytes, len(result.rejects))
