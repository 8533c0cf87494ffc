"""The pair rule: the threshold, and the small-difference clause for pairs that differ by a sentence or two."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.errors import ConfigError
from dedup.near_duplicate import NearDuplicateRule


def test_decide_applies_the_threshold_and_the_clause_only_where_the_difference_is_known() -> None:
    rule = NearDuplicateRule(threshold=0.68, small_difference=80, small_difference_threshold=0.5)
    similarity = np.array([0.70, 0.60, 0.60, 0.60, 0.45, 0.60])
    difference = np.array([500, 80, 81, -1, 10, 0])
    assert rule.decide(similarity, difference).tolist() == [True, True, False, False, False, True]
    assert NearDuplicateRule(0.68).decide(similarity, difference).tolist() == [True, False, False, False, False, False]


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="small_difference"):
        DedupConfig(small_difference=-1)
    with pytest.raises(ConfigError, match="small_difference_threshold"):
        DedupConfig(small_difference_threshold=0.0)
    assert DedupConfig().near_duplicate_rule == NearDuplicateRule(0.68, 80, 0.5)


SENTENCES = [f"Sentence number {i} of the notice says that item {i} costs {i * 3} euros from Monday on." for i in range(200)]


def _edited(sentences: list[str], every: int) -> str:
    return " ".join(s.replace("costs", "now costs only").replace("Monday", "Tuesday") if i % every == 0 else s
                    for i, s in enumerate(sentences))


def test_short_pages_differing_by_little_merge_and_long_ones_at_the_same_similarity_do_not(
    ray_session: None, tmp_path: Path
) -> None:
    """Every other sentence edited in both pairs, so both have a trigram Jaccard of 0.62-0.65, under
    the threshold; only the short pair differs by few shingles (39 against 704)."""
    from dedup.inputs import source_for_inputs
    from dedup.job import run_dedup

    short, long = SENTENCES[:9], SENTENCES
    docs = {"short-a": " ".join(short), "short-b": _edited(short, 2), "long-a": " ".join(long), "long-b": _edited(long, 2)}
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(f'{{"id": "{k}", "text": "{v}"}}\n' for k, v in docs.items()))
    run_dedup(source_for_inputs([str(path)]), str(tmp_path / "out"), DedupConfig(partitions=2), run_id="r", progress=False)
    removed = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "removed").to_pylist()}
    assert removed["short-b"]["kept_id"] == "short-a" and 0.5 <= removed["short-b"]["similarity"] < 0.68
    assert "long-b" not in removed
