"""The full crawl job (Ray actors → WARC volumes → catalog) vs a plain aiohttp fetch loop, side by side.

The site, its server process and the plain loop are those of :mod:`bench.ingest_crawl` (imported, not
copied): ``--pages`` pages of ~5 KB over ``--hosts`` host names on loopback, politeness off. Each round
runs the plain loop (128 concurrent requests, bodies read and dropped) and then the haybale job over the
same URLs into a fresh root: seeds file → plan (canonical URLs, catalog lookup, batches by host) →
fetcher actors (robots.txt, normalization, caps, WARC response records, per-record gzip, volumes sealed
with CDXJ sidecars) → registration in the catalog → completion markers. Ray's start-up (once) and the
actors' start-up (per job) are reported separately; the job's rate is pages over the time from the first
batch dispatched to the last batch registered, and also over the whole job call.

Run: ``.venv/bin/python -m bench.ingest_crawl_job [--pages 20000] [--hosts 64] [--rounds 3] [--actors 2]``
Writes ``bench/results/ingest_crawl_job.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingest_crawl import page_urls, plain_loop, site_map, start_server
from catalog.store import Store
from ingest.crawl import CrawlConfig

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_crawl_job.json"


def run_job(work: Path, urls: list[str], hosts: dict[str, str], args: argparse.Namespace, n: int) -> dict[str, Any]:
    from ingest.crawl_job import CrawlJobConfig, run_crawl_job

    seeds = work / "seeds.txt"
    if not seeds.exists():
        seeds.write_text("\n".join(urls) + "\n")
    root = work / f"root{n}"
    crawl = CrawlConfig(politeness=False, allow_private=True, static_hosts=hosts, concurrency=args.concurrency,
                        max_retries=1)
    config = CrawlJobConfig(run_id=f"bench{n}", actors=args.actors, batch_urls=args.batch_urls)
    t0 = time.perf_counter()
    with Store(str(root)) as store:
        summary = run_crawl_job(store, str(seeds), crawl, config, show_progress=False)
        records = store.catalog.stats()["records"]
        sample = urls[len(urls) // 2]
        assert store.cat(sample).startswith(b"<!doctype html>"), "a crawled page does not read back"
    call_seconds = time.perf_counter() - t0
    out = summary.as_dict()
    assert out["outcomes"] == {"ok": len(urls)} and records == len(urls), (out["outcomes"], records)
    out["call_seconds"] = call_seconds
    shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    ap.add_argument("--actors", type=int, default=0, help="fetcher actors (default: one per CPU)")
    ap.add_argument("--batch-urls", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=128, help="requests in flight per actor")
    args = ap.parse_args(argv)
    import ray

    proc, port = start_server()
    work = Path(tempfile.mkdtemp(prefix="hb-bench-crawljob-"))
    try:
        hosts = site_map(args.hosts)
        urls = page_urls(args.pages, args.hosts, port)
        asyncio.run(plain_loop(urls[:500], hosts))  # warm up the server
        t0 = time.perf_counter()
        if not ray.is_initialized():
            ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        plain_rates: list[float] = []
        jobs: list[dict[str, Any]] = []
        for n in range(args.rounds):
            secs, ok = asyncio.run(plain_loop(urls, hosts))
            assert ok == len(urls), f"plain loop got {ok}/{len(urls)} pages"
            plain_rates.append(len(urls) / secs)
            jobs.append(run_job(work, urls, hosts, args, n))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        if ray.is_initialized():
            ray.shutdown()
    job_rates = [len(urls) / j["crawl_seconds"] for j in jobs]
    call_rates = [len(urls) / j["call_seconds"] for j in jobs]
    plain, job, call = (statistics.median(x) for x in (plain_rates, job_rates, call_rates))
    mid = sorted(jobs, key=lambda j: j["crawl_seconds"])[len(jobs) // 2]
    result = {
        "pages": args.pages, "hosts": args.hosts, "rounds": args.rounds, "cpus": args.cpus,
        "actors": mid["config"]["job"]["actors"] or args.cpus, "batch_urls": args.batch_urls,
        "concurrency_per_actor": args.concurrency, "machine_cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "plain_pages_per_s": round(plain), "job_pages_per_s": round(job), "job_call_pages_per_s": round(call),
        "ratio": round(job / plain, 3),
        "ratio_per_round_median": round(statistics.median(j / p for j, p in zip(job_rates, plain_rates)), 3),
        "ray_start_s": round(ray_start, 2),
        "actors_start_s_median": round(statistics.median(j["actors_start_seconds"] for j in jobs), 2),
        "plain_rounds": [round(r) for r in plain_rates], "job_rounds": [round(r) for r in job_rates],
        "median_job_breakdown_s": {k: mid[k] for k in ("crawl_seconds", "actor_seconds", "actor_cpu_seconds", "write_seconds",
                                                       "register_seconds", "actors_start_seconds", "seconds")},
        "volumes": mid["volumes"], "volume_bytes": mid["volume_bytes"], "body_bytes": mid["body_bytes"],
        "targets": {"ratio": 0.4, "job_pages_per_s": 2000},
    }
    print(f"{'client':<34}{'pages/s (median)':>18}   rounds (pages/s)")
    print(f"{'plain aiohttp loop (128)':<34}{plain:>18.0f}   {result['plain_rounds']}")
    print(f"{'haybale crawl job (dispatch→reg.)':<34}{job:>18.0f}   {result['job_rounds']}")
    print(f"{'haybale crawl job (whole call)':<34}{call:>18.0f}   {[round(r) for r in call_rates]}")
    print(f"ratio job/plain: {job / plain:.2f} of medians, {result['ratio_per_round_median']:.2f} median of per-round "
          f"ratios (target >= 0.4); job target >= 2000 pages/s. Ray start {ray_start:.1f} s (once), actors start "
          f"{result['actors_start_s_median']} s per job; {result['actors']} actors, batches of {args.batch_urls}")
    print(f"median job: {result['median_job_breakdown_s']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
