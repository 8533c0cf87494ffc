"""End-to-end near-dedup: datatrove vs a plain datasketch script vs ``haybale dedup run``.

One generated corpus (bench/dedup_corpus.py: >= 60,000 JSONL documents, ~190 MB, 10 % planted
near-duplicates of known 5-gram Jaccard 0.8-1.0), then, one after the other in the same run, each
as a subprocess timed by wall clock:

1. datatrove 0.10.1 MinHash pipeline, its defaults (5-grams, 14 buckets x 8 hashes), its
   LocalPipelineExecutor with 2 workers, all four stages (signatures, buckets, clusters, filter
   writing the kept documents). datatrove lives in its own venv ``.venv-datatrove`` (never the main
   one), created on first use with::

       python3.11 -m venv .venv-datatrove
       .venv-datatrove/bin/pip install 'datatrove[processing]==0.10.1' orjson spacy

2. a plain single-process script: datasketch ``MinHash.update_batch`` over word 5-grams, an
   in-memory ``MinHashLSH(threshold=0.8)``, first seen kept.
3. ``haybale dedup run`` with its defaults (its local process pool, 2 CPUs here).

Reported: seconds, ratios, recall of planted copies, documents removed that were not planted copies,
and planted groups left with no kept member ("unique text lost").

Run: ``.venv/bin/python -m bench.dedup_e2e`` (full) or ``--small`` (6,000 documents).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from bench.dedup_corpus import generate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dedup_e2e.json"
DATATROVE_VENV = ROOT / ".venv-datatrove"

DATATROVE_SCRIPT = '''
import json, sys
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

if __name__ == "__main__":
    data, work, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = MinhashConfig()
    stage1 = LocalPipelineExecutor(
        pipeline=[JsonlReader(data), MinhashDedupSignature(output_folder=f"{work}/signatures", config=config)],
        tasks=tasks, workers=2, logging_dir=f"{work}/logs/signatures")
    stage2 = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=config)],
        tasks=config.num_buckets, workers=2, logging_dir=f"{work}/logs/buckets", depends=stage1)
    stage3 = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config)],
        tasks=1, workers=1, logging_dir=f"{work}/logs/clusters", depends=stage2)
    stage4 = LocalPipelineExecutor(
        pipeline=[JsonlReader(data), MinhashDedupFilter(input_folder=f"{work}/remove_ids"), JsonlWriter(f"{work}/deduplicated")],
        tasks=tasks, workers=2, logging_dir=f"{work}/logs/filter", depends=stage3)
    stage4.run()
'''

PLAIN_SCRIPT = '''
import glob, json, sys
from datasketch import MinHash, MinHashLSH

if __name__ == "__main__":
    data, out = sys.argv[1], sys.argv[2]
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    removed = []
    for path in sorted(glob.glob(f"{data}/*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                words = record["text"].lower().split()
                shingles = [" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))]
                minhash = MinHash(num_perm=128)
                minhash.update_batch(shingles)
                if lsh.query(minhash):
                    removed.append(record["id"])
                else:
                    lsh.insert(record["id"], minhash)
    with open(out, "w") as handle:
        json.dump(removed, handle)
'''


def ensure_datatrove_venv() -> Path:
    """The datatrove interpreter, creating ``.venv-datatrove`` on first use (not the main venv)."""
    python = DATATROVE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(DATATROVE_VENV)], check=True)
        subprocess.run(
            [str(DATATROVE_VENV / "bin" / "pip"), "install", "-q", "datatrove[processing]==0.10.1", "orjson", "spacy"],
            check=True,
        )
    return python


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({completed.returncode}): {completed.stderr.decode()[-3000:]}")
    return elapsed


def _all_ids(shards: Path) -> list[str]:
    ids = []
    for path in sorted(shards.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            ids.extend(json.loads(line)["id"] for line in handle)
    return ids


def _quality(removed: set[str], all_ids: list[str], planted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for copy, info in planted.items():
        groups.setdefault(str(info["original"]), [str(info["original"])]).append(copy)
    caught = sum(1 for copy in planted if copy in removed)
    return {
        "removed": len(removed),
        "planted_copies": len(planted),
        "recall_planted": round(caught / max(len(planted), 1), 4),
        "removed_not_planted": len([d for d in removed if d not in planted]),
        "groups_without_kept_member": sum(1 for members in groups.values() if all(m in removed for m in members)),
        "unique_text_lost": any(d not in planted and d not in groups for d in removed)
        or any(all(m in removed for m in members) for members in groups.values()),
    }


def run_datatrove(shards: Path, work: Path, tasks: int) -> tuple[float, set[str], list[str]]:
    python = ensure_datatrove_venv()
    script = work / "datatrove_minhash.py"
    script.write_text(DATATROVE_SCRIPT)
    seconds = _timed([str(python), str(script), str(shards), str(work / "dt"), str(tasks)])
    kept: set[str] = set()
    import gzip

    for path in sorted((work / "dt" / "deduplicated").glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            kept.update(json.loads(line)["id"] for line in handle)
    return seconds, kept, []


def run_plain(shards: Path, work: Path) -> tuple[float, set[str]]:
    script = work / "plain_datasketch.py"
    script.write_text(PLAIN_SCRIPT)
    out = work / "plain_removed.json"
    seconds = _timed([sys.executable, str(script), str(shards), str(out)])
    return seconds, set(json.loads(out.read_text()))


def run_haybale(shards: Path, work: Path) -> tuple[float, set[str], dict[str, Any]]:
    output = work / "haybale"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds = _timed([sys.executable, "-m", "haybale", "dedup", "run", "--input", str(shards), "--output", str(output), "--quiet"], env)
    import pyarrow.parquet as pq

    removed = set(pq.read_table(output / "removed").column("id").to_pylist())
    summary = json.loads((output / "summary.json").read_text())
    return seconds, removed, summary


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.dedup_e2e")
    parser.add_argument("--small", action="store_true", help="6,000 documents instead of 60,000")
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "haybale-bench-dedup")
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args(argv)
    documents = args.documents or (6000 if args.small else 60000)
    shards_count = 4 if documents < 20000 else 16
    corpus_dir = args.cache / f"corpus-{documents}-{shards_count}"
    if not (corpus_dir / "planted.json").exists():
        shutil.rmtree(corpus_dir, ignore_errors=True)
        generate(corpus_dir, documents=documents, shards=shards_count)
    shards = corpus_dir / "shards"
    planted = json.loads((corpus_dir / "planted.json").read_text())
    size_mb = sum(p.stat().st_size for p in shards.glob("*.jsonl")) / 1e6
    all_ids = _all_ids(shards)
    work = Path(tempfile.mkdtemp(prefix="dedup-e2e-", dir=args.cache))
    results: dict[str, Any] = {"documents": len(all_ids), "megabytes": round(size_mb, 1), "shards": shards_count, "methods": {}}
    try:
        if not args.skip_datatrove:
            seconds, kept, _ = run_datatrove(shards, work, shards_count)
            removed = set(all_ids) - kept
            results["methods"]["datatrove"] = {"seconds": round(seconds, 2), **_quality(removed, all_ids, planted)}
        seconds, removed = run_plain(shards, work)
        results["methods"]["plain_datasketch"] = {"seconds": round(seconds, 2), **_quality(removed, all_ids, planted)}
        seconds, removed, summary = run_haybale(shards, work)
        results["methods"]["haybale"] = {
            "seconds": round(seconds, 2),
            **_quality(removed, all_ids, planted),
            "stage_seconds": summary.get("seconds"),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = results["methods"]["haybale"]["seconds"]
    for entry in results["methods"].values():
        entry["haybale_speedup"] = round(entry["seconds"] / ours, 2)
    print(f"near-dedup end to end: {results['documents']} documents, {size_mb:.0f} MB JSONL in {shards_count} shards, 2 CPUs")
    print(f"{'method':<18} {'seconds':>8} {'haybale x':>10} {'recall':>7} {'removed':>8} {'not planted':>12} {'groups lost':>12}")
    for name, entry in results["methods"].items():
        print(
            f"{name:<18} {entry['seconds']:8.1f} {entry['haybale_speedup']:10.2f} {entry['recall_planted']:7.4f}"
            f" {entry['removed']:8d} {entry['removed_not_planted']:12d} {entry['groups_without_kept_member']:12d}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = RESULTS if not args.small else RESULTS.with_name("dedup_e2e_small.json")
    out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
