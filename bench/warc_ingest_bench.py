"""``haybale ingest warc`` end to end vs FastWARC's one-core iteration over the same files (issue 10).

Generates (once, cached under ``--cache``) 4 gzip-per-record WARC files of 250,000 small ``response``
records each (about 300 bytes a record on disk: WARC headers, a short HTTP header block and a ~100-byte
HTML body, one gzip member per record; unique URLs; deterministic from the seed), then, alternating in
each round:

- **FastWARC**: one process, one core, iterating every record of the 4 files (``parse_http=False``,
  the record id read) — the reference rate, measured in this process (no start-up: the strictest
  comparison);
- **haybale ingest warc**: the whole command as a user runs it — a new process
  (``python -m haybale ingest warc --root ROOT FILES``) into a fresh root on the embedded default
  (its persistent local Ray head and owner actors), start-up included: interpreter and imports, Ray
  head start, planning, indexing in place on the workers, registration of 10^6 keys in the owners,
  markers and summary. The head of the round's root is stopped afterwards (``haybale down``), outside
  the timed span.

Rates are records per second; the ratio is the medians' ratio. The machine's load average is printed
and saved: on a shared machine compare the ratio, not the absolute rates.

Run: ``.venv/bin/python -m bench.warc_ingest_bench [--rounds 3] [--cache DIR] [--files 4]
[--records 250000] [--split-bytes N]``. Writes ``bench/results/warc_ingest_bench.json``.
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
import zlib
from pathlib import Path
from typing import Any

from fastwarc.warc import ArchiveIterator, WarcRecordType

RESULTS = Path(__file__).resolve().parent / "results" / "warc_ingest_bench.json"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "haybale-bench-data" / "warc-small-records"
TARGET_RATIO = 0.3


def _gzip_member(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _record(rng: random.Random, words: list[str], file_no: int, i: int) -> bytes:
    body = ("<html><body><p>" + " ".join(rng.choices(words, k=12)) + "</p></body></html>").encode()
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n")
    block = http + body
    uri = f"https://h{rng.randrange(100_000)}.example/f{file_no}/p{i}"
    second = i % 86400
    date = f"2024-05-{1 + file_no:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: {date}\r\n"
            f"WARC-Record-ID: <urn:uuid:{rng.getrandbits(128):032x}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n").encode()
    return _gzip_member(head + block + b"\r\n\r\n")


def generate(cache: Path, files: int, records: int, seed: int = 10) -> list[Path]:
    """The ``files`` WARC files of ``records`` records each under ``cache`` (written once: a file that
    exists is reused — each is written to a temporary name and renamed when whole; its content is a pure
    function of the arguments)."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_no in range(files):
        path = cache / f"small-{records}-s{seed}-{file_no:02d}.warc.gz"
        paths.append(path)
        if path.exists():
            continue
        rng = random.Random(seed * 1000 + file_no)
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
                 for _ in range(2000)]
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            for i in range(records):
                fh.write(_record(rng, words, file_no, i))
        tmp.rename(path)
    return paths


def fastwarc_iterate(paths: list[Path]) -> int:
    """Records FastWARC iterates in ``paths`` (one core, no HTTP parsing, the record id read)."""
    n = 0
    for p in paths:
        with p.open("rb") as fh:
            for rec in ArchiveIterator(fh, record_types=int(WarcRecordType.any_type), parse_http=False):
                n += rec.record_id is not None
    return n


def _haybale(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "haybale", *args], env=env, capture_output=True, text=True,
                          check=False)


