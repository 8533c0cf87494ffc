"""Main-text extraction on real labelled pages: haybale's cleaner beside trafilatura and resiliparse.

Two sets (``../shared/data``, see its README), each scored with its own metric:

* tfeval-dev: 225 pages in many languages, trafilatura's snippet metric (``bench.snippet_metric``);
  reported for all pages, the tune and held-out halves, and per language group;
* aeb-dev: 50 news/blog pages, the article-extraction-benchmark token-4-gram metric
  (``bench.aeb_metric``); all pages and both halves.

Every extractor gets each page's raw bytes and decodes them itself, as in trafilatura's own
benchmark (``tests/evaluate.py``): trafilatura runs ``extract(fast=False, include_comments=False,
include_tables=True, include_formatting=False)``; resiliparse ``bytes_to_str(detect_encoding)`` then
``extract_plain_text(main_content=True)``; haybale ``clean_html`` with the EasyList (and, for the
record, without it). aeb-dev pages come with their URL, which haybale is given (the dedup job has
it); tfeval-dev pages have none.

Speed, two ways, all in this run:

* in-process pages/s over both sets, the median of ``--repeats`` rounds after an untimed warm-up,
  extractors alternating inside each round so that machine load hits them alike;
* the batch: ``haybale dedup clean-html SRC DST --adblock-list ...`` as a subprocess over a folder
  holding ``--copies`` copies of every page of both sets, wall time with start-up included (Python,
  imports, the EasyList compile), the median of ``--repeats`` runs interleaved with the rounds
  above. The target compares this batch rate with trafilatura's in-process rate.

The halves: pages sorted by SHA-1 of their name, alternating (``snippet_metric.split_halves``).
haybale's rules and tunables were chosen looking at the tune halves only.

Run: ``.venv/bin/python -m bench.dedup_clean``; writes ``bench/results/dedup_clean.json``.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.aeb_metric import BenchmarkPage, aggregate, load_benchmark, score_page
from bench.snippet_metric import SnippetPage, breakdown, load_snippet_set, split_halves
from dedup.clean import CleanConfig, clean_html
from dedup.clean.adblock_filter import load_rules

RESULTS = Path(__file__).resolve().parent / "results" / "dedup_clean.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Extractor = Callable[[bytes, str | None], str | None]
TARGET_SPEED_RATIO = 5.0


def extractors(adblock_list: str) -> dict[str, Extractor]:
    """The extractors compared, by name (each takes raw bytes and an optional URL)."""
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    with_list = CleanConfig(adblock_list=adblock_list)
    without_list = CleanConfig()

    def run_trafilatura(html: bytes, url: str | None) -> str | None:
        return trafilatura.extract(html, fast=False, include_comments=False, include_tables=True,
                                   include_formatting=False)

    def run_resiliparse(html: bytes, url: str | None) -> str | None:
        return extract_plain_text(HTMLTree.parse(bytes_to_str(html, detect_encoding(html))), main_content=True)

    return {
        "haybale": lambda html, url: clean_html(html, url, with_list).text,
        "haybale_no_easylist": lambda html, url: clean_html(html, url, without_list).text,
        "trafilatura": run_trafilatura,
        "resiliparse": run_resiliparse,
    }


def _aeb_scores(pages: list[BenchmarkPage], outputs: dict[str, str | None]) -> dict[str, float]:
    s = aggregate(score_page(p.truth, outputs[p.page_id] or "") for p in pages)
    return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "pages": s.pages}


def _run_all(extract: Extractor, tfeval: list[SnippetPage], aeb: list[BenchmarkPage]) -> tuple[dict, dict]:
    return ({p.name: extract(p.html, None) for p in tfeval}, {p.page_id: extract(p.html, p.url) for p in aeb})


def _batch_folder(tfeval: list[SnippetPage], aeb: list[BenchmarkPage], copies: int, root: Path) -> int:
    """Write ``copies`` copies of every page as .html.gz files under ``root``; returns the count."""
    sources = [SHARED_DATA / "tfeval-dev" / "html" / f"{p.name}.gz" for p in tfeval]
    sources += [SHARED_DATA / "aeb-dev" / "html" / f"{p.page_id}.html.gz" for p in aeb]
    count = 0
    for copy in range(copies):
        folder = root / f"copy{copy}"
        folder.mkdir(parents=True)
        for source in sources:
            name = source.name if source.name.endswith(".html.gz") else source.name[: -len(".gz")] + ".html.gz"
            shutil.copyfile(source, folder / name)
            count += 1
    return count


def _time_batch(src: Path, dst: Path, adblock_list: str) -> float:
    """Wall seconds of one ``haybale dedup clean-html`` subprocess (start-up included)."""
    shutil.rmtree(dst, ignore_errors=True)
    command = [str(Path(sys.executable).parent / "haybale"), "dedup", "clean-html", str(src), str(dst),
               "--adblock-list", adblock_list]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(adblock_list: str, repeats: int, copies: int) -> dict[str, Any]:
    tfeval = load_snippet_set(SHARED_DATA / "tfeval-dev")
    aeb = load_benchmark(SHARED_DATA / "aeb-dev")
    started = time.perf_counter()
    load_rules(adblock_list)
    compile_seconds = time.perf_counter() - started
    runners = extractors(adblock_list)
    pages = len(tfeval) + len(aeb)
    outputs: dict[str, tuple[dict, dict]] = {name: _run_all(fn, tfeval, aeb) for name, fn in runners.items()}  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    batch_seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as tmp:
        batch_pages = _batch_folder(tfeval, aeb, copies, Path(tmp) / "src")
        for _ in range(repeats):
            batch_seconds.append(_time_batch(Path(tmp) / "src", Path(tmp) / "dst", adblock_list))
            for name, extract in runners.items():
                gc.collect()  # garbage left by the previous extractor is not this one's cost
                t0 = time.perf_counter()
                outputs[name] = _run_all(extract, tfeval, aeb)
                seconds[name].append(time.perf_counter() - t0)
    tune_names, _ = split_halves(p.name for p in tfeval)
    aeb_tune_ids, _ = split_halves(p.page_id for p in aeb)
    aeb_tune = [p for p in aeb if p.page_id in set(aeb_tune_ids)]
    aeb_held = [p for p in aeb if p.page_id not in set(aeb_tune_ids)]
    results: dict[str, Any] = {}
    for name in runners:
        tf_out, aeb_out = outputs[name]
        results[name] = {
            "tfeval": breakdown(tfeval, tf_out).as_dict(),
            "aeb": {"all": _aeb_scores(aeb, aeb_out), "tune": _aeb_scores(aeb_tune, aeb_out),
                    "held_out": _aeb_scores(aeb_held, aeb_out)},
            "pages_per_second": pages / statistics.median(seconds[name]),
            "seconds_per_round": seconds[name],
            "empty_outputs": sum(1 for o in (*tf_out.values(), *aeb_out.values()) if not (o or "").strip()),
        }
    batch_rate = batch_pages / statistics.median(batch_seconds)
    trafilatura_rate = results["trafilatura"]["pages_per_second"]
    hb, tr = results["haybale"], results["trafilatura"]
    return {
        "pages": {"tfeval": len(tfeval), "aeb": len(aeb), "tfeval_tune": len(tune_names)},
        "repeats": repeats,
        "adblock_list": adblock_list,
        "adblock_compile_seconds": compile_seconds,
        "haybale_config": CleanConfig(adblock_list=adblock_list).__dict__,
        "extractors": results,
        "batch": {"copies": copies, "pages": batch_pages, "seconds": batch_seconds, "pages_per_second": batch_rate,
                  "command": "haybale dedup clean-html SRC DST --adblock-list LIST"},
        "speed_vs_trafilatura_in_process": hb["pages_per_second"] / trafilatura_rate,
        "speed_vs_trafilatura_batch": batch_rate / trafilatura_rate,
        "load_average": os.getloadavg(),
        "targets": {
            "tfeval_f1_at_least_trafilatura": hb["tfeval"]["all"]["f1"] >= tr["tfeval"]["all"]["f1"],
            "aeb_f1_at_least_trafilatura": hb["aeb"]["all"]["f1"] >= tr["aeb"]["all"]["f1"],
            "speed_batch_at_least_5x": batch_rate / trafilatura_rate >= TARGET_SPEED_RATIO,
        },
    }


def print_table(report: dict[str, Any]) -> None:
    groups = sorted({g for r in report["extractors"].values() for g in r["tfeval"]["languages"]})
    print(f"tfeval-dev ({report['pages']['tfeval']} pages, snippet F1) and aeb-dev ({report['pages']['aeb']} pages, "
          f"4-gram F1); median of {report['repeats']} rounds")
    header = f"{'extractor':<20} {'tf P':>6} {'tf R':>6} {'tf F1':>6} {'tune':>6} {'held':>6} | " + " ".join(
        f"{g:>6}" for g in groups) + f" | {'aeb F1':>6} {'tune':>6} {'held':>6} | {'pages/s':>8}"
    print(header)
    for name, r in report["extractors"].items():
        tf, ae = r["tfeval"], r["aeb"]
        languages = " ".join(f"{tf['languages'].get(g, {}).get('f1', float('nan')):>6.3f}" for g in groups)
        print(f"{name:<20} {tf['all']['precision']:>6.3f} {tf['all']['recall']:>6.3f} {tf['all']['f1']:>6.3f} "
              f"{tf['tune']['f1']:>6.3f} {tf['held_out']['f1']:>6.3f} | {languages} | {ae['all']['f1']:>6.3f} "
              f"{ae['tune']['f1']:>6.3f} {ae['held_out']['f1']:>6.3f} | {r['pages_per_second']:>8.1f}")
    batch = report["batch"]
    print(f"batch: haybale dedup clean-html on {batch['pages']} pages ({batch['copies']} copies), start-up included: "
          f"{batch['pages_per_second']:.1f} pages/s = {report['speed_vs_trafilatura_batch']:.2f}x trafilatura "
          f"(in-process {report['speed_vs_trafilatura_in_process']:.2f}x); load average {report['load_average'][0]:.1f}")
    print("targets:", report["targets"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.dedup_clean", description=__doc__.splitlines()[0])
    parser.add_argument("--adblock-list", default=str(SHARED_DATA / "easylist.txt.gz"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(args.adblock_list, args.repeats, args.copies)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


if __name__ == "__main__":
    main()
