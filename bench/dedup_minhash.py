"""MinHash signature throughput on one core: haybale vs datasketch.MinHash.bulk vs rensa.

All methods start from raw text and end with 128-permutation signatures over word 5-grams, in the
same process, one after the other, repeated; medians reported. The competitors get their shingles
the plain Python way (``text.lower().split()``, joined 5-grams), which is what a user writes;
their time *with* shingling is the end-to-end figure, their hashing-only time is shown too.
Text: the 50 real aeb-dev articles, repeated to ``--mb`` megabytes.

haybale's kernels are compiled by numba on first use; that one-off cost is kept out of the timed
runs (one warm-up call) and reported on its own: the first call of a fresh process with an empty
numba cache (compilation) and again with the cache filled (loading), each in a subprocess.

Run: ``.venv/bin/python -m bench.dedup_minhash [--mb 8] [--repeat 5]``
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

RESULTS = Path(__file__).resolve().parent / "results" / "dedup_minhash.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "aeb-dev" / "ground-truth.json"
BATCH = 1000


def _texts(megabytes: float) -> list[str]:
    truth = json.loads(SHARED.read_text())
    articles = [truth[k]["articleBody"] for k in sorted(truth)]
    texts: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        for article in articles:
            texts.append(article)
            size += len(article.encode())
    return texts


def _plain_shingles(text: str) -> list[str]:
    words = text.lower().split()
    return [" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))]


def _median_seconds(function: Callable[[], object], repeat: int) -> float:
    """Median wall time; the garbage collector is off while timing (as timeit does), since its
    passes over the prepared shingle lists would otherwise be charged to whoever allocates next."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            function()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return statistics.median(times)


_FIRST_CALL_SCRIPT = """
import time
started = time.perf_counter()
from dedup.minhash import MinHasher
imported = time.perf_counter()
MinHasher().signatures(["a first small batch of words to hash"])
print(imported - started, time.perf_counter() - imported)
"""


