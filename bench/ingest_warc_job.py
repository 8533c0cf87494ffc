"""WARC ingest job speed: in-place indexing and repacking on Ray, side by side with plain FastWARC.

Generates ``--mb`` MB of gzip-per-record WARC with the generator of ``bench/ingest_warc_index.py``
(response records with 2-30 KB HTML bodies, written by warcio as Common Crawl does). Then, alternating
in each round, times:

- plain FastWARC iteration over the same files (one core; no HTTP parsing; the reference),
- the whole in-place job (``run_warc_job``: reader, verified payload digest, CDXJ index files,
  catalog registration) on a local Ray with 2 CPUs, into a fresh root each round,
- the same per-split work in this process without Ray (one core: the fair per-core comparison),
- the repack job (records re-written into volumes, ISA-L level 2), into a fresh root.

Ray's start-up (including starting and warming its 2 worker processes) is timed separately and
excluded from the job rates (the job reuses the initialized Ray).

Run: ``.venv/bin/python -m bench.ingest_warc_job [--mb 300] [--rounds 3]``
Writes ``bench/results/ingest_warc_job.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.ingest_warc_index import fastwarc_pass, generate
from catalog.store import Store
from ingest.file_sources import expand_inputs, plan_splits
from ingest.warc_indexing import IndexOptions, index_split
from ingest.warc_job import WarcJobConfig, run_warc_job

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_warc_job.json"


def _job(work: Path, data: Path, repack: bool, tag: str) -> tuple[float, int, dict[str, Any]]:
    root = work / f"root-{tag}"
    with Store(str(root)) as store:
        t0 = time.perf_counter()
        summary = run_warc_job(store, [str(data)], WarcJobConfig(run_id=tag, repack=repack, split_files=1),
                               show_progress=False)
        secs = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    out = summary.as_dict()
    return secs, summary.records, {k: out[k] for k in ("indexed", "repacked", "added", "volumes", "volume_bytes")}


def _in_process(work: Path, data: Path) -> tuple[float, int]:
    splits = plan_splits(expand_inputs([str(data)]).files, max_files=1, max_bytes=1)
    t0 = time.perf_counter()
    n = 0
    for split in splits:
        result = index_split(split, str(work / "vols"), str(work / "idx"), IndexOptions())
        n += sum(f.records for f in result.files)
    secs = time.perf_counter() - t0
    shutil.rmtree(work / "idx", ignore_errors=True)
    return secs, n


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300, help="MB of generated gzip-per-record WARC")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    import ray

    work = Path(tempfile.mkdtemp(prefix="hb-warc-job-bench-"))
    data = work / "data"
    data.mkdir()
    started_ray = False
    try:
        t0 = time.perf_counter()
        paths = generate(data, args.mb)
        gen_secs = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths)
        t0 = time.perf_counter()
        if not ray.is_initialized():
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            started_ray = True
        # worker processes start on first use: start and warm them here, as part of Ray's start-up
        ray.get([ray.remote(_warm_worker).remote() for _ in range(int(ray.cluster_resources().get("CPU", 2)))])
        ray_secs = time.perf_counter() - t0
        rates: dict[str, list[float]] = {"fastwarc": [], "in_place_job": [], "in_place_one_process": [],
                                         "repack_job": []}
        records: dict[str, int] = {}
        detail: dict[str, Any] = {}
        runs: dict[str, Callable[[int], tuple[float, int]]] = {
            "fastwarc": lambda r: _timed_fastwarc(paths),
            "in_place_job": lambda r: _job_rate(work, data, False, f"inplace{r}", detail),
            "in_place_one_process": lambda r: _in_process(work, data),
            "repack_job": lambda r: _job_rate(work, data, True, f"repack{r}", detail),
        }
        for r in range(args.rounds):
            for name, run in runs.items():
                secs, n = run(r)
                rates[name].append(n / secs)
                records[name] = n
    finally:
        if started_ray:
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "generated": {"files": len(paths), "bytes": size, "generate_seconds": round(gen_secs, 1)},
        "ray_start_seconds": round(ray_secs, 2), "records": records,
        "records_per_s": {k: round(v) for k, v in med.items()},
        "rounds": {k: [round(x) for x in v] for k, v in rates.items()},
        "mb_per_s": {k: round(v * size / max(records[k], 1) / 1e6, 1) for k, v in med.items()},
        "ratio_in_place_job_vs_fastwarc": round(med["in_place_job"] / med["fastwarc"], 3),
        "ratio_in_place_one_process_vs_fastwarc": round(med["in_place_one_process"] / med["fastwarc"], 3),
        "ratio_repack_job_vs_fastwarc": round(med["repack_job"] / med["fastwarc"], 3),
        "job_detail": detail, "target_ratio": 0.7, "job_cpus": 2,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    print(f"generated {len(paths)} files, {size / 2**20:.0f} MB gzip-per-record WARC; Ray start-up "
          f"{ray_secs:.1f} s (not in the rates)")
    print(f"{'reader':<24}{'records':>9}{'records/s (median)':>20}{'MB/s':>8}{'vs FastWARC':>13}")
    for name in rates:
        print(f"{name:<24}{records[name]:>9}{result['records_per_s'][name]:>20}{result['mb_per_s'][name]:>8}"
              f"{med[name] / med['fastwarc']:>13.2f}")
    print(f"in-place job / FastWARC = {result['ratio_in_place_job_vs_fastwarc']:.2f} (target >= 0.7; the job "
          "runs 2 worker processes, FastWARC one)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _warm_worker() -> bool:
    import ingest.warc_indexing  # noqa: F401 - the job's imports, loaded once per worker process

    return True


def _timed_fastwarc(paths: list[Path]) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fastwarc_pass(paths)
    return time.perf_counter() - t0, n


def _job_rate(work: Path, data: Path, repack: bool, tag: str, detail: dict[str, Any]) -> tuple[float, int]:
    secs, n, info = _job(work, data, repack, tag)
    detail["repack" if repack else "in_place"] = info
    return secs, n


if __name__ == "__main__":
    main()
