"""Catalog service benchmark: lookups over HTTP (``haybale catalog serve`` + CatalogClient) against the
embedded catalog, side by side in one run on the same catalog.

- single-key ``get`` latency p50/p99: HTTP keep-alive (``CatalogClient.get``) vs ``Catalog.get``
- ``get_many`` keys/s with batches of 1,000 and 10,000 URL keys: HTTP vs embedded ``get_many``
- single-key latency over HTTP while another client sends 10,000-key batches (the event loop must not
  stall behind a big batch)
- whether rocksdict releases the GIL during a multi-get (how fast a Python thread runs beside it)

Embedded and HTTP passes alternate; medians and the median of per-pass ratios are reported (the
machine is shared, so absolute numbers drift). The service runs as a separate process, as users run
it, so client and server each have a core.

    python -m bench.catalog_service_bench                      # 10^6 entries
    python -m bench.catalog_service_bench --entries 100000     # quicker

Writes bench/results/catalog_service_bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench.catalog_bench import batched_rate, make_keys, prepare, single_latencies
from catalog.bulk import register_bulk
from catalog.catalog import Catalog
from catalog.client import CatalogClient
from catalog.keys import canonical_key, key_id
from catalog.service_run import spawn_service
from catalog.store import Store
from catalog.tokens import generate_token

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
RECORDS_PER_VOLUME = 125_000  # bench.catalog_bench.synthetic_locations packs this many per volume


def build_root(root: Path, keys: list[str]) -> float:
    """A deployment root whose catalog holds ``keys`` (bulk path) and whose volume table names every
    volume the synthetic locations point into; returns the seconds it took."""
    t0 = time.perf_counter()
    entries, _ = prepare(keys)
    with Store(str(root)) as store:
        for number in range(1, len(keys) // RECORDS_PER_VOLUME + 2):
            got = store.catalog.volumes.add(f"{store.volumes_url}/synthetic-{number:05d}.warc.gz",
                                            {"bytes": 10**9, "records": RECORDS_PER_VOLUME, "kind": "synthetic"})
            assert got == number
        register_bulk(store.catalog, entries)
    return time.perf_counter() - t0


def stop_service(proc: subprocess.Popen[str]) -> float:
    """SIGTERM, then the seconds until it exited."""
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return time.perf_counter() - t0


def batches_of(keys: list[str], rng: random.Random, size: int, total: int) -> list[list[str]]:
    return [[keys[rng.randrange(len(keys))] for _ in range(size)] for _ in range(max(1, total // size))]


def latency_under_load(client_url: str, singles: list[str], batch: list[str]) -> dict[str, float]:
    """Single-get latency from one client while another sends ``batch`` requests back to back."""
    stop = threading.Event()
    sent = [0]

    def hammer() -> None:
        with CatalogClient(client_url) as loader:
            while not stop.is_set():
                loader.get_many(batch)
                sent[0] += 1

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        with CatalogClient(client_url) as c:
            lat = single_latencies(c.get, singles)
    finally:
        stop.set()
        thread.join()
    return {**lat, "batches_during": sent[0]}


def spinner_rate(fn: Callable[[], object]) -> float:
    """Iterations/s of a pure-Python loop in another thread while ``fn`` runs in this one. Beside a
    call that releases the GIL the spinner gets a whole core; beside one that holds it, about half
    (the interpreter hands the GIL over every switch interval)."""
    count = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    return count[0] / seconds


def gil_release(cat: Catalog, batch: list[str], repeats: int = 3) -> dict[str, float]:
    """Does rocksdict release the GIL during a multi-get? The spinner's progress beside one shard's
    multi-get, relative to its progress beside ``time.sleep`` (GIL released: 1.0) and beside a
    pure-Python loop (GIL held)."""
    ids = sorted(key_id(canonical_key(k)) for k in batch)
    shard = cat.shards[0]
    mine = [kid for kid in ids if cat.shard_of(kid) == 0]

    def multiget() -> None:
        deadline = time.perf_counter() + 0.4
        while time.perf_counter() < deadline:
            shard.get_many(mine)

    def python_loop() -> None:
        deadline = time.perf_counter() + 0.4
        x = 0
        while time.perf_counter() < deadline:
            x += 1

    ratios_get, ratios_py = [], []
    for _ in range(repeats):
        sleeping = spinner_rate(lambda: time.sleep(0.4))
        ratios_get.append(spinner_rate(multiget) / sleeping)
        ratios_py.append(spinner_rate(python_loop) / sleeping)
    return {"spinner_beside_multiget_vs_sleep": statistics.median(ratios_get),
            "spinner_beside_python_vs_sleep": statistics.median(ratios_py)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--singles", type=int, default=5_000, help="single gets per measurement")
    ap.add_argument("--batch-keys", type=int, default=100_000, help="keys per batched measurement pass")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved passes; medians are reported")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hb-bench-service-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    n = args.entries
    result: dict[str, Any] = {"entries": n, "machine_cores": os.cpu_count(), "repeats": args.repeats}
    proc = None
    try:
        print(f"building a catalog of {n:,} keys ...", flush=True)
        keys = make_keys(n)
        result["build_seconds"] = build_root(work / "root", keys)
        os.environ.setdefault("HAYBALE_TOKEN", generate_token())  # the clients below read it
        proc, url, _ = spawn_service(str(work / "root"), env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(REPO))
        singles = [keys[rng.randrange(n)] for _ in range(args.singles)]
        with Catalog.open(work / "root" / "catalog", read_only=True) as cat, CatalogClient(url) as client:
            print("single gets ...", flush=True)
            assert client.get(singles[0]) == cat.get(singles[0])
            single_latencies(cat.get, singles[:1000])  # warm both
            single_latencies(client.get, singles[:1000])
            embedded_lat, http_lat = [], []
            for _ in range(args.repeats):  # interleaved, so a load change on the shared machine hits both
                embedded_lat.append(single_latencies(cat.get, singles))
                http_lat.append(single_latencies(client.get, singles))
            result["single_get"] = {
                "embedded": _median_latency(embedded_lat), "http": _median_latency(http_lat),
                "p50_ratio_http_vs_embedded": statistics.median(
                    h["p50_us"] / e["p50_us"] for h, e in zip(http_lat, embedded_lat))}
            result["get_many"] = {}
            for size in (1_000, 10_000):
                print(f"get_many, batches of {size:,} ...", flush=True)
                batches = batches_of(keys, rng, size, args.batch_keys)
                assert client.get_many(batches[0]) == cat.get_many(batches[0])
                emb, over_http = [], []
                for _ in range(args.repeats):
                    emb.append(batched_rate(cat.get_many, batches, 1))
                    over_http.append(batched_rate(client.get_many, batches, 1))
                result["get_many"][str(size)] = {
                    "embedded_keys_per_s": statistics.median(emb), "http_keys_per_s": statistics.median(over_http),
                    "ratio_http_vs_embedded": statistics.median(h / e for h, e in zip(over_http, emb))}
            print("single gets under batch load ...", flush=True)
            result["single_get"]["http_under_10k_batch_load"] = latency_under_load(
                url, singles[:2000], batches_of(keys, rng, 10_000, 10_000)[0])
            print("GIL release ...", flush=True)
            result["gil"] = gil_release(cat, batches_of(keys, rng, 10_000, 10_000)[0])
        result["sigterm_exit_seconds"] = stop_service(proc)
        result["service_exit_code"] = proc.returncode
        proc = None
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    (RESULTS / "catalog_service_bench.json").write_text(json.dumps(result, indent=2))
    print_table(result)
    return result


def _median_latency(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in ("p50_us", "p99_us")}


def print_table(r: dict[str, Any]) -> None:
    sg = r["single_get"]
    rows: list[tuple[str, str]] = [
        ("entries", f"{r['entries']:,}"),
        ("single get, embedded Catalog.get", f"p50 {sg['embedded']['p50_us']:.1f} µs, p99 {sg['embedded']['p99_us']:.1f} µs"),
        ("single get, HTTP keep-alive", f"p50 {sg['http']['p50_us']:.1f} µs, p99 {sg['http']['p99_us']:.1f} µs"),
        ("  p50 ratio HTTP / embedded", f"{sg['p50_ratio_http_vs_embedded']:.1f}x"),
        ("single get, HTTP, beside 10k-key batches",
         f"p50 {sg['http_under_10k_batch_load']['p50_us']:.1f} µs, p99 {sg['http_under_10k_batch_load']['p99_us']:.1f} µs"),
    ]
    for size, g in r["get_many"].items():
        rows.append((f"get_many batches of {int(size):,}, embedded", f"{g['embedded_keys_per_s']:,.0f} keys/s"))
        rows.append((f"get_many batches of {int(size):,}, HTTP", f"{g['http_keys_per_s']:,.0f} keys/s"))
        rows.append(("  ratio HTTP / embedded", f"{g['ratio_http_vs_embedded']:.2f}x"))
    rows.append(("Python thread's speed beside a multi-get", f"{r['gil']['spinner_beside_multiget_vs_sleep']:.2f} "
                 f"(1.0 = GIL released; beside Python code: {r['gil']['spinner_beside_python_vs_sleep']:.2f})"))
    rows.append(("service exit after SIGTERM", f"{r['sigterm_exit_seconds']:.2f} s (code {r['service_exit_code']})"))
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()
