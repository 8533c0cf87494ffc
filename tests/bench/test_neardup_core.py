"""neardup-core through the real job: the defaults reach the target on human judgements."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.neardup_core import exact_similarities, job_pair_decisions, load_core, scores, shingle_set
from dedup.config import DedupConfig


@pytest.fixture(scope="module")
def core(shared_data_dir: Path):
    root = shared_data_dir / "neardup-core"
    if not (root / "pairs.jsonl.gz").is_file():
        pytest.skip(f"neardup-core not found at {root}")
    return load_core(root)


def test_the_set_and_the_published_reference(core) -> None:
    assert len(core.pairs) == 120 and int(core.truth.sum()) == 80 and len(core.texts) == 201
    # ../shared/data/README.md: exact word-5-gram Jaccard >= 0.5 scores F1 0.914.
    assert scores(exact_similarities(core, "word", 5) >= 0.5, core.truth)["f1"] == pytest.approx(0.914, abs=0.002)
    assert shingle_set("A b, c d!", "word", 3) == {"a b c", "b c d"}
    assert shingle_set("ab", "char", 5) == {"ab"}


def test_defaults_through_the_job_reach_the_target(ray_session: None, core) -> None:
    """Measured: F1 0.913 (precision 0.986, recall 0.850); target >= 0.90."""
    result = scores(job_pair_decisions(core, DedupConfig(partitions=2)), core.truth)
    assert result["f1"] >= 0.90, result
    # The previous defaults (5-grams, 0.65, no small-difference clause) missed a third of the pairs.
    before = DedupConfig(partitions=2, threshold=0.65, small_difference=0)
    from dataclasses import replace

    old = scores(job_pair_decisions(core, replace(before, minhash=replace(before.minhash, ngram=5))), core.truth)
    assert old["recall"] < 0.75 and old["f1"] < result["f1"]


def test_job_clusters_are_transitive(ray_session: None) -> None:
    """Documents in one cluster count as near-duplicates of each other, as the job removes them."""
    from bench.neardup_core import GradedPair, PairSet

    base = " ".join(f"word{i} says something about item {i}" for i in range(60))
    texts = {"a": base, "b": base + " extra tail text here", "c": "completely different text " * 20}
    pairs = PairSet(texts, [GradedPair("a", "b", 2), GradedPair("a", "c", 0)])
    assert job_pair_decisions(pairs, DedupConfig(partitions=2)).tolist() == [True, False]
    assert isinstance(pairs.truth, np.ndarray)
