"""Small files into volumes + catalog, side by side with ``tar -cf`` and ``tar -czf`` of the same tree.

    python -m bench.ingest_files_bench                 # 200,000 files of 1-16 KB text
    python -m bench.ingest_files_bench --files 20000   # quicker

``tar -czf`` is the same job (pack and gzip, on one core); ``tar -cf`` packs without compressing
(the page-cache limit). The files are read from the page cache by all three (``tar -cf`` runs first).
haybale runs the real job: a local Ray with 2 CPUs, splits of 5,000 files, per-record gzip (ISA-L),
WARC records, CDXJ sidecars and catalog registration. Ray's start-up is reported separately.
Writes bench/results/ingest_files.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def generate(directory: Path, count: int, seed: int = 1) -> int:
    """``count`` text files of 1-16 KB (Zipf-distributed words, so they compress like prose)."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("etaoinshrdlucmfwypvbgkjqxz") for _ in range(rng.randint(2, 10)))
             for _ in range(20000)]
    weights = [1 / (r + 1) for r in range(len(vocab))]
    total = 0
    for i in range(count):
        sub = directory / f"{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 16384)
        words = rng.choices(vocab, weights, k=size // 5)
        text = (" ".join(words) + "\n")[:size].encode()
        (sub / f"f{i:07d}.txt").write_bytes(text)
        total += len(text)
    return total


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hb-bench-files-"))
    try:
        src = work / "src"
        print(f"generating {args.files:,} files ...", flush=True)
        total = generate(src, args.files)
        tar_cf = timed(["tar", "-cf", str(work / "out.tar"), "src"], work)
        os.unlink(work / "out.tar")
        tar_czf = timed(["tar", "-czf", str(work / "out.tar.gz"), "src"], work)
        tgz_bytes = (work / "out.tar.gz").stat().st_size
        os.unlink(work / "out.tar.gz")

        import ray

        from catalog.store import Store
        from ingest.files_job import FilesJobConfig, run_files_job

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        try:
            with Store(str(work / "root")) as store:
                t0 = time.perf_counter()
                summary = run_files_job(store, [str(src)], FilesJobConfig(run_id="bench"), show_progress=False)
                hb = time.perf_counter() - t0
                records = store.catalog.stats()["records"]
        finally:
            ray.shutdown()
        assert records == args.files == summary.added, (records, summary.added)
        result = {
            "files": args.files, "bytes": total, "cpus": args.cpus,
            "tar_cf_s": tar_cf, "tar_czf_s": tar_czf, "haybale_s": hb, "ray_start_s": ray_start,
            "tar_cf_files_per_s": args.files / tar_cf, "tar_czf_files_per_s": args.files / tar_czf,
            "haybale_files_per_s": args.files / hb, "haybale_mb_per_s": total / hb / 1e6,
            "tar_czf_mb_per_s": total / tar_czf / 1e6, "tar_cf_mb_per_s": total / tar_cf / 1e6,
            "ratio_vs_tar_czf": tar_czf / hb, "ratio_vs_tar_cf": tar_cf / hb,
            "compressed_ratio_haybale": summary.volume_bytes / total, "compressed_ratio_tar_czf": tgz_bytes / total,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (RESULTS / "ingest_files.json").write_text(json.dumps(result, indent=2))
    rows = [
        ("files / bytes", f"{result['files']:,} / {result['bytes'] / 1e6:,.0f} MB"),
        ("tar -cf", f"{result['tar_cf_s']:.1f} s  {result['tar_cf_files_per_s']:,.0f} files/s  {result['tar_cf_mb_per_s']:,.0f} MB/s"),
        ("tar -czf", f"{result['tar_czf_s']:.1f} s  {result['tar_czf_files_per_s']:,.0f} files/s  {result['tar_czf_mb_per_s']:,.0f} MB/s"),
        ("haybale ingest files (Ray, 2 CPUs)", f"{result['haybale_s']:.1f} s  {result['haybale_files_per_s']:,.0f} files/s  {result['haybale_mb_per_s']:,.0f} MB/s"),
        ("  (+ Ray start-up, once)", f"{result['ray_start_s']:.1f} s"),
        ("haybale / tar -czf (rate)", f"{result['ratio_vs_tar_czf']:.2f}x"),
        ("haybale / tar -cf (rate)", f"{result['ratio_vs_tar_cf']:.2f}x"),
        ("compressed size: haybale / tar -czf", f"{result['compressed_ratio_haybale']:.3f} / {result['compressed_ratio_tar_czf']:.3f} of input"),
    ]
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    return result


if __name__ == "__main__":
    main()
