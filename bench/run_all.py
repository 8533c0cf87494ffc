"""``make bench``: every benchmark, one after the other, each comparing side by side in its own run.

    python -m bench.run_all                 # all of them
    python -m bench.run_all catalog_bench   # just these modules

Each module's ``main()`` prints its table and writes bench/results/<name>.json; this writes
bench/results/summary.json with the wall time of each.
"""
from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

BENCHMARKS = ["catalog_bench", "catalog_size_options", "catalog_format_options", "catalog_columnar_estimate",
              "catalog_growth", "catalog_rebuild_bench", "catalog_delete_bench",
              "ingest_files_bench", "ingest_warc_index", "ingest_warc_job", "warc_ingest_bench", "ingest_crawl",
              "ingest_crawl_job", "dedup_minhash", "dedup_clean", "dedup_neardup", "dedup_e2e", "dedup_scale",
              "catalog_service_bench", "serve_load_bench", "cluster_bench", "catalog_plan_bench", "owner_checkpoint_bench"]
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or BENCHMARKS
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {}
    failed = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"== {name}: not present, skipped", flush=True)
                continue
            raise
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        try:
            module.main([])
            summary[name] = {"seconds": round(time.perf_counter() - started, 1), "ok": True}
        except Exception as exc:  # keep going: one broken benchmark must not hide the others
            print(f"!! {name} failed: {exc!r}", flush=True)
            summary[name] = {"seconds": round(time.perf_counter() - started, 1), "ok": False, "error": repr(exc)}
            failed.append(name)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
