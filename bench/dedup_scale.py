"""The dedup job at scale: throughput per core against rensa, and time and memory from 10^5 to 10^7 documents.

Two parts, each run side by side in one process (``python -m bench.dedup_scale [throughput|scaling]``):

- **throughput**: 600,000 documents / 1.9 GB of JSONL in 20 files, 30 % planted copies
  (bench/dedup_corpus.py, seeded), ``haybale dedup run`` with its defaults as a subprocess, the
  whole process timed (Ray start-up included). In the same run, rensa's one-core MinHash rate from
  raw text (its ``RMinHash`` fed Python word 5-grams, as bench/dedup_minhash.py does) on 40 MB of
  the same corpus, measured right before each run. Reported: MB/s per core (input bytes / wall
  seconds / CPUs), its ratio to rensa, recall of the planted copies and whether unique text was
  lost; ``--repeat N`` runs (default 3), medians.
- **scaling**: short documents (20-40 words, 10 % planted copies) at 10^5, 10^6 and 10^7, files of
  250,000 documents (at least 4 files). For each: wall seconds, time (wall and CPU) per document, and the peak RSS
  of the driver process and of the largest Ray worker process (sampled every 0.2 s with psutil over
  the job's process tree). Plot: bench/results/dedup_scaling.png.

Corpora are cached under ``--cache`` (default /tmp/haybale-bench-dedup); 10^7 short documents take
~1.6 GB of JSONL and ~15 GB of work files while the job runs (deleted after each size).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import psutil

from bench.dedup_corpus import generate
from bench.dedup_e2e import _all_ids, _quality

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def run_job(shards: Path, output: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """``haybale dedup run`` as a subprocess; wall seconds and peak RSS of driver and workers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "haybale", "dedup", "run", "--input", str(shards), "--output", str(output), "--quiet", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = {"driver": 0, "largest_worker": 0, "other_processes_total": 0}
    driver = psutil.Process(process.pid)
    cpu_of: dict[int, float] = {}  # latest user+system CPU seconds of every process of the job
    while process.poll() is None:
        try:
            peaks["driver"] = max(peaks["driver"], driver.memory_info().rss)
            times = driver.cpu_times()
            cpu_of[driver.pid] = times.user + times.system
            system = 0
            for child in driver.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                    times = child.cpu_times()
                    cpu_of[child.pid] = times.user + times.system
                    command = " ".join(child.cmdline())
                    # Ray workers ("ray::..." / default_worker.py) or the local pool's workers (forked
                    # from its fork server, whose command line they carry; spawned before).
                    if (child.name().startswith("ray::") or "default_worker" in command or "spawn_main" in command
                            or "multiprocessing.forkserver" in command):
                        peaks["largest_worker"] = max(peaks["largest_worker"], rss)
                    else:
                        system += rss
                except psutil.Error:
                    continue
            peaks["other_processes_total"] = max(peaks["other_processes_total"], system)
        except psutil.Error:
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"dedup run failed ({process.returncode}): {stderr[-3000:]}")
    summary = json.loads((output / "summary.json").read_text())
    # CPU of the whole job: every process of its tree, as last sampled (the last 0.2 s of each
    # process is missed, so this slightly undercounts).
    cpu = sum(cpu_of.values())
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1),
            "peak_rss_mb": {k: round(v / 1e6, 1) for k, v in peaks.items()}, "summary": summary}