def _first_call_seconds() -> dict[str, float]:
    """Import and first-call seconds of a fresh process, with an empty then a filled numba cache."""
    repo = Path(__file__).resolve().parents[1]
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="haybale-numba-cache-") as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("cold_cache", "warm_cache"):
            run = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL_SCRIPT], cwd=repo, env=env, capture_output=True, text=True, check=True
            )
            import_seconds, call_seconds = (float(v) for v in run.stdout.split())
            result[f"{label}_import"] = round(import_seconds, 3)
            result[f"{label}_first_call"] = round(call_seconds, 3)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.dedup_minhash")
    parser.add_argument("--mb", type=float, default=8.0, help="megabytes of text (default 8)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="quick run: 2 MB, 3 repeats")
    args = parser.parse_args(argv)
    if args.small:
        args.mb, args.repeat = 2.0, 3
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from datasketch import MinHash
    from rensa import RMinHash

    from dedup.minhash import MinHashConfig, MinHasher, shingle_hashes_words64
    from dedup.tokens import tokenize_batch

    texts = _texts(args.mb)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    hasher = MinHasher(MinHashConfig(num_perm=128, ngram=5))
    sha1_hasher = MinHasher(MinHashConfig(num_perm=128, ngram=5, hash="sha1"))

    def haybale(selected: MinHasher = hasher) -> None:
        for start in range(0, len(texts), BATCH):
            selected.signatures(texts[start : start + BATCH])

    def shingle_all_bytes() -> list[list[bytes]]:
        return [[s.encode() for s in _plain_shingles(t)] for t in texts]

    def shingle_all_str() -> list[list[str]]:
        return [_plain_shingles(t) for t in texts]

    prepared_bytes = shingle_all_bytes()
    prepared_str = shingle_all_str()

    def datasketch_bulk() -> None:
        MinHash.bulk(shingle_all_bytes(), num_perm=128)

    def datasketch_hash_only() -> None:
        MinHash.bulk(prepared_bytes, num_perm=128)

    def rensa_full() -> None:
        for shingles in shingle_all_str():
            minhash = RMinHash(num_perm=128, seed=42)
            minhash.update(shingles)
            minhash.digest()

    def rensa_hash_only() -> None:
        for shingles in prepared_str:
            minhash = RMinHash(num_perm=128, seed=42)
            minhash.update(shingles)
            minhash.digest()

    startup = _first_call_seconds()
    warm_up_started = time.perf_counter()
    haybale()  # compiles or loads the numba kernels; excluded from the timed runs, reported above
    warm_up_seconds = time.perf_counter() - warm_up_started
    measured = {
        "haybale (words64)": _median_seconds(haybale, args.repeat),
        "haybale (sha1, datasketch default hash)": _median_seconds(lambda: haybale(sha1_hasher), max(1, args.repeat // 2)),
        "datasketch.MinHash.bulk (with shingling)": _median_seconds(datasketch_bulk, max(1, args.repeat // 2)),
        "datasketch.MinHash.bulk (hashing only)": _median_seconds(datasketch_hash_only, max(1, args.repeat // 2)),
        "rensa RMinHash (with shingling)": _median_seconds(rensa_full, args.repeat),
        "rensa RMinHash (hashing only)": _median_seconds(rensa_hash_only, args.repeat),
    }
    throughput = {name: megabytes / seconds for name, seconds in measured.items()}
    # haybale's three kernels one at a time, each on the previous one's output (where time goes).
    batches = [texts[start : start + BATCH] for start in range(0, len(texts), BATCH)]
    token_batches = [tokenize_batch(batch) for batch in batches]
    shingle_batches = [shingle_hashes_words64(tokens, 5) for tokens in token_batches]
    stage_seconds = {
        "tokenize + token hashes": _median_seconds(lambda: [tokenize_batch(b) for b in batches], args.repeat),
        "5-gram hashes": _median_seconds(lambda: [shingle_hashes_words64(t, 5) for t in token_batches], args.repeat),
        "permutations + min": _median_seconds(lambda: [hasher._permute_min(*s) for s in shingle_batches], args.repeat),
    }
    ours = throughput["haybale (words64)"]
    result = {
        "megabytes": round(megabytes, 2),
        "documents": len(texts),
        "repeat": args.repeat,
        "num_perm": 128,
        "ngram": 5,
        "mb_per_s": {k: round(v, 2) for k, v in throughput.items()},
        "ratio_vs_datasketch_bulk": round(ours / throughput["datasketch.MinHash.bulk (with shingling)"], 2),
        "ratio_vs_rensa": round(ours / throughput["rensa RMinHash (with shingling)"], 2),
        "ratio_vs_rensa_hashing_only": round(ours / throughput["rensa RMinHash (hashing only)"], 2),
        "haybale_stage_mb_per_s": {k: round(megabytes / v, 1) for k, v in stage_seconds.items()},
        "haybale_startup_seconds": startup,
        "haybale_untimed_warm_up_run_seconds": round(warm_up_seconds, 3),
    }
    print(f"MinHash, 128 permutations, word 5-grams, one core, {megabytes:.1f} MB of real article text, median of {args.repeat}")
    print(f"{'method':<44} {'MB/s':>8} {'haybale x':>10}")
    for name, value in throughput.items():
        print(f"{name:<44} {value:8.2f} {ours / value:10.2f}")
    print("haybale stages alone: " + ", ".join(f"{k} {megabytes / v:.0f} MB/s" for k, v in stage_seconds.items()))
    print(
        "haybale numba start-up, fresh process: import {cold_cache_import:.2f} s + first call {cold_cache_first_call:.2f} s "
        "with an empty cache (compiling), import {warm_cache_import:.2f} s + first call {warm_cache_first_call:.2f} s "
        "with the cache filled".format(**startup)
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
