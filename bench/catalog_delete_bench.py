"""What a ``catalog delete`` that outlives ``catalog rebuild`` costs: the delete itself (the deleted
captures' dates read and logged on the root first), and a rebuild that leaves the logged captures out,
side by side with the same rebuild given no log, in alternated rounds.

    python -m bench.catalog_delete_bench                     # 50,000 records, 5,000 of them deleted
    python -m bench.catalog_delete_bench --records 200000 --deleted 20000 --rounds 3

Writes bench/results/catalog_delete.json: keys deleted per second through ``Store.delete`` (and
through ``catalog.delete_many``, which logs nothing), the whole ``haybale catalog delete --keys-from``
command with its start-up, and the parallel rebuild's median seconds with and without the log.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.catalog_bench import RESULTS
from bench.catalog_rebuild_bench import build
from catalog.rebuild_parallel import rebuild_parallel
from catalog.store import Store

REPO = Path(__file__).resolve().parents[1]


def _delete_rates(root: str, keys: list[str]) -> dict[str, float]:
    """Store.delete of half the keys, catalog.delete_many of the other half (same sizes), in keys/s."""
    half = len(keys) // 2
    with Store(root) as store:
        t0 = time.perf_counter()
        assert store.delete(keys[:half]) == half
        logged = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert store.catalog.delete_many(keys[half:2 * half]) == half
        unlogged = time.perf_counter() - t0
    return {"store_delete_keys_per_s": half / logged, "delete_many_keys_per_s": half / unlogged,
            "logged_over_unlogged_seconds": logged / unlogged}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import ray

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--deleted", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hb-bench-delete-"))
    root = str(work / "root")
    result: dict[str, Any] = {"records": args.records, "deleted": args.deleted, "machine_cores": os.cpu_count()}
    try:
        build(root, args.records)
        with Store(root, read_only=True) as store:
            keys = list(store.list())
        picked = random.Random(7).sample(keys, 2 * args.deleted + 1000)
        result.update(_delete_rates(root, picked[:2 * args.deleted]))  # args.deleted logged, as many not
        listed = work / "takedown.txt"
        listed.write_text("".join(k + "\n" for k in picked[2 * args.deleted:]))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "haybale", "--root", root, "catalog", "delete", "--keys-from",
                        str(listed)], check=True, capture_output=True, env=env)
        result["command_seconds_1000_keys"] = time.perf_counter() - t0
        ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
        times: dict[str, list[float]] = {"with_log": [], "without_log": []}
        for n in range(args.rounds):
            for name in (("with_log", "without_log") if n % 2 == 0 else ("without_log", "with_log")):
                target_dir = work / f"rebuilt-{name}-{n}"
                deletes = f"{root}/deletes" if name == "with_log" else str(work / "no-log")
                t0 = time.perf_counter()
                with Store(root, catalog_dir=str(target_dir), new_meta=_fresh(root)) as target:
                    report = rebuild_parallel(f"{root}/volumes", target, progress=lambda _: None, deletes_url=deletes)
                times[name].append(time.perf_counter() - t0)
                # logged: the Store.delete half and the command's 1,000; delete_many's half comes back
                logged = args.deleted + 1000 if name == "with_log" else 0
                assert report.deleted == logged and report.records == args.records - logged, (name, report.as_dict())
                result[f"{name}_left_out"] = report.deleted
                shutil.rmtree(target_dir, ignore_errors=True)
        ray.shutdown()
        for name, values in times.items():
            result[f"rebuild_{name}_seconds_median"] = statistics.median(values)
            result[f"rebuild_{name}_seconds"] = values
        result["rebuild_with_over_without"] = (result["rebuild_with_log_seconds_median"]
                                               / result["rebuild_without_log_seconds_median"])
        result["load_avg"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalog_delete.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


def _fresh(root: str) -> Any:
    from catalog.catalog_meta import fresh_meta, load_meta

    return fresh_meta(load_meta(root))


if __name__ == "__main__":
    main()
