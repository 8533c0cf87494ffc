"""The crawl job: a seeds file crawled by a pool of fetcher actors into volumes and the catalog.

Driven by :mod:`ingest.runner` (run id, plan, markers, registration, progress, summary); with
``local=True`` one fetcher runs in this process, batch after batch, with the same rules.

Plan (once per run id, saved in :class:`ingest.checkpoint.RunState`): seeds are canonicalized and
de-duplicated, URLs already in the catalog dropped (``exists_many``, batched), and the rest grouped by
host into batches (:func:`ingest.crawl_records.plan_batches`). Each fetcher actor holds one
:class:`ingest.crawl.CrawlSession` (event loop, connection pool, robots.txt cache) for its whole life
and crawls a whole batch per call: fetch, WARC records, volumes appended and sealed inside the actor
(gzip runs in the actors, in parallel). On a cluster store the actor then registers the batch's records
straight to the catalog's owner actors (:func:`ingest.packing.register_on_worker`, one batch per owner)
and returns when every owner acknowledged; otherwise (``--no-ray``, a local store) the driver registers
them. Either way the driver then sweeps the volumes nothing references and only then writes the batch's
completion marker. (A batch is the runner's split.)

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
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import ray

from catalog.failpoints import failpoint
from catalog.store import Store
from ingest.crawl import CrawlConfig, CrawlSession
from ingest.crawl_records import BatchResult, CrawlBatch, canonical_seeds, crawl_batch, plan_batches, read_seeds
from ingest.crawl_summary import MAX_LISTED_REJECTS, CrawlJobConfig, CrawlJobSummary
from ingest.errors import IngestError, IngestJobError
from ingest.executors import ActorPoolExecutor, Executor, LocalExecutor
from ingest.packing import register_on_worker
from ingest.registration import Registration, register_split
from ingest.runner import Finished, RunContext, SplitJob, new_run_id, run_split_job

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
        # the store is this driver's: the thread only reads it (exists_many), beside the runner's writes
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


class AskTheDriver:
    """How a fetcher actor asks the driver's catalog which URLs are stored (through the exchange).

    Holds the exchange's name, not its handle: an actor handle among a restartable actor's constructor
    arguments puts them in the object store, from where Ray cannot restore them for a restart after a
    node loss (ray-project/ray#53727); the name is looked up on first use, in every incarnation."""

    def __init__(self, exchange_name: str, namespace: str) -> None:
        self.exchange_name, self.namespace = exchange_name, namespace
        self._exchange: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"exchange_name": self.exchange_name, "namespace": self.namespace, "_exchange": None}

    def __call__(self, urls: list[str]) -> list[bool]:
        if self._exchange is None:
            self._exchange = ray.get_actor(self.exchange_name, namespace=self.namespace)
        return list(ray.get(self._exchange.ask.remote(urls), timeout=300))


@dataclass(frozen=True)
class CrawlWork:
    """What a batch is dispatched with: the URLs to fetch (those not stored yet) and where to store."""

    urls: list[str]
    volumes_url: str
    volume_bytes: int
    compresslevel: int
    known: list[str] = field(default_factory=list)  # dropped before dispatch: stored already
    # (root, catalog dir, owners): the actor registers the sealed volumes itself; None: the driver does
    owners: tuple[str, str, int] | None = None


class FetcherActor:
    """One :class:`CrawlSession` for the actor's whole life; :meth:`run` crawls a whole batch.

    ``ask_known(urls)`` says which discovered links are stored already (None: only this actor's own
    memory of what it fetched counts)."""

    def __init__(self, config: CrawlConfig, ask_known: Callable[[list[str]], list[bool]] | None = None) -> None:
        self._ask_known = ask_known
        self._seen: set[str] | None = set() if config.follow_links else None
        self._session = CrawlSession(config, self._already_known if config.follow_links else None)

    def _already_known(self, urls: list[str]) -> list[bool]:
        seen = self._seen if self._seen is not None else set()
        flags = [u in seen for u in urls]
        unknown = [i for i, f in enumerate(flags) if not f]
        if unknown and self._ask_known is not None:
            for i, known in zip(unknown, self._ask_known([urls[i] for i in unknown])):
                flags[i] = known
        return flags

    def ready(self) -> int:
        return os.getpid()

    def run(self, batch: CrawlBatch, work: CrawlWork) -> BatchResult:
        result = crawl_batch(self._session, batch.index, work.urls, work.volumes_url, volume_bytes=work.volume_bytes,
                             compresslevel=work.compresslevel, name_prefix=f"crawl-b{batch.index:06d}",
                             seen=self._seen)
        failpoint("crawl_job.batch_crawled")
        if work.owners is not None and result.sealed:
            # idempotent by key and digest: a retried batch (actor restarted) registers nothing twice
            result.registered = register_on_worker(work.owners, result.sealed)
            failpoint("crawl_job.actor_registered")
        return result

    def close(self) -> None:
        self._session.close()


