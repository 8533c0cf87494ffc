"""The synthetic near-duplicate dev set (bench/dedup_devset.py) and the quality of the defaults on it."""
from __future__ import annotations

from pathlib import Path

from bench.dedup_devset import build_devset, evaluate


def test_defaults_reach_target_f1_on_real_devset(shared_data_dir: Path) -> None:
    """The shipped defaults, measured on the labelled pairs of real articles: F1 0.962 (target >= 0.95)."""
    report = evaluate(build_devset(shared_data_dir / "aeb-dev"), thresholds=[0.8])
    assert report["positives"] > 300 and report["pairs"] > 1500
    assert report["defaults"]["f1"] >= 0.95, report["defaults"]
    # Plain LSH at 0.8 (no generous candidate layout) is much worse on the same pairs.
    assert report["sweep"][0]["pipeline_lsh_for_threshold"]["f1"] < report["defaults"]["f1"]
