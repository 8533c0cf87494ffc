"""``catalog rebuild`` from the volumes' CDXJ sidecars: the parallel Ray job against the serial rebuild,
side by side in one run over the same volumes.

    python -m bench.catalog_rebuild_bench                    # 200,000 records of ~300 B in 64 MB volumes
    python -m bench.catalog_rebuild_bench --records 500000

Both read every volume once whole and verify every record (gzip CRC, WARC header, payload digest);
the parallel job does it in Ray tasks and writes the catalog as SST files per shard, the serial one
registers volume by volume. Writes bench/results/catalog_rebuild.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.catalog_bench import RESULTS
from catalog.rebuild import rebuild
from catalog.rebuild_parallel import rebuild_parallel
from catalog.store import Store
from catalog.warc_records import response_record


def build(root: str, records: int, seed: int = 5) -> int:
    """``records`` small response records (~300 B bodies) in 64 MB volumes; returns volume bytes."""
    rng = random.Random(seed)
    words = [w.encode() for w in "hay bale needle volume catalog shard warc record crawl data".split()]
    total = 0
    with Store(root) as store:
        writer = store.writer(max_bytes=64 << 20)
        sealed = []
        for i in range(records):
            url = f"https://h{rng.randrange(records // 40 + 1)}.example.org/p/{i}"
            body = b" ".join(rng.choice(words) for _ in range(50))
            sealed += writer.append(url, response_record(url, "HTTP/1.1 200 OK", [("Content-Type", "text/plain")], body))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s, bulk=True)
            total += s.bytes
    return total


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import ray

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hb-bench-rebuild-"))
    root = str(work / "root")
    result: dict[str, Any] = {"records": args.records, "machine_cores": os.cpu_count()}
    try:
        result["volume_bytes"] = build(root, args.records)
        ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
        t0 = time.perf_counter()
        with Store(root, catalog_dir=str(work / "parallel")) as target:
            report = rebuild_parallel(f"{root}/volumes", target, progress=lambda _: None)
        result["parallel_seconds"] = time.perf_counter() - t0
        result["parallel_records"] = report.records
        t0 = time.perf_counter()
        with Store(root, catalog_dir=str(work / "serial")) as target:
            serial = rebuild(f"{root}/volumes", target, progress=lambda _: None)
        result["serial_seconds"] = time.perf_counter() - t0
        result["serial_records"] = serial.records
        ray.shutdown()
        result["parallel_records_per_s"] = args.records / result["parallel_seconds"]
        result["serial_records_per_s"] = args.records / result["serial_seconds"]
        result["speedup"] = result["serial_seconds"] / result["parallel_seconds"]
        result["load_avg"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalog_rebuild.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