# ---- the job ------------------------------------------------------------------------------------------

class CrawlJob(SplitJob):
    kind, unit = "crawl", "pages"

    def __init__(self, store: Store, seeds_path: str, crawl_config: CrawlConfig, config: CrawlJobConfig) -> None:
        self.store, self.seeds_path, self.crawl_config, self.config = store, seeds_path, crawl_config, config
        self.summary = CrawlJobSummary(config.run_id or new_run_id("crawl"),
                                       config={"job": asdict(config), "crawl": asdict(crawl_config)})
        self.resumed = False
        self._server: _ExchangeServer | None = None
        self._owners: tuple[str, str, int] | None = None  # set when the actors register (cluster store, Ray)

    def plan(self, ctx: RunContext) -> list[CrawlBatch]:
        """The run's batches (planned now, or as saved by an earlier attempt)."""
        summary = self.summary
        saved = ctx.state.load_plan()
        self.resumed = saved is not None
        if saved is None:
            check = canonical_seeds(read_seeds(self.seeds_path))
            if not check.urls:  # refused before anything is created
                first = f" (e.g. {check.invalid[0]['url']!r}: {check.invalid[0]['reason']})" if check.invalid else ""
                raise IngestError(f"seeds file {self.seeds_path!r} holds no http(s) URL{first}: give a text file "
                                  "with one URL per line")
            fresh: list[str] = []
            for start in range(0, len(check.urls), KNOWN_CHUNK):
                chunk = check.urls[start:start + KNOWN_CHUNK]
                fresh += [u for u, known in zip(chunk, self.store.catalog.exists_many(chunk)) if not known]
            batches = plan_batches(fresh, self.config.batch_urls)
            saved = {"seeds": self.seeds_path, "created": time.time(),
                     "seeds_total": len(check.urls) + len(check.invalid) + check.duplicates,
                     "invalid": check.invalid, "duplicates": check.duplicates, "known": len(check.urls) - len(fresh),
                     "batches": [{"index": b.index, "urls": list(b.urls), "hosts": list(b.hosts)} for b in batches]}
            ctx.state.save_plan(saved)
        summary.seeds = saved["seeds_total"]
        summary.seeds_invalid = len(saved["invalid"])
        summary.seeds_duplicate = saved["duplicates"]
        summary.skipped_known = saved["known"]
        summary.rejected = list(saved["invalid"][:MAX_LISTED_REJECTS])
        summary.rejects_total = len(saved["invalid"])
        batches = [CrawlBatch(b["index"], tuple(b["urls"]), tuple(b["hosts"])) for b in saved["batches"]]
        summary.urls_planned = sum(len(b.urls) for b in batches)
        return batches

    def items(self, batch: CrawlBatch) -> int | None:
        """The batch's URLs; None when links are followed (pages found on the way are crawled too)."""
        return None if self.crawl_config.follow_links else len(batch.urls)

    def executor(self, ctx: RunContext) -> Executor:
        t0 = time.perf_counter()
        follow = self.crawl_config.follow_links
        if ctx.local:
            fetcher = FetcherActor(self.crawl_config, self.store.catalog.exists_many if follow else None)
            executor: Executor = LocalExecutor(fetcher.run, ctx.run_id)
            executor.close = fetcher.close  # type: ignore[method-assign]
        else:
            cpus = float(ray.cluster_resources().get("CPU", 1))
            count = self.config.actors or max(1, int(cpus))
            exchange_name = f"haybale-crawl-known-{ctx.run_id}-{uuid.uuid4().hex[:8]}"
            namespace = ray.get_runtime_context().namespace
            exchange = (KnownUrlExchange.options(name=exchange_name).remote()  # type: ignore[attr-defined]
                        if follow else None)
            ask = AskTheDriver(exchange_name, namespace) if exchange is not None else None
            actor_cls = ray.remote(FetcherActor)
            actors = [actor_cls.options(
                name=f"haybale-crawl-{ctx.run_id}-{i}", num_cpus=min(1.0, cpus / count),
                max_restarts=self.config.actor_restarts, max_task_retries=self.config.actor_restarts,
                max_concurrency=1,
            ).remote(self.crawl_config, ask) for i in range(count)]
            ray.get([a.ready.remote() for a in actors])
            self._server = _ExchangeServer(self.store, exchange) if exchange is not None else None

            def stop_exchange() -> None:
                if self._server is not None:
                    self._server.close()
                if exchange is not None:
                    ray.kill(exchange)

            executor = ActorPoolExecutor(actors, "run", ctx.run_id, calls_per_actor=self.config.calls_per_actor,
                                         on_close=stop_exchange)
        self.summary.actors_start_seconds = round(time.perf_counter() - t0, 3)
        if self.store.cluster and not ctx.local:
            self._owners = (self.store.root, str(self.store.layout.catalog_dir), self.store.catalog.meta.num_owners)
        return executor

    def pick(self, queue: list[CrawlBatch], running: list[CrawlBatch]) -> int | None:
        """With politeness on, two batches touching the same host never run at once."""
        if not self.crawl_config.politeness:
            return 0
        busy = Counter(host for batch in running for host in batch.hosts)
        for i, batch in enumerate(queue):
            if not any(busy[h] for h in batch.hosts):
                return i
        return None

    def prepare(self, batch: CrawlBatch) -> CrawlWork | Finished:
        """The batch's URLs not stored yet. Only a resumed run (a killed attempt may have stored part of a
        batch) or link following (another batch may have stored the URL) can find any stored: a fresh
        plan was checked against the catalog moments ago, so that lookup is skipped."""
        urls, known = list(batch.urls), []
        if self.resumed or self.crawl_config.follow_links:
            flags = self.store.catalog.exists_many(urls)
            known = [u for u, f in zip(urls, flags) if f]
            urls = [u for u, f in zip(urls, flags) if not f]
            self.summary.skipped_known += len(known)
        if not urls:  # everything stored already (by a killed attempt): nothing to fetch
            return Finished(BatchResult(batch.index))
        cfg = self.config
        return CrawlWork(urls, self.store.layout.run_volumes_url(self.summary.run_id), cfg.volume_bytes,
                         cfg.compresslevel, known, self._owners)

    def poll(self) -> None:
        if self._server is not None and self._server.error is not None:
            raise IngestJobError(f"the catalog lookup thread failed: {self._server.error!r}; rerun with "
                                 f"--run-id {self.summary.run_id} to resume") from self._server.error

    def register(self, ctx: RunContext, batch: CrawlBatch, payload: CrawlWork | None, result: BatchResult
                 ) -> tuple[Registration, dict[str, Any]]:
        t0 = time.perf_counter()
        known = payload.known if payload is not None else list(batch.urls)
        registration = register_split(ctx.store, result.sealed, also_keys=known, registered=result.registered)
        self.summary.register_seconds = round(self.summary.register_seconds + time.perf_counter() - t0, 3)
        return registration, {"results": result.results, "pages": result.pages, "outcomes": dict(result.outcomes),
                              "body_bytes": result.body_bytes, "rejects": result.rejects,
                              "seconds": round(result.seconds, 3), "write_seconds": round(result.write_seconds, 3)}

    def account(self, marker: dict[str, Any], result: BatchResult | None) -> None:
        if result is not None:  # counts cover this attempt
            self.summary.add_batch(result)

    def progress(self, batch: CrawlBatch, payload: CrawlWork | None, result: BatchResult) -> tuple[int, int, int]:
        known = len(payload.known) if payload is not None else len(batch.urls)
        return result.results + known, result.body_bytes, len(result.rejects)

    def finish(self, ctx: RunContext) -> None:
        self.summary.crawl_seconds = self.summary.work_seconds


def run_crawl_job(store: Store, seeds_path: str, crawl_config: CrawlConfig, config: CrawlJobConfig, *,
                  show_progress: bool = True, address: str | None = None, num_cpus: int | None = None,
                  local: bool = False) -> CrawlJobSummary:
    """Crawl the URLs of ``seeds_path`` into ``store``: in this process (``local``), else on Ray — the
    one already initialized, else ``address`` / ``$RAY_ADDRESS``, else a local Ray with ``num_cpus``
    started for the job. The seeds are planned before Ray starts. Raises :class:`IngestError` for an
    unreadable seeds file or a bad run id, :class:`IngestJobError` for a fetcher actor that died more
    often than ``config.actor_restarts``."""
    job = CrawlJob(store, seeds_path, crawl_config, config)
    run_split_job(store, job, local=local, address=address, num_cpus=num_cpus, show_progress=show_progress)
    return job.summary
