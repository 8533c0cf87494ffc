"""WARC in-place indexing speed: the haybale source reader's index pass vs plain FastWARC iteration.

Generates ``--mb`` MB of gzip-per-record WARC (response records with 2-30 KB HTML bodies of random
words, written by warcio as Common Crawl does) in a temporary directory, then, alternating in each
round, times (a) plain FastWARC iteration (no HTTP parsing, record id read), (b) the haybale index pass
``catalog.warc_reader.iter_records`` (layout probe, offsets and lengths, WARC header fields, last-record
check; no payload), and (c) warcio iteration for reference. The shared edge-case files
(``../shared/data/warc``) are timed the same way (many repetitions, they are small).

Run: ``.venv/bin/python -m bench.ingest_warc_index [--mb 300] [--rounds 3]``
Writes ``bench/results/ingest_warc_index.json``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from fastwarc.warc import ArchiveIterator, WarcRecordType

from catalog.warc_reader import SourceRecord, iter_records

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_warc_index.json"
SHARED_WARC = Path(__file__).resolve().parents[2] / "shared" / "data" / "warc"
FILE_MB = 75


def generate(directory: Path, total_mb: int, seed: int = 7) -> list[Path]:
    """Write gzip-per-record WARC files totalling about ``total_mb`` MB on disk."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(5000)]
    paths: list[Path] = []
    written = 0
    file_index = 0
    while written < total_mb << 20:
        path = directory / f"bench-{file_index:03d}.warc.gz"
        with path.open("wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            while fh.tell() < FILE_MB << 20 and written + fh.tell() < total_mb << 20:
                n = rng.randint(300, 4500)
                body = ("<html><body><p>" + " ".join(rng.choices(words, k=n)) + "</p></body></html>").encode()
                uri = f"https://site{rng.randint(0, 9999)}.example/page/{rng.randint(0, 10**9)}"
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                   ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
                writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body),
                                                              http_headers=http))
            written += fh.tell()
        paths.append(path)
        file_index += 1
    return paths


def fastwarc_pass(paths: list[Path], quirks: bool = False) -> int:
    n = 0
    for p in paths:
        with p.open("rb") as fh:
            for rec in ArchiveIterator(fh, record_types=int(WarcRecordType.any_type), parse_http=False,
                                       fsspec_args=False, quirks_mode=quirks):
                n += rec.record_id is not None
    return n


def haybale_pass(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        for rec in iter_records(str(p)):
            n += isinstance(rec, SourceRecord) and rec.length is not None
    return n


def warcio_pass(paths: list[Path]) -> int:
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator

    n = 0
    for p in paths:
        with p.open("rb") as fh:
            it = WarcioIterator(fh, arc2warc=True, no_record_parse=True)
            try:
                for rec in it:
                    n += rec.rec_headers.get_header("WARC-Record-ID") is not None
            except Exception:  # noqa: BLE001 - warcio rejects some shared files; count what it read
                continue
    return n


def timed(fn: Callable[[list[Path]], int], paths: list[Path], repeat: int = 1) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for _ in range(repeat):
        n = fn(paths)
    return (time.perf_counter() - t0) / repeat, n


def measure(paths: list[Path], rounds: int, repeat: int, quirks: bool = False) -> dict[str, Any]:
    """Median records/s of each reader over ``paths``; ``quirks`` runs the FastWARC baseline in quirks
    mode (strict FastWARC stops at the first malformed record of the shared files)."""
    rates: dict[str, list[float]] = {"fastwarc": [], "haybale": [], "warcio": []}
    counts: dict[str, int] = {}
    readers: tuple[tuple[str, Callable[[list[Path]], int]], ...] = (
        ("fastwarc", lambda ps: fastwarc_pass(ps, quirks)), ("haybale", haybale_pass), ("warcio", warcio_pass))
    for _ in range(rounds):
        for name, fn in readers:
            secs, n = timed(fn, paths, repeat)
            rates[name].append(n / secs)
            counts[name] = n
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"records": counts, "records_per_s": {k: round(v) for k, v in med.items()},
            "rounds": {k: [round(x) for x in v] for k, v in rates.items()},
            "ratio_haybale_vs_fastwarc": round(med["haybale"] / med["fastwarc"], 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300, help="MB of generated gzip-per-record WARC")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hb-warc-bench-"))
    try:
        t0 = time.perf_counter()
        paths = generate(tmp, args.mb)
        gen_secs = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths)
        generated = measure(paths, args.rounds, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shared = sorted(SHARED_WARC.iterdir()) if SHARED_WARC.is_dir() else []
    # Shared files: FastWARC cannot read ARC at all, so compare on the WARC ones only.
    shared_warc = [p for p in shared if ".arc" not in p.name]
    shared_result = measure(shared_warc, args.rounds, 20, quirks=True) if shared_warc else {}
    result = {"generated": {"files": len(paths), "bytes": size, "generate_seconds": round(gen_secs, 1),
                            **generated},
              "shared_warc_files": {"files": len(shared_warc), **shared_result},
              "target_ratio": 0.7, "load_average_1m_at_end": round(os.getloadavg()[0], 2)}
    print(f"{'input':<34}{'reader':<12}{'records':>9}{'records/s (median)':>20}")
    for label, res in ((f"generated {size / 2**20:.0f} MB gz-per-record", generated),
                       (f"shared WARC files ({len(shared_warc)})", shared_result)):
        for name in ("fastwarc", "haybale", "warcio"):
            if res:
                print(f"{label:<34}{name:<12}{res['records'][name]:>9}{res['records_per_s'][name]:>20}")
        if res:
            print(f"{'':<34}ratio haybale/fastwarc = {res['ratio_haybale_vs_fastwarc']:.2f} (target >= 0.7)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
