"""Near-duplicate defaults on human judgements and on the synthetic dev set, beside the anchors,
and the sweep that chose them.

Two sets, each pair scored the way the job decides it:

* neardup-core (``bench.neardup_core``): 120 pairs graded by people (grade >= 1 = near-duplicate).
  haybale and the datatrove-style anchor run through the real job (``dedup.job.run_dedup`` on the 201
  documents); a pair counts as found when both documents end in one cluster.
* the synthetic dev set (``bench.dedup_devset``): 2,000 labelled pairs derived from the 50 aeb-dev
  articles; a pair counts as found when the job would merge it directly (LSH candidate, verified).

Methods in the same run: haybale's defaults (``DedupConfig()``, as ``haybale dedup run`` uses them);
exact word-5-gram Jaccard >= 0.5 over every pair (no LSH); datatrove-style MinHash (112 hashes in 14
buckets of 8, word 5-grams, a shared bucket makes a duplicate, no verification). Then the sweep:
shingle size x threshold; the small-difference clause (``dedup.near_duplicate``); verification
(exact vs estimated Jaccard) and the LSH layout; character shingles (exact Jaccard only: the job
shingles words). Finally the defaults on the two halves of neardup-core (pairs sorted by SHA-1).

Run: ``.venv/bin/python -m bench.dedup_neardup [--quick]``; writes ``bench/results/dedup_neardup.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.dedup_devset import DevSet, build_devset, exact_jaccard, pipeline_decisions
from bench.neardup_core import PairSet, exact_similarities, job_pair_decisions, load_core, scores, shingle_set
from dedup.config import DedupConfig

RESULTS = Path(__file__).resolve().parent / "results" / "dedup_neardup.json"
TARGETS = {"core_f1": 0.90, "synthetic_f1": 0.95}


def _config(**changes: Any) -> DedupConfig:
    """The defaults with some settings changed (``ngram`` and ``num_perm`` go to the MinHash part)."""
    base = DedupConfig(partitions=2)
    minhash = dataclasses.replace(base.minhash, **{k: changes.pop(k) for k in ("ngram", "num_perm") if k in changes})
    return dataclasses.replace(base, minhash=minhash, **changes)


DATATROVE_STYLE = dict(ngram=5, num_perm=112, bands=14, rows=8, threshold=0.01, verify="estimate", small_difference=0)


def evaluate(config: DedupConfig, core: PairSet, synthetic: DevSet) -> dict[str, Any]:
    """Both sets' scores for one job configuration."""
    core_scores = scores(job_pair_decisions(core, config), core.truth)
    decisions = pipeline_decisions(synthetic, config.minhash, config.lsh, config.threshold, config.verify,
                                   config.near_duplicate_rule)
    return {
        "ngram": config.minhash.ngram, "threshold": config.threshold, "lsh": f"{config.lsh.bands}x{config.lsh.rows}",
        "verify": config.verify, "small_difference": config.small_difference,
        "small_difference_threshold": config.small_difference_threshold,
        "core": core_scores, "synthetic": scores(decisions, _truth(synthetic)),
    }


def _truth(synthetic: DevSet) -> np.ndarray:
    return np.array([p.duplicate for p in synthetic.pairs])


def anchors(core: PairSet, synthetic: DevSet) -> dict[str, Any]:
    """The reference methods on both sets."""
    exact = {
        "core": scores(exact_similarities(core, "word", 5) >= 0.5, core.truth),
        "synthetic": scores(exact_jaccard(synthetic, 5) >= 0.5, _truth(synthetic)),
    }
    return {"exact_jaccard_5gram_0.5": exact, "datatrove_style_14x8": evaluate(_config(**DATATROVE_STYLE), core, synthetic)}


def sweep(core: PairSet, synthetic: DevSet, quick: bool) -> dict[str, list[dict[str, Any]]]:
    """The sweep tables (see the module docstring); ``quick`` runs a coarser grid."""
    sizes, thresholds = ((3, 5), (0.5, 0.6, 0.68)) if quick else ((2, 3, 4, 5, 7), (0.5, 0.55, 0.6, 0.65, 0.68, 0.7, 0.75))
    tables: dict[str, list[dict[str, Any]]] = {"shingle_size_x_threshold": [], "small_difference": [],
                                               "verification_and_lsh": [], "char_shingles_exact": []}
    for ngram, threshold in itertools.product(sizes, thresholds):
        tables["shingle_size_x_threshold"].append(
            evaluate(_config(ngram=ngram, threshold=threshold, small_difference=0), core, synthetic))
    differences = (0, 80) if quick else (0, 40, 80, 120, 160)
    rule_thresholds = (0.66, 0.68, 0.7) if quick else (0.64, 0.66, 0.68, 0.7, 0.72)
    for threshold, difference in itertools.product(rule_thresholds, differences):
        tables["small_difference"].append(evaluate(_config(threshold=threshold, small_difference=difference), core, synthetic))
    for verify, lsh_threshold in (("exact", 0.3), ("exact", 0.4), ("exact", 0.5), ("exact", 0.68), ("estimate", 0.4)):
        tables["verification_and_lsh"].append(evaluate(_config(verify=verify, lsh_threshold=lsh_threshold), core, synthetic))
    for size in ((5, 7) if quick else (5, 7, 9)):
        tables["char_shingles_exact"].extend(_char_rows(core, synthetic, size))
    return tables


