"""Load on the front door (``haybale serve --workers N``) on loopback, and batched lookups over HTTP vs
the embedded catalog, in one run on one root of real records.

1. ``--clients`` (100) concurrent clients, each on its own keep-alive connection, for ``--seconds``
   (30): a mix of single-key records (50 %), batched lookups of 100 keys (packed answer, 15 %),
   listings of 100 keys under a host (15 %) and content reads (20 %, a third of them with a Range).
   Every answer is checked (status and, for content, the bytes); reported: requests/s, p50/p99 per kind
   and overall, and errors (must be 0). The clients run in their own process (asyncio + aiohttp).
2. Batched lookups: ``Store.get_many`` in this process vs ``CatalogClient.get_many`` (batches of
   10,000 keys, packed answers) against the same service, passes alternating; medians and the median
   of per-pass ratios (target ≥ 0.8x).

    python -m bench.serve_load_bench                       # 100 clients, 30 s, 100,000 records, 2 workers
    python -m bench.serve_load_bench --seconds 5 --records 20000   # quicker

Writes bench/results/serve_load_bench.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from catalog.client import CatalogClient
from catalog.service_api import pack_keys
from catalog.service_run import spawn_service
from catalog.store import Store
from catalog.tokens import generate_token
from catalog.warc_records import response_record

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
HOSTS = 200
MIX = (("record", 50), ("lookup", 15), ("list", 15), ("content", 20))


def build_root(root: Path, records: int) -> tuple[list[str], float]:
    """A root with ``records`` real web-page records (200 hosts, bodies of 200 B-4 KB); returns the
    keys and the seconds it took."""
    rng = random.Random(7)
    t0 = time.perf_counter()
    keys = []
    with Store(str(root)) as store:
        writer = store.writer(max_bytes=64 << 20)
        sealed = []
        for i in range(records):
            url = f"https://host{i % HOSTS}.example/path/{i // HOSTS}/page-{i}.html"
            body = (b"<p>record %d</p>" % i) * rng.randint(12, 250)
            sealed += writer.append(url, response_record(url, "HTTP/1.1 200 OK", [("Content-Type", "text/html")], body))
            keys.append(url)
        sealed += writer.close()
        for volume in sealed:
            store.register_sealed(volume, bulk=True)
    return keys, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _client(session: Any, url: str, keys: list[str], rng: random.Random, until: float,
                  lat: dict[str, list[float]], errors: list[str]) -> None:
    kinds = [k for k, w in MIX for _ in range(w)]
    while time.perf_counter() < until:
        kind = rng.choice(kinds)
        key = keys[rng.randrange(len(keys))]
        t0 = time.perf_counter()
        try:
            if kind == "record":
                async with session.get(f"{url}/v1/record", params={"key": key}) as r:
                    ok = r.status == 200 and (await r.json())["key"] == key
            elif kind == "lookup":
                batch = [keys[rng.randrange(len(keys))] for _ in range(100)]
                async with session.post(f"{url}/v1/lookup", params={"format": "packed"}, data=pack_keys(batch),
                                        headers={"Content-Type": "application/x-haybale-keys"}) as r:
                    body = await r.read()
                    ok = r.status == 200 and len(body) == 100 * 23 and body[:100] == b"\x01" * 100
            elif kind == "list":
                prefix = f"https://host{rng.randrange(HOSTS)}.example/"
                async with session.get(f"{url}/v1/list", params={"prefix": prefix, "limit": "100"}) as r:
                    page = await r.json()
                    ok = r.status == 200 and len(page["keys"]) == min(100, len(keys) // HOSTS)
            else:
                i = int(key.rsplit("-", 1)[1].split(".")[0])
                want_start = b"<p>record %d</p>" % i
                ranged = rng.random() < 1 / 3
                headers = {"Range": "bytes=0-9"} if ranged else {}
                async with session.get(f"{url}/v1/content", params={"key": key}, headers=headers) as r:
                    body = await r.read()
                    ok = (r.status == 206 and body == want_start[:10]) if ranged else \
                        (r.status == 200 and body.startswith(want_start))
            if not ok:
                errors.append(f"{kind} {key}: unexpected answer {r.status}")
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            errors.append(f"{kind} {key}: {type(exc).__name__}: {exc}")
        lat[kind].append(time.perf_counter() - t0)


async def _load(url: str, token: str, keys: list[str], clients: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    lat: dict[str, list[float]] = {k: [] for k, _ in MIX}
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"Authorization": f"Bearer {token}"}) as session:
        t0 = time.perf_counter()
        until = t0 + seconds
        await asyncio.gather(*(_client(session, url, keys, random.Random(i), until, lat, errors)
                               for i in range(clients)))
        elapsed = time.perf_counter() - t0
    every = [x for v in lat.values() for x in v]
    return {
        "clients": clients, "seconds": round(elapsed, 2), "requests": len(every), "errors": len(errors),
        "error_samples": errors[:10], "requests_per_s": len(every) / elapsed,
        "p50_ms": percentile(every, 0.5) * 1e3, "p99_ms": percentile(every, 0.99) * 1e3,
        "by_kind": {k: {"requests": len(v), "p50_ms": percentile(v, 0.5) * 1e3, "p99_ms": percentile(v, 0.99) * 1e3}
                    for k, v in lat.items()},
    }


def _load_process(url: str, token: str, keys: list[str], clients: int, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_load(url, token, keys, clients, seconds)))


def batched_lookups(root: Path, url: str, token: str, keys: list[str], repeats: int) -> dict[str, Any]:
    rng = random.Random(3)
    batches = [[keys[rng.randrange(len(keys))] for _ in range(10_000)] for _ in range(10)]
    emb, over_http = [], []
    with Store(str(root), read_only=True, create=False) as store, CatalogClient(url, token=token) as client:
        assert client.get_many(batches[0]) == store.get_many(batches[0])
        for _ in range(repeats):
            for fn, into in ((store.get_many, emb), (client.get_many, over_http)):
                t0 = time.perf_counter()
                n = sum(len(fn(b)) for b in batches)
                into.append(n / (time.perf_counter() - t0))
    return {"batch_keys": 10_000, "passes": repeats, "embedded_keys_per_s": statistics.median(emb),
            "http_keys_per_s": statistics.median(over_http),
            "ratio_http_vs_embedded": statistics.median(h / e for h, e in zip(over_http, emb))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hb-bench-serve-"))
    result: dict[str, Any] = {"records": args.records, "workers": args.workers, "machine_cores": os.cpu_count(),
                              "load_average_before": os.getloadavg()}
    proc = None
    try:
        print(f"building a root of {args.records:,} records ...", flush=True)
        keys, result["build_seconds"] = build_root(work / "root", args.records)
        token = generate_token()
        proc, url, _ = spawn_service(str(work / "root"), "--workers", str(args.workers), "--refresh-seconds", "0",
                                     env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(REPO), token=token)
        print(f"{args.clients} clients for {args.seconds:g} s against {url} ({args.workers} workers) ...", flush=True)
        queue: Any = multiprocessing.get_context("spawn").Queue()
        loader = multiprocessing.get_context("spawn").Process(
            target=_load_process, args=(url, token, keys, args.clients, args.seconds, queue))
        loader.start()
        result["load"] = queue.get(timeout=args.seconds + 300)
        loader.join()
        print("batched lookups, embedded vs HTTP ...", flush=True)
        result["batched_lookups"] = batched_lookups(work / "root", url, token, keys, args.repeats)
        result["load_average_after"] = os.getloadavg()
        proc.send_signal(signal.SIGTERM)
        result["service_exit_code"] = proc.wait(timeout=60)
        proc = None
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    (RESULTS / "serve_load_bench.json").write_text(json.dumps(result, indent=2))
    print_table(result)
    return result


def print_table(r: dict[str, Any]) -> None:
    load, b = r["load"], r["batched_lookups"]
    print(f"\n{load['clients']} clients, {load['seconds']} s, {r['workers']} workers: {load['requests']:,} requests, "
          f"{load['requests_per_s']:,.0f} req/s, p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
          f"errors {load['errors']}")
    for kind, k in load["by_kind"].items():
        print(f"  {kind:8s} {k['requests']:>8,}  p50 {k['p50_ms']:.1f} ms  p99 {k['p99_ms']:.1f} ms")
    print(f"batched lookups (10,000 keys): embedded {b['embedded_keys_per_s']:,.0f} keys/s, HTTP "
          f"{b['http_keys_per_s']:,.0f} keys/s, HTTP/embedded {b['ratio_http_vs_embedded']:.2f}x")
    print(f"load average before {r['load_average_before']}, after {r['load_average_after']}")


if __name__ == "__main__":
    main()
