"""How this machine reads memory that was written, or left idle, a while ago — no catalog involved.

    python -m bench.vm_memory_reads              # a 4.5 GB buffer (a 10^8-entry owner's cached index)
    python -m bench.vm_memory_reads --gb 1

Why: a serving owner's warm get reads one 16 KiB block out of gigabytes of block cache. On the
machines these benchmarks run on (Firecracker VMs), some first reads of memory take tens of µs,
which sets the p99 of a grown owner (deploy/SCALING.md) but not of a 10^5-entry one, whose few MB
stay hot. This allocates a buffer, writes every byte, and times single-byte reads of 20,000 random
4 KiB pages: right after the write, again at once, then after 1, 5 and 20 s idle. It runs twice, with
glibc's default malloc and with huge pages (as owners with a big cache run: catalog/owner_cache.py),
each in a fresh process. Writes bench/results/vm_memory_reads.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SLOW_NS = 15_000


def probe_rounds(gb: float, reads: int = 20_000) -> list[dict[str, Any]]:
    """The rounds of one process (see the module docstring)."""
    import numpy as np

    size = int(gb * 1e9)
    buf = np.ones(size, dtype=np.uint8)  # every page written
    pages = size // 4096
    rng = random.Random(1)
    clock = time.perf_counter_ns
    out = []

    def probe(label: str) -> None:
        times = []
        for page in (rng.randrange(pages) for _ in range(reads)):
            t = clock()
            buf[page * 4096]
            times.append(clock() - t)
        times.sort()
        out.append({"round": label, "p50_us": times[reads // 2] / 1e3, "p99_us": times[int(reads * 0.99)] / 1e3,
                    "p999_us": times[int(reads * 0.999)] / 1e3,
                    "share_over_15us": sum(t > SLOW_NS for t in times) / reads})
        print(f"  {label:24s} p50 {out[-1]['p50_us']:.2f} µs  p99 {out[-1]['p99_us']:.2f} µs  "
              f"p99.9 {out[-1]['p999_us']:.1f} µs  > 15 µs: {out[-1]['share_over_15us']:.2%}", flush=True)

    probe("right after the write")
    probe("again at once")
    for pause in (1, 5, 20):
        time.sleep(pause)
        probe(f"after {pause} s idle")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=4.5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(probe_rounds(args.gb)))
        return {}
    result: dict[str, Any] = {"gb": args.gb, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "load_average_before": os.getloadavg()[0]}
    for label, tunables in (("default malloc", ""), ("malloc in huge pages", "glibc.malloc.hugetlb=1")):
        print(label, flush=True)
        env = {**os.environ, "GLIBC_TUNABLES": tunables} if tunables else dict(os.environ)
        done = subprocess.run([sys.executable, "-m", "bench.vm_memory_reads", "--gb", str(args.gb), "--child"],
                              env=env, check=True, stdout=subprocess.PIPE, text=True)
        lines = done.stdout.rstrip().splitlines()
        print("\n".join(lines[:-1]), flush=True)
        result[label] = json.loads(lines[-1])
    result["load_average_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vm_memory_reads.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