def rensa_rate(shards: Path, megabytes: float = 40.0, repeat: int = 3) -> tuple[float, float]:
    """rensa's one-core rate from raw text (Python 5-gram shingles + RMinHash), median of
    ``repeat``: (MB per wall second, MB per CPU second of this process)."""
    from rensa import RMinHash

    texts: list[str] = []
    size = 0
    for path in sorted(shards.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                texts.append(json.loads(line)["text"])
                size += len(texts[-1].encode())
                if size >= megabytes * 1e6:
                    break
        if size >= megabytes * 1e6:
            break

    def run() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            words = text.lower().split()
            minhash = RMinHash(num_perm=128, seed=42)
            minhash.update([" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))])
            minhash.digest()
        return time.perf_counter() - started, time.process_time() - cpu

    runs = [run() for _ in range(repeat)]
    return size / 1e6 / statistics.median(r[0] for r in runs), size / 1e6 / statistics.median(r[1] for r in runs)


def throughput(cache: Path, repeat: int = 1, scratch: Path | None = None) -> dict[str, Any]:
    """The 1.9 GB run ``repeat`` times, each right after its own rensa measurement (so each ratio
    compares two rates taken under the same machine load); medians over the runs, every run kept."""
    corpus = cache / "corpus-600000-20-p0.3"
    if not (corpus / "planted.json").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        generate(corpus, documents=600000, shards=20, planted_share=0.3)
    shards = corpus / "shards"
    size = sum(p.stat().st_size for p in shards.glob("*.jsonl"))
    cores = os.cpu_count() or 1
    planted = json.loads((corpus / "planted.json").read_text())
    all_ids = _all_ids(shards)
    runs = []
    for number in range(repeat):
        runs.append(_throughput_run(shards, size, cores, scratch or cache, planted, all_ids))
        run = runs[-1]
        print(f"throughput run {number + 1}/{repeat}: {run['seconds']:.1f} s = {run['mb_per_s_per_core']:.1f} MB/s per core "
              f"({run['mb_per_cpu_second']:.1f} MB per CPU second); rensa one core {run['rensa_one_core_mb_per_s']:.1f} MB/s "
              f"-> {run['ratio_vs_rensa']:.2f}x (per CPU second {run['cpu_ratio_vs_rensa']:.2f}x); recall "
              f"{run['recall_planted']}, unique text lost: {run['unique_text_lost']}; load {run['load_average_1m_after']}",
              flush=True)
    median = {key: round(statistics.median(r[key] for r in runs), 2)
              for key in ("seconds", "cpu_seconds", "mb_per_s_per_core", "mb_per_cpu_second", "rensa_one_core_mb_per_s",
                          "ratio_vs_rensa", "rensa_mb_per_cpu_second", "cpu_ratio_vs_rensa")}
    result = {
        "documents": runs[0]["documents"],
        "megabytes": round(size / 1e6, 1),
        "files": len(list(shards.glob("*.jsonl"))),
        "planted_copies": len(planted),
        "cores": cores,
        "runs": len(runs),
        **median,
        "median_of": "each figure is the median over the runs (ratios: median of the per-run ratios)",
        "recall_planted": min(r["recall_planted"] for r in runs),
        "unique_text_lost": any(r["unique_text_lost"] for r in runs),
        "every_run": runs,
    }
    print(f"throughput, median of {len(runs)}: {result['megabytes']} MB, {result['documents']:,} documents, {cores} cores: "
          f"{result['seconds']:.1f} s = {result['mb_per_s_per_core']:.1f} MB/s per core; rensa {result['rensa_one_core_mb_per_s']:.1f}"
          f" MB/s -> {result['ratio_vs_rensa']:.2f}x; per CPU second {result['cpu_ratio_vs_rensa']:.2f}x")
    return result


def _throughput_run(shards: Path, size: int, cores: int, scratch: Path, planted: Any, all_ids: Any) -> dict[str, Any]:
    rensa, rensa_cpu = rensa_rate(shards)
    output = Path(tempfile.mkdtemp(prefix="dedup-scale-", dir=scratch)) / "out"
    try:
        job = run_job(shards, output)
        import pyarrow.parquet as pq

        removed = set(pq.read_table(output / "removed").column("id").to_pylist())
    finally:
        shutil.rmtree(output.parent, ignore_errors=True)
    per_core = size / 1e6 / job["seconds"] / cores
    return {
        "documents": job["summary"]["documents"]["input"],
        "seconds": job["seconds"],
        "cpu_seconds": job["cpu_seconds"],
        "mb_per_s_per_core": round(per_core, 2),
        "mb_per_cpu_second": round(size / 1e6 / job["cpu_seconds"], 2),
        "rensa_one_core_mb_per_s": round(rensa, 2),
        "ratio_vs_rensa": round(per_core / rensa, 2),
        "rensa_mb_per_cpu_second": round(rensa_cpu, 2),
        # Load-independent: the job's MB per CPU second (all its processes) vs rensa's.
        "cpu_ratio_vs_rensa": round(size / 1e6 / job["cpu_seconds"] / rensa_cpu, 2),
        "peak_rss_mb": job["peak_rss_mb"],
        "stage_seconds": job["summary"]["seconds"],
        "wave_seconds": job["summary"].get("seconds_by_wave"),
        "wave_cpu_seconds": job["summary"].get("cpu_seconds_by_wave"),
        "partitions": job["summary"].get("partitions"),
        **_quality(removed, all_ids, planted),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def short_corpus(directory: Path, documents: int, per_file: int = 250_000, seed: int = 7) -> Path:
    """``documents`` short JSONL documents (20-40 words of a 50,000-word vocabulary), 10 % of them
    planted copies of an earlier document (exact, or one word changed). Seeded; cached."""
    shards = directory / "shards"
    done = directory / "done.json"
    if done.exists():
        return shards
    shutil.rmtree(directory, ignore_errors=True)
    shards.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = sorted({"".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(60000)})[:50000]
    words = np.array(vocabulary, dtype=object)
    files = max(4, -(-documents // per_file))
    per_file = -(-documents // files)
    texts: list[str] = []
    for number in range(files):
        begin, end = number * per_file, min(documents, (number + 1) * per_file)
        lengths = rng.integers(20, 41, end - begin)
        picks = words[rng.integers(0, len(words), int(lengths.sum()))]
        bounds = np.r_[0, np.cumsum(lengths)]
        lines = []
        for offset, index in enumerate(range(begin, end)):
            if index > 1000 and rng.random() < 0.1 and texts:
                source = texts[int(rng.integers(max(0, len(texts) - 200_000), len(texts)))]
                if rng.random() < 0.5:
                    parts = source.split(" ")
                    parts[int(rng.integers(0, len(parts)))] = str(words[int(rng.integers(0, len(words)))])
                    source = " ".join(parts)
                text = source
            else:
                text = " ".join(picks[bounds[offset] : bounds[offset + 1]])
            texts.append(text)
            lines.append(json.dumps({"id": f"s{index:09d}", "text": text}) + "\n")
        texts = texts[-200_000:]
        (shards / f"part-{number:04d}.jsonl").write_text("".join(lines))
    done.write_text(json.dumps({"documents": documents, "files": files}))
    return shards


def scaling(cache: Path, sizes: list[int], scratch: Path | None = None) -> dict[str, Any]:
    points = []
    for documents in sizes:
        shards = short_corpus(cache / f"short-{documents}", documents)
        output = Path(tempfile.mkdtemp(prefix="dedup-scale-", dir=scratch or cache)) / "out"
        try:
            job = run_job(shards, output)
        finally:
            shutil.rmtree(output.parent, ignore_errors=True)
        point = {
            "documents": documents,
            "megabytes": round(sum(p.stat().st_size for p in shards.glob("*.jsonl")) / 1e6, 1),
            "seconds": job["seconds"],
            "cpu_seconds": job["cpu_seconds"],
            "microseconds_per_document": round(job["seconds"] / documents * 1e6, 2),
            # CPU time per document (all the job's processes): what the job costs whatever the
            # machine's load, which on a shared machine swings the wall time of one size or another
            "cpu_microseconds_per_document": round(job["cpu_seconds"] / documents * 1e6, 2),
            "peak_rss_mb": job["peak_rss_mb"],
            "removed": job["summary"]["documents"]["removed"],
            "partitions": job["summary"].get("partitions"),
            "stage_seconds": job["summary"]["seconds"],
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
        points.append(point)
        print(f"scaling: {documents:>10,} documents {job['seconds']:8.1f} s {point['microseconds_per_document']:7.2f} us/doc "
              f"({point['cpu_microseconds_per_document']:.2f} CPU us/doc, load {point['load_average_1m_after']}) "
              f"driver {point['peak_rss_mb']['driver']:.0f} MB, largest worker {point['peak_rss_mb']['largest_worker']:.0f} MB",
              flush=True)
    result: dict[str, Any] = {"points": points}
    by_size = {p["documents"]: p for p in points}
    if 10**6 in by_size and 10**7 in by_size:
        result["time_per_document_ratio_1e7_vs_1e6"] = round(
            by_size[10**7]["microseconds_per_document"] / by_size[10**6]["microseconds_per_document"], 3)
        result["cpu_time_per_document_ratio_1e7_vs_1e6"] = round(
            by_size[10**7]["cpu_microseconds_per_document"] / by_size[10**6]["cpu_microseconds_per_document"], 3)
    _plot(points, RESULTS / "dedup_scaling.png")
    return result


def _plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [p["documents"] for p in points]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(sizes, [p["microseconds_per_document"] for p in points], marker="o", label="wall (2 CPUs)")
    if all("cpu_microseconds_per_document" in p for p in points):
        left.plot(sizes, [p["cpu_microseconds_per_document"] for p in points], marker="s", label="CPU (all processes)")
    left.legend()
    left.set_xscale("log")
    left.set_xlabel("documents")
    left.set_ylabel("µs per document (whole process)")
    left.set_ylim(bottom=0)
    left.set_title("Time per document")
    for key, label in (("driver", "driver"), ("largest_worker", "largest Ray worker")):
        right.plot(sizes, [p["peak_rss_mb"][key] for p in points], marker="o", label=label)
    right.set_xscale("log")
    right.set_xlabel("documents")
    right.set_ylabel("peak RSS, MB")
    right.set_ylim(bottom=0)
    right.set_title("Peak memory")
    right.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.dedup_scale")
    parser.add_argument("parts", nargs="*", default=["throughput", "scaling"], choices=["throughput", "scaling"])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="document counts of the scaling part")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "haybale-bench-dedup")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (each with its own rensa measurement); medians")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where the job's output and work files go while it runs (default: --cache; set it "
                             "when the cache is shared and must stay untouched)")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.scratch is not None:
        args.scratch.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "dedup_scale.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if "throughput" in args.parts:
        results["throughput"] = throughput(args.cache, args.repeat, args.scratch)
    if "scaling" in args.parts:
        results["scaling"] = scaling(args.cache, [int(s) for s in args.sizes.split(",")], args.scratch)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
