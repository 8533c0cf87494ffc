"""Issues 10/13: planning dedup's catalog input by the owners in parallel versus one process listing the
whole catalog, side by side in one run on the same catalog (owner actors on a local Ray)::

    .venv/bin/python -m bench.catalog_plan_bench [--entries 400000] [--owners 4] [--repeats 3]

The catalog holds ``--entries`` synthetic keys (``file:///bench/…``) registered in bulk through the
owners, pointing at 64 volume-table rows (planning reads no volume). Both planners cut splits of 2000
records and write their Parquet manifests under a fresh directory:

- ``whole_listing``: what dedup did before: the driver pulls every key through the owners' merged
  listing (``items``), looks each up and writes the manifests itself.
- ``owners``: :func:`dedup.catalog_source.plan_catalog_source`: every owner writes its own keys as
  pieces, one call in flight per owner; the driver gathers piece descriptors.

Reported per planner: median wall seconds, the driver's Python peak allocation (tracemalloc) and the
bytes of answers the driver received from the owners (pickled size of what the calls returned). Writes
bench/results/catalog_plan_bench.json.
"""
from __future__ import annotations

import argparse
import json
import pickle
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parent / "results"


def _whole_listing(store: Any, prefix: str, directory: Path) -> int:
    schema = pa.schema([("key", pa.string()), ("volume_url", pa.string()), ("offset", pa.int64()),
                        ("length", pa.int64()), ("digest", pa.uint64())])
    directory.mkdir(parents=True)
    rows: list[dict[str, Any]] = []
    urls: dict[int, str] = {}
    splits = 0
    for key, loc in store.items(prefix):
        if loc.volume not in urls:
            urls[loc.volume] = store.volume_url(loc.volume)
        rows.append({"key": key, "volume_url": urls[loc.volume], "offset": loc.offset, "length": loc.length,
                     "digest": loc.digest})
        if len(rows) >= 2000:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / f"split-{splits:06d}.parquet")
            rows.clear()
            splits += 1
    if rows:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / f"split-{splits:06d}.parquet")
        splits += 1
    return splits


def _owners(store: Any, prefix: str, directory: Path) -> int:
    from dedup.catalog_source import plan_catalog_source

    return len(plan_catalog_source(store.catalog, prefix, str(directory)).splits())


def _measure(run: Callable[[Path], int], work: Path, received: list[int]) -> dict[str, Any]:
    received.clear()
    tracemalloc.start()
    t0 = time.perf_counter()
    splits = run(work)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": seconds, "driver_peak_bytes": peak, "received_bytes": sum(received), "splits": splits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--owners", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ray

    from catalog.catalog_meta import load_meta
    from catalog.location import Location
    from catalog.owned_catalog import OwnedCatalog
    from catalog.owner_actor import stop_owners
    from catalog.store import Store

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    received: list[int] = []
    real_get = ray.get

    def counting_get(refs: Any, *a: Any, **k: Any) -> Any:
        answers = real_get(refs, *a, **k)
        received.append(len(pickle.dumps(answers, protocol=5)))
        return answers
    ray.get = counting_get  # every owner answer reaches this process through ray.get

    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = str(Path(tmp) / "root")
        store = Store(root, cluster=True, num_shards=args.owners)
        assert isinstance(store.catalog, OwnedCatalog)
        numbers = [store.catalog.volumes.add(f"file:///bench/volumes/v{n:03d}.warc.gz", {"kind": "volume"})
                   for n in range(64)]
        rng = np.random.default_rng(7)
        for start in range(0, args.entries, 200_000):
            n = min(200_000, args.entries - start)
            keys = [f"file:///bench/d{i % 997:03d}/f{i:09d}.txt" for i in range(start, start + n)]
            vols = rng.integers(0, 64, n)
            store.catalog.register_bulk_entries(keys, [Location(numbers[v], i * 4096, 3000 + i % 1000, i + 1)
                                                       for i, v in zip(range(start, start + n), vols.tolist())])
        results: dict[str, list[dict[str, Any]]] = {"whole_listing": [], "owners": []}
        for r in range(args.repeats):
            for name, planner in (("whole_listing", _whole_listing), ("owners", _owners)):
                work = Path(tmp) / f"{name}-{r}"
                results[name].append(_measure(lambda d, plan=planner: plan(store, "file:///bench/", d), work, received))
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
    ray.get = real_get
    summary = {name: {"median_seconds": round(statistics.median(x["seconds"] for x in runs), 3),
                      "driver_peak_mb": round(statistics.median(x["driver_peak_bytes"] for x in runs) / 1e6, 2),
                      "received_mb": round(statistics.median(x["received_bytes"] for x in runs) / 1e6, 3),
                      "splits": runs[0]["splits"]}
               for name, runs in results.items()}
    summary["ratio_seconds_whole_over_owners"] = round(
        summary["whole_listing"]["median_seconds"] / summary["owners"]["median_seconds"], 2)
    out = {"entries": args.entries, "owners": args.owners, "repeats": args.repeats, "summary": summary,
           "runs": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalog_plan_bench.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