def ingest_command(root: Path, paths: list[Path], env: dict[str, str], extra: list[str] | None = None
                   ) -> tuple[float, dict[str, Any]]:
    """Seconds of one ``haybale ingest warc`` process into the fresh ``root`` and its JSON summary
    (``extra``: more options of the command)."""
    t0 = time.perf_counter()
    done = _haybale(["ingest", "warc", "--root", str(root), "--quiet", "--json", *(extra or []), *map(str, paths)],
                    env)
    secs = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"haybale ingest warc failed ({done.returncode}): {done.stderr[-2000:]}")
    return secs, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--records", type=int, default=250_000, help="records per file")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the generated WARC files are kept")
    ap.add_argument("--split-bytes", type=int, default=0,
                    help="passed to the command (0: its default; at reduced --records, the file size keeps one "
                         "file per split as at full size)")
    ap.add_argument("--keep", action="store_true", help="keep the last round's root (in the work directory)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = generate(args.cache, args.files, args.records)
    gen_secs = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in paths)
    total = args.files * args.records
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)  # the embedded default: the root's own local head
    work = Path(tempfile.mkdtemp(prefix="hb-warc-ingest-bench-"))
    extra = ["--split-bytes", str(args.split_bytes)] if args.split_bytes else []
    secs: dict[str, list[float]] = {"fastwarc": [], "haybale_ingest_warc": []}
    detail: dict[str, Any] = {}
    loads = []
    failures: list[str] = []  # ingest runs that failed and were retried (Ray start on a loaded machine)
    try:
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            t = time.perf_counter()
            n = fastwarc_iterate(paths)
            secs["fastwarc"].append(time.perf_counter() - t)
            if n != total:
                raise RuntimeError(f"FastWARC iterated {n} records, expected {total}")
            root = work / f"root-{r}"
            for attempt in range(2):  # on a saturated machine Ray's start can time out: one retry, reported
                try:
                    took, summary = ingest_command(root, paths, env, extra)
                    break
                except RuntimeError as exc:
                    if attempt:
                        raise
                    failures.append(str(exc)[-300:])
                    shutil.rmtree(root, ignore_errors=True)
                finally:
                    _haybale(["down", "--root", str(root)], env)
            secs["haybale_ingest_warc"].append(took)
            if summary.get("indexed") != total or summary.get("added") != total:
                raise RuntimeError(f"ingest indexed {summary.get('indexed')}, added {summary.get('added')}; "
                                   f"expected {total} each")
            detail = {k: summary.get(k) for k in ("indexed", "added", "quarantined", "ray_start_seconds",
                                                  "work_seconds", "seconds")}
            if not (args.keep and r == args.rounds - 1):
                shutil.rmtree(root, ignore_errors=True)
            loads.append(os.getloadavg()[0])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in secs.items()}
    rates = {k: total / v for k, v in med.items()}
    ratio = rates["haybale_ingest_warc"] / rates["fastwarc"]
    result = {
        "files": args.files, "records": total, "bytes": size, "bytes_per_record": round(size / total, 1),
        "generate_seconds": round(gen_secs, 1), "cache": str(args.cache),
        "seconds": {k: [round(x, 2) for x in v] for k, v in secs.items()},
        "records_per_s": {k: round(v) for k, v in rates.items()},
        "ratio_ingest_vs_fastwarc": round(ratio, 3), "target_ratio": TARGET_RATIO,
        "last_ingest_summary": detail, "load_average_1m": [round(x, 2) for x in loads],
        "retried_after_failure": failures,
        "cpus": os.cpu_count(), "command": "python -m bench.warc_ingest_bench",
    }
    print(f"{args.files} files x {args.records} records, {size / 2**20:.0f} MB ({size / total:.0f} B/record); "
          f"load average {min(loads):.1f}-{max(loads):.1f}; runs retried after a failure: {len(failures)}")
    print(f"{'':<22}{'seconds (median)':>18}{'records/s':>12}")
    for name in secs:
        print(f"{name:<22}{med[name]:>18.2f}{rates[name]:>12.0f}")
    print(f"haybale ingest warc / FastWARC = {ratio:.2f} (target >= {TARGET_RATIO}; start-up included; "
          f"last ingest: Ray start {detail.get('ray_start_seconds')} s, work {detail.get('work_seconds')} s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