def _char_rows(core: PairSet, synthetic: DevSet, size: int) -> list[dict[str, Any]]:
    """Exact Jaccard of character n-grams, pair by pair (no job: it shingles words)."""
    core_similarity = exact_similarities(core, "char", size)
    sets = [shingle_set(text, "char", size) for text in synthetic.texts]
    synthetic_similarity = np.array([len(sets[p.a] & sets[p.b]) / max(len(sets[p.a] | sets[p.b]), 1)
                                     for p in synthetic.pairs])
    return [{"char_ngram": size, "threshold": t, "core": scores(core_similarity >= t, core.truth),
             "synthetic": scores(synthetic_similarity >= t, _truth(synthetic))} for t in (0.6, 0.65, 0.7, 0.75)]


def halves(core: PairSet, config: DedupConfig) -> list[dict[str, float]]:
    """The defaults' scores on the two halves of neardup-core (pairs sorted by SHA-1 of their ids)."""
    decisions = job_pair_decisions(core, config)
    order = sorted(range(len(core.pairs)), key=lambda i: hashlib.sha1(f"{core.pairs[i].a}|{core.pairs[i].b}".encode()).hexdigest())
    return [scores(decisions[np.array(order[h::2])], core.truth[np.array(order[h::2])]) for h in (0, 1)]


def run(quick: bool) -> dict[str, Any]:
    import ray

    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    core, synthetic = load_core(), build_devset()
    defaults = DedupConfig()
    report = {
        "core_pairs": len(core.pairs), "core_positives": int(core.truth.sum()),
        "synthetic_pairs": len(synthetic.pairs), "synthetic_positives": int(_truth(synthetic).sum()),
        "defaults": {**evaluate(dataclasses.replace(defaults, partitions=2), core, synthetic),
                     "core_halves": halves(core, dataclasses.replace(defaults, partitions=2)),
                     "config": defaults.to_json()},
        "anchors": anchors(core, synthetic),
        "sweep": sweep(core, synthetic, quick),
        "targets": TARGETS,
    }
    d = report["defaults"]
    report["targets_met"] = {"core": d["core"]["f1"] >= TARGETS["core_f1"], "synthetic": d["synthetic"]["f1"] >= TARGETS["synthetic_f1"]}
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _cell(s: dict[str, Any]) -> str:
    return f"{s['f1']:.3f} ({s['precision']:.2f}/{s['recall']:.2f})"


def print_tables(report: dict[str, Any]) -> None:
    d = report["defaults"]
    print(f"neardup-core {report['core_pairs']} pairs ({report['core_positives']} near-duplicates), synthetic "
          f"{report['synthetic_pairs']} pairs ({report['synthetic_positives']}); F1 (precision/recall)")
    print(f"{'method':<40} {'neardup-core':>22} {'synthetic':>22}")
    print(f"{'haybale defaults':<40} {_cell(d['core']):>22} {_cell(d['synthetic']):>22}")
    for name, row in report["anchors"].items():
        print(f"{name:<40} {_cell(row['core']):>22} {_cell(row['synthetic']):>22}")
    print("defaults on the halves of neardup-core:", ", ".join(_cell(h) for h in d["core_halves"]))
    for table, rows in report["sweep"].items():
        print(f"\n{table}")
        for row in rows:
            label = ", ".join(f"{k}={row[k]}" for k in ("ngram", "char_ngram", "threshold", "lsh", "verify",
                                                         "small_difference") if k in row)
            mark = " *" if row["core"]["f1"] >= TARGETS["core_f1"] and row["synthetic"]["f1"] >= TARGETS["synthetic_f1"] else ""
            print(f"  {label:<70} {_cell(row['core']):>22} {_cell(row['synthetic']):>22}{mark}")
    print(f"\ntargets met: {report['targets_met']} ({report['seconds']} s)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.dedup_neardup", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a coarser sweep")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(args.quick)
    print_tables(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
