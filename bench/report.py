"""The README's benchmark section, rendered from bench/results/*.json (what ``make bench`` wrote).

    python -m bench.report                  # print the markdown
    python -m bench.report --update-readme  # replace the section between the README's markers

Only figures present in the results are shown; each row names the benchmark module that made it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def catalog(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    lk = r["lookup"]
    rows = [
        ("bulk registration (locations + SURT listing), entries/s", _f(r["register_entries_per_s"]),
         f"plain rocksdict, same puts: {_f(r['plain_register_entries_per_s'])} ({r['register_ratio_vs_plain']:.2f}x)",
         "≥ 1,000,000; ≥ 0.8x plain"),
        ("batched get_many_ids (100k random ids, list of bytes in and out), keys/s", _f(lk["batched_get_many_ids_keys_per_s"]),
         f"plain rocksdict get(list): {_f(lk['plain_rocksdict_get_list_keys_per_s'])} ({lk['ratio_vs_plain']:.2f}x)",
         "≥ 0.8x plain (1,000,000/s: the array API below)"),
        ("batched lookup_ids (numpy array API, 100k ids), keys/s", _f(lk.get("batched_lookup_ids_array_keys_per_s", 0)),
         "", "≥ 1,000,000"),
    ]
    sizes = lk.get("lookup_ids_keys_per_s_by_batch_size", {})
    if sizes:
        largest = max(sizes, key=int)
        rows.append((f"batched lookup_ids, batches of {int(largest):,} random ids, keys/s", _f(sizes[largest]),
                     "other batch sizes: " + "; ".join(f"{int(k):,}: {_f(v)}" for k, v in sizes.items() if k != largest),
                     "≥ 1,000,000"))
    rows += [
        ("single get p50 / p99", f"{lk['single_get']['p50_us']:.1f} / {lk['single_get']['p99_us']:.1f} µs",
         f"plain: {lk['plain_single_get']['p50_us']:.1f} / {lk['plain_single_get']['p99_us']:.1f} µs", ""),
        ("disk, location index", f"{r['disk']['location_index_bytes_per_entry']:.1f} B/entry",
         f"plain rocksdict: {r['disk']['plain_rocksdict_bytes_per_entry']:.1f} B/entry", "≤ 40 B/entry"),
        ("disk, whole catalog (with SURT listing index)", f"{r['disk']['total_catalog_bytes_per_entry']:.1f} B/entry",
         f"listing index alone: {r['disk']['listing_index_bytes_per_entry']:.1f} B/entry", "≤ 40 B/entry (issue 10)"),
    ]
    if "growth_p99_ratio_last_vs_first_warm" in r:
        g = r["growth"]
        rows.append((f"growth: p99 at {g[-1]['entries']:,} / p99 at {g[0]['entries']:,} (warm)",
                     f"{r['growth_p99_ratio_last_vs_first_warm']:.2f}x",
                     "; ".join(f"{p['entries']:,}: p99 {p['warm']['single_get']['p99_us']:.0f} µs, "
                               f"{_f(p['warm']['batched_keys_per_s'])} keys/s" for p in g),
                     "≤ 2x (plot: bench/results/catalog_growth.png)"))
    rt = r["retrieval"]["cat"]
    rows.append((f"cat of {r['retrieval']['reads']:,} random records", f"p50 {rt['p50_us'] / 1000:.3f} ms",
                 f"p99 {rt['p99_us'] / 1000:.3f} ms", "p50 ≤ 1 ms"))
    return rows


def ingest_files(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f"{r['files']:,} small files ({r['bytes'] / 1e6:,.0f} MB) into volumes + catalog",
             f"{_f(r['haybale_files_per_s'])} files/s, {_f(r['haybale_mb_per_s'])} MB/s",
             f"tar -czf {_f(r['tar_czf_files_per_s'])} files/s ({r['ratio_vs_tar_czf']:.2f}x); "
             f"tar -cf {_f(r['tar_cf_files_per_s'])} files/s ({r['ratio_vs_tar_cf']:.2f}x)",
             "≥ 2x tar -czf")]


def ingest_crawl(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f"crawler core, {r['pages']:,} pages over {r['hosts']} hosts", f"{_f(r['crawler_pages_per_s'])} pages/s",
             f"plain aiohttp loop {_f(r['plain_pages_per_s'])} pages/s ({r['ratio']:.2f}x)", "≥ 0.4x, ≥ 2,000/s")]


def ingest_crawl_job(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f"crawl job (robots, WARC, volumes, catalog), {r['pages']:,} pages over {r['hosts']} hosts, "
             f"{r['actors']} actors", f"{_f(r['job_pages_per_s'])} pages/s",
             f"plain aiohttp loop {_f(r['plain_pages_per_s'])} pages/s ({r['ratio']:.2f}x); load avg {r['load_average_1m_at_end']}",
             "≥ 0.4x, ≥ 2,000/s")]


def ingest_warc_job(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rps = r["records_per_s"]
    ours = next((v for k, v in rps.items() if "in_place" in k and "job" in k), None)
    base = next((v for k, v in rps.items() if "fastwarc" in k.lower()), None)
    return [("WARC in-place indexing job (reader + digest + catalog, Ray 2 CPUs)",
             f"{_f(ours)} records/s" if ours else "",
             f"FastWARC iteration {_f(base)} records/s ({r['ratio_in_place_job_vs_fastwarc']:.2f}x); "
             f"repack {r['ratio_repack_job_vs_fastwarc']:.2f}x; load avg {r['load_average_1m_at_end']}",
             "≥ 0.7x FastWARC")]


def ingest_warc_index(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    g = r["generated"]
    return [("WARC reader index pass (300 MB, per-record gzip)", f"{_f(g['records_per_s']['haybale'])} records/s",
             f"FastWARC {_f(g['records_per_s']['fastwarc'])} records/s ({g['ratio_haybale_vs_fastwarc']:.2f}x)", "≥ 0.7x")]


def catalog_size_options(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def pick(family: str, prefix: str) -> tuple[str, float]:
        return next((k, v) for k, v in r[family].items() if k.startswith(prefix))

    rows = []
    for family in ("location", "listing"):
        chosen_name, chosen = pick(family, "chosen")
        before_name, before = pick(family, "before")
        others = "; ".join(f"{k}: {v:.2f}" for k, v in r[family].items() if not k.startswith(("chosen", "before")))
        rows.append((f"{family} SST of one {r['shard_entries']:,}-entry shard, B/entry ({chosen_name[8:]})",
                     f"{chosen:.2f}", f"{before_name[8:]}: {before:.2f}; {others}", ""))
    return rows


def catalog_rebuild(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f"catalog rebuild from sidecars, {r['records']:,} records ({r['volume_bytes'] / 1e6:,.0f} MB of volumes), "
             "records/s", f"{_f(r['parallel_records_per_s'])} (Ray job, SST per shard)",
             f"serial rebuild {_f(r['serial_records_per_s'])} ({r['speedup']:.2f}x); load avg {r['load_avg']:.1f}", "")]


def catalog_service(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    sg = r["single_get"]
    gm = r["get_many"]
    return [(f"catalog service (HTTP, loopback), {r['entries']:,} entries: single get p50 / p99",
             f"{sg['http']['p50_us']:.0f} / {sg['http']['p99_us']:.0f} µs",
             f"embedded get {sg['embedded']['p50_us']:.1f} / {sg['embedded']['p99_us']:.1f} µs; get_many "
             + "; ".join(f"{int(k):,}-key batches {_f(v['http_keys_per_s'])} keys/s ({v['ratio_http_vs_embedded']:.2f}x embedded)"
                         for k, v in gm.items()), "")]


def dedup_minhash(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    mb = r["mb_per_s"]
    hb = next(v for k, v in mb.items() if k.startswith("haybale (words64"))
    return [("MinHash signatures, 128 perms, word 5-grams, 1 core", f"{hb:.1f} MB/s",
             f"datasketch bulk {r['ratio_vs_datasketch_bulk']:.1f}x slower; rensa {r['ratio_vs_rensa']:.1f}x slower",
             "≥ 8x datasketch, ≥ 2x rensa")]


def dedup_clean(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    e = r["extractors"]
    hb, tr, rp = e["haybale"], e["trafilatura"], e["resiliparse"]
    rows = []
    for key, label, metric in (("tfeval", f"tfeval-dev, {r['pages']['tfeval']} pages, many languages", "snippet F1"),
                               ("aeb", f"aeb-dev, {r['pages']['aeb']} pages", "4-gram F1")):
        ours, theirs, resi = hb[key], tr[key], rp[key]
        held = ours["held_out"]["f1"], theirs["held_out"]["f1"]
        rows.append((f"HTML cleaning on {label} ({metric}; held-out half)",
                     f"F1 {ours['all']['f1']:.3f} ({held[0]:.3f})",
                     f"trafilatura {theirs['all']['f1']:.3f} ({held[1]:.3f}); resiliparse {resi['all']['f1']:.3f}",
                     "≥ trafilatura"))
    languages = hb["tfeval"]["languages"]
    rows.append(("HTML cleaning on tfeval-dev per language group (snippet F1)",
                 "; ".join(f"{g} {v['f1']:.3f}" for g, v in languages.items()),
                 "trafilatura: " + "; ".join(f"{g} {v['f1']:.3f}" for g, v in tr["tfeval"]["languages"].items()),
                 "no group below trafilatura"))
    rows.append((f"HTML cleaning speed, {r['batch']['pages']} pages as a batch (`haybale dedup clean-html`, start-up included)",
                 f"{_f(r['batch']['pages_per_second'])} pages/s",
                 f"trafilatura {_f(tr['pages_per_second'])} pages/s in-process ({r['speed_vs_trafilatura_batch']:.1f}x; "
                 f"in-process haybale {_f(hb['pages_per_second'])} pages/s, {r['speed_vs_trafilatura_in_process']:.1f}x)",
                 "≥ 5x trafilatura"))
    return rows


def dedup_e2e(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    m = r["methods"]
    hb = m["haybale"]
    rows = [(f"dedup end to end, {r['documents']:,} docs / {r['megabytes']:.0f} MB",
             f"{hb['seconds']:.1f} s, recall {hb['recall_planted']:.3f}",
             "; ".join(f"{name} {v['seconds']:.1f} s ({v['haybale_speedup']:.1f}x slower), recall {v['recall_planted']:.3f}"
                       for name, v in m.items() if name != "haybale"),
             "≥ 20x datatrove, ≥ 4x plain")]
    return rows


def _load_of(t: dict[str, Any]) -> str:
    """The load average after a throughput run, or the range over its repeats (``--repeat``: the
    result holds every run, each with its own)."""
    if "load_average_1m_after" in t:
        return str(t["load_average_1m_after"])
    loads = [run["load_average_1m_after"] for run in t.get("every_run", []) if "load_average_1m_after" in run]
    return f"{min(loads)}-{max(loads)}" if loads else "not recorded"


def dedup_scale(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    t = r.get("throughput")
    if t:
        rows.append((f"dedup whole process, {t['documents']:,} docs / {t['megabytes'] / 1000:.1f} GB, {t['cores']} cores, MB/s per core",
                     f"{t['mb_per_s_per_core']:.1f} ({t['ratio_vs_rensa']:.2f}x rensa), recall {t['recall_planted']:.3f}, "
                     f"unique text lost: {'yes' if t['unique_text_lost'] else 'no'}",
                     f"rensa one core from raw text {t['rensa_one_core_mb_per_s']:.1f} MB/s; {t['seconds']:.1f} s wall, "
                     f"{t['cpu_seconds']:.0f} CPU s; per CPU second {t['mb_per_cpu_second']:.1f} MB vs rensa "
                     f"{t.get('rensa_mb_per_cpu_second', 0):.1f} ({t.get('cpu_ratio_vs_rensa', 0):.2f}x); "
                     f"load avg {_load_of(t)}",
                     "≥ 2.5x rensa, recall 1.000"))
    s = r.get("scaling")
    if s:
        points = s["points"]
        rows.append(("dedup scaling, short documents: µs per document (whole process)",
                     "; ".join(f"{p['documents']:,}: {p['microseconds_per_document']:.1f}" for p in points)
                     + (f" (10^7 / 10^6: {s['time_per_document_ratio_1e7_vs_1e6']:.2f}x)" if "time_per_document_ratio_1e7_vs_1e6" in s else ""),
                     "peak RSS driver / largest worker, MB: " + "; ".join(
                         f"{p['documents']:,}: {p['peak_rss_mb']['driver']:.0f} / {p['peak_rss_mb']['largest_worker']:.0f}" for p in points),
                     "≤ 1.3x at 10^7 vs 10^6; RSS flat (plot: bench/results/dedup_scaling.png)"))
    return rows


def dedup_neardup(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    d, a = r["defaults"], r["anchors"]

    def cell(x: dict[str, Any]) -> str:
        return f"F1 {x['f1']:.3f} (P {x['precision']:.3f}, R {x['recall']:.3f})"

    exact, trove = a["exact_jaccard_5gram_0.5"], a["datatrove_style_14x8"]
    return [
        (f"near-dup defaults on neardup-core ({r['core_pairs']} human-graded pairs, through the job)", cell(d["core"]),
         f"exact 5-gram Jaccard ≥ 0.5 {exact['core']['f1']:.3f}; datatrove-style 14x8 {trove['core']['f1']:.3f}", "F1 ≥ 0.90"),
        (f"near-dup defaults on the synthetic dev set ({r['synthetic_pairs']:,} pairs)", cell(d["synthetic"]),
         f"exact 5-gram Jaccard ≥ 0.5 {exact['synthetic']['f1']:.3f}; datatrove-style 14x8 {trove['synthetic']['f1']:.3f}",
         "F1 ≥ 0.95"),
    ]


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any]], list[tuple[str, str, str, str]]]]] = [
    ("catalog", "bench.catalog_bench", catalog),
    ("catalog_size_options", "bench.catalog_size_options", catalog_size_options),
    ("catalog_rebuild", "bench.catalog_rebuild_bench", catalog_rebuild),
    ("catalog_service_bench", "bench.catalog_service_bench", catalog_service),
    ("ingest_files", "bench.ingest_files_bench", ingest_files),
    ("ingest_crawl", "bench.ingest_crawl", ingest_crawl),
    ("ingest_crawl_job", "bench.ingest_crawl_job", ingest_crawl_job),
    ("ingest_warc_index", "bench.ingest_warc_index", ingest_warc_index),
    ("ingest_warc_job", "bench.ingest_warc_job", ingest_warc_job),
    ("dedup_minhash", "bench.dedup_minhash", dedup_minhash),
    ("dedup_clean", "bench.dedup_clean", dedup_clean),
    ("dedup_e2e", "bench.dedup_e2e", dedup_e2e),
    ("dedup_scale", "bench.dedup_scale", dedup_scale),
    ("dedup_neardup", "bench.dedup_neardup", dedup_neardup),
]


def render() -> str:
    lines = [START, "", "| measure | haybale | baseline in the same run | target | made by |", "|---|---|---|---|---|"]
    for result, module, fn in SECTIONS:
        data = _load(result)
        if data is None:
            continue
        for what, ours, base, target in fn(data):
            lines.append(f"| {what} | {ours} | {base} | {target} | `python -m {module}` |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--update-readme", action="store_true")
    args = ap.parse_args(argv)
    text = render()
    if not args.update_readme:
        print(text)
        return 0
    readme = ROOT / "README.md"
    body = readme.read_text()
    if START in body and END in body:
        body = body[:body.index(START)] + text + body[body.index(END) + len(END):]
    else:
        body = body.rstrip() + "\n\n" + text + "\n"
    readme.write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
