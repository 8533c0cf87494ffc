"""Main-text extraction on aeb-dev: haybale's clean_html vs trafilatura and resiliparse, one run.

Every extractor gets the same input (each page's HTML decoded as UTF-8, as the benchmark does),
and is scored with the article-extraction-benchmark metric (``bench.aeb_metric``: token
4-gram precision/recall per page, averaged, F1 of the means). Speed is pages/s over all pages, the
median of ``--repeats`` rounds after one untimed warm-up round; the extractors alternate inside
each round so machine load hits them alike. haybale runs with the EasyList from ``--adblock-list`` (compiled before timing; the
compile time is reported apart).

haybale's tunables were chosen on the "tune" half of the pages (sorted by SHA-1 of the page id,
even positions); its F1 on the other half ("held-out") is reported too.

Run: ``.venv/bin/python -m bench.dedup_clean [--repeats 3]``; writes ``bench/results/dedup_clean.json``.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from dedup.clean import CleanConfig, clean_html
from dedup.clean.adblock_filter import load_rules
from bench.aeb_metric import BenchmarkPage, aggregate, load_benchmark, score_page

RESULTS = Path(__file__).resolve().parent / "results" / "dedup_clean.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def split_pages(pages: list[BenchmarkPage]) -> tuple[list[BenchmarkPage], list[BenchmarkPage]]:
    """(tune, held-out): pages sorted by SHA-1 of their id, alternating."""
    ordered = sorted(pages, key=lambda p: hashlib.sha1(p.page_id.encode()).hexdigest())
    return ordered[0::2], ordered[1::2]


def _extractors(adblock_list: str) -> dict[str, Callable[[str, str], str]]:
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    config = CleanConfig(adblock_list=adblock_list)
    return {
        "haybale": lambda html, url: clean_html(html, url, config).text,
        "trafilatura": lambda html, url: trafilatura.extract(html) or "",
        "resiliparse": lambda html, url: extract_plain_text(html, main_content=True),
    }


def _scores(pages: list[BenchmarkPage], texts: dict[str, str]) -> dict[str, float]:
    s = aggregate(score_page(p.truth, texts[p.page_id]) for p in pages)
    return {"precision": s.precision, "recall": s.recall, "f1": s.f1}


def run(data_dir: Path, adblock_list: str, repeats: int) -> dict[str, Any]:
    pages = load_benchmark(data_dir)
    html = {p.page_id: p.html.decode("utf-8", errors="replace") for p in pages}
    started = time.perf_counter()
    load_rules(adblock_list)
    adblock_compile_s = time.perf_counter() - started
    extractors = _extractors(adblock_list)
    seconds: dict[str, list[float]] = {name: [] for name in extractors}
    outputs: dict[str, dict[str, str]] = {}
    for extract in extractors.values():  # untimed warm-up: imports, first-use caches, lazy inits
        for p in pages:
            extract(html[p.page_id], p.url)
    for _ in range(repeats):
        for name, extract in extractors.items():
            gc.collect()  # garbage left by the previous extractor is not this one's cost
            t0 = time.perf_counter()
            texts = {p.page_id: extract(html[p.page_id], p.url) for p in pages}
            seconds[name].append(time.perf_counter() - t0)
            outputs[name] = texts
    tune, held_out = split_pages(pages)
    results: dict[str, Any] = {}
    for name in extractors:
        med = statistics.median(seconds[name])
        results[name] = {
            **_scores(pages, outputs[name]),
            "f1_tune": _scores(tune, outputs[name])["f1"],
            "f1_held_out": _scores(held_out, outputs[name])["f1"],
            "pages_per_second": len(pages) / med,
            "seconds_per_round": seconds[name],
        }
    ratio = results["haybale"]["pages_per_second"] / results["trafilatura"]["pages_per_second"]
    return {
        "pages": len(pages),
        "repeats": repeats,
        "adblock_list": adblock_list,
        "adblock_compile_seconds": adblock_compile_s,
        "haybale_config": asdict(CleanConfig(adblock_list=adblock_list)),
        "extractors": results,
        "haybale_speed_vs_trafilatura": ratio,
        "target": {"f1": 0.95, "speed_vs_trafilatura": 5.0},
        "target_met": results["haybale"]["f1"] >= 0.95 and ratio >= 5.0,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"aeb-dev, {report['pages']} pages, median of {report['repeats']} rounds")
    print(f"{'extractor':<12} {'precision':>9} {'recall':>7} {'F1':>7} {'F1 tune':>8} {'F1 held':>8} {'pages/s':>8}")
    for name, r in report["extractors"].items():
        print(f"{name:<12} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>7.3f} "
              f"{r['f1_tune']:>8.3f} {r['f1_held_out']:>8.3f} {r['pages_per_second']:>8.1f}")
    print(f"haybale pages/s / trafilatura pages/s = {report['haybale_speed_vs_trafilatura']:.2f}x "
          f"(target >= 5x, F1 >= 0.95: {'met' if report['target_met'] else 'NOT met'}); "
          f"EasyList compile {report['adblock_compile_seconds']:.2f} s, once per process")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.dedup_clean", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA / "aeb-dev")
    parser.add_argument("--adblock-list", default=str(SHARED_DATA / "easylist.txt.gz"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(args.data_dir, args.adblock_list, args.repeats)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
