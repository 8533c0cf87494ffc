"""Crawl throughput: the haybale crawler vs a plain aiohttp fetch loop, side by side in one run.

A local site of ``--pages`` pages (~5 KB HTML each) over ``--hosts`` host names is served by a real
server process (this module with ``--serve``) on loopback; host names map to 127.0.0.1..127.0.0.8
through a static resolver (the server listens on those 8 addresses). Politeness is off. Each round runs
the plain loop (128 concurrent requests, bodies read and dropped) and then the crawler (robots.txt,
URL normalization, caps, FetchResult creation, results in batches) over the same URLs; the table reports
the median pages/s of each and the ratio.

Run: ``.venv/bin/python -m bench.ingest_crawl [--pages 20000] [--hosts 64] [--rounds 3]``
Writes ``bench/results/ingest_crawl.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from ingest.crawl import CrawlConfig, Crawler, Outcome
from ingest.crawl.addresses import GuardedResolver

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_crawl.json"
LOOPBACK_IPS = [f"127.0.0.{i}" for i in range(1, 9)]
PAGE_FILLER = ("<p>Hay is grass, legumes, or other herbaceous plants that have been cut and dried to be stored "
               "for use as animal fodder.</p>\n") * 38


def host_name(i: int) -> str:
    return f"h{i}.bench.example"


def site_map(hosts: int) -> dict[str, str]:
    return {host_name(i): LOOPBACK_IPS[i % len(LOOPBACK_IPS)] for i in range(hosts)}


def page_urls(pages: int, hosts: int, port: int) -> list[str]:
    return [f"http://{host_name(i % hosts)}:{port}/p/{i}" for i in range(pages)]


# ---- the site (runs in its own process) -------------------------------------------------------------

def serve(port: int) -> None:
    """Serve the benchmark site on every loopback address of LOOPBACK_IPS at ``port`` until killed."""
    from aiohttp import web

    robots = b"User-agent: *\nDisallow: /private/\n"

    async def handle(request: web.BaseRequest) -> web.Response:
        path = request.path
        if path == "/robots.txt":
            return web.Response(body=robots, content_type="text/plain")
        body = (f"<!doctype html><html><head><title>Page {path}</title></head><body><h1>{path}</h1>\n"
                f"{PAGE_FILLER}<a href=\"/p/next\">next</a></body></html>").encode()
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    async def main() -> None:
        server = web.Server(handle, access_log=None)
        loop = asyncio.get_running_loop()
        for ip in LOOPBACK_IPS:
            await loop.create_server(server, ip, port, reuse_address=True, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.ingest_crawl", "--serve", str(port)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"benchmark server did not start (said {line!r})")
    return proc, port


# ---- the two clients ---------------------------------------------------------------------------------

async def plain_loop(urls: list[str], hosts: dict[str, str], concurrency: int = 128) -> tuple[float, int]:
    """128 concurrent GETs over ``urls``, bodies read and dropped. Returns (seconds, pages with 200)."""
    connector = aiohttp.TCPConnector(limit=concurrency, resolver=GuardedResolver(True, hosts))
    ok = 0
    it = iter(urls)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal ok
            for url in it:
                async with session.get(url) as resp:
                    await resp.read()
                    ok += resp.status == 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, ok


async def crawler_run(urls: list[str], hosts: dict[str, str], concurrency: int = 128) -> tuple[float, int, int]:
    """The haybale crawler over ``urls``. Returns (seconds, pages ok, body bytes)."""
    config = CrawlConfig(politeness=False, allow_private=True, static_hosts=hosts, concurrency=concurrency,
                         max_retries=1, known_batch_size=1000, result_batch_size=1000)
    ok = nbytes = 0
    t0 = time.perf_counter()
    async for batch in Crawler(config).run(urls):
        for r in batch:
            if r.outcome is Outcome.OK:
                ok += 1
                nbytes += len(r.body)
    return time.perf_counter() - t0, ok, nbytes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return {}
    proc, port = start_server()
    try:
        hosts = site_map(args.hosts)
        urls = page_urls(args.pages, args.hosts, port)
        asyncio.run(plain_loop(urls[:500], hosts))  # warm up both sides
        plain_rates: list[float] = []
        crawl_rates: list[float] = []
        # Client CPU time per page does not depend on what else the shared machine runs.
        plain_cpu: list[float] = []
        crawl_cpu: list[float] = []
        for _ in range(args.rounds):
            cpu0 = time.process_time()
            secs, ok = asyncio.run(plain_loop(urls, hosts))
            plain_cpu.append((time.process_time() - cpu0) / len(urls) * 1e6)
            assert ok == len(urls), f"plain loop got {ok}/{len(urls)} pages"
            plain_rates.append(len(urls) / secs)
            cpu0 = time.process_time()
            secs, ok, nbytes = asyncio.run(crawler_run(urls, hosts))
            crawl_cpu.append((time.process_time() - cpu0) / len(urls) * 1e6)
            assert ok == len(urls), f"crawler got {ok}/{len(urls)} pages"
            crawl_rates.append(len(urls) / secs)
        page_bytes = nbytes // len(urls)
    finally:
        proc.terminate()
        proc.wait(10)
    plain, crawl = statistics.median(plain_rates), statistics.median(crawl_rates)
    result = {
        "pages": args.pages, "hosts": args.hosts, "rounds": args.rounds, "page_bytes": page_bytes,
        "cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "plain_pages_per_s": round(plain), "crawler_pages_per_s": round(crawl),
        "ratio": round(crawl / plain, 3),
        "ratio_per_round_median": round(statistics.median(c / p for c, p in zip(crawl_rates, plain_rates)), 3),
        "plain_client_cpu_us_per_page": round(statistics.median(plain_cpu), 1),
        "crawler_client_cpu_us_per_page": round(statistics.median(crawl_cpu), 1),
        "plain_rounds": [round(r) for r in plain_rates],
        "crawler_rounds": [round(r) for r in crawl_rates],
        "targets": {"ratio": 0.4, "crawler_pages_per_s": 2000},
    }
    print(f"{'client':<28}{'pages/s (median)':>18}{'client CPU us/page':>20}   rounds (pages/s)")
    print(f"{'plain aiohttp loop (128)':<28}{plain:>18.0f}{result['plain_client_cpu_us_per_page']:>20}"
          f"   {result['plain_rounds']}")
    print(f"{'haybale crawler':<28}{crawl:>18.0f}{result['crawler_client_cpu_us_per_page']:>20}"
          f"   {result['crawler_rounds']}")
    print(f"ratio crawler/plain: {crawl / plain:.2f} of medians, {result['ratio_per_round_median']:.2f} median of "
          f"per-round ratios (target >= 0.4); crawler target >= 2000 pages/s; "
          f"{args.pages} pages of {page_bytes} B over {args.hosts} hosts")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
