"""The article-extraction-benchmark metric (scrapinghub/article-extraction-benchmark, used by aeb-dev).

Contract, as the benchmark defines it:

* Tokens are the ``\\w+`` runs of a text (Unicode word characters); a page's shingles are the
  token 4-grams, counted as a multiset (a text with fewer than 4 tokens gives one shorter shingle,
  an empty text none).
* Per page: ``tp = sum(min(true, pred))``, ``fp = sum(max(0, pred - true))``,
  ``fn = sum(max(0, true - pred))`` over all shingles, then all three divided by their sum so that
  long pages do not weigh more.
* Precision is averaged over the pages with ``tp + fp > 0``, recall over the pages with
  ``tp + fn > 0`` (a page with ``fp == fn == 0`` scores 1 for both); F1 is the harmonic mean of
  the two averages (not the mean of per-page F1s).
"""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
SHINGLE_SIZE = 4


class EvaluationError(ValueError):
    """The predictions do not cover the same pages as the ground truth."""


@dataclass(frozen=True)
class PageScore:
    """Normalized shingle counts of one page (``tp + fp + fn == 1`` unless all are 0)."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        if self.tp == self.fp == 0:
            return 0.0
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        if self.tp == self.fn == 0:
            return 0.0
        return self.tp / (self.tp + self.fn)


@dataclass(frozen=True)
class Scores:
    """Benchmark scores over a set of pages."""

    precision: float
    recall: float
    f1: float
    pages: int


def shingles(text: str, n: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Multiset of token n-grams of ``text``, exactly as the benchmark counts them."""
    tokens = _TOKEN_RE.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score_page(true: str, pred: str) -> PageScore:
    """Normalized true/false positive and false negative shingle counts of one page."""
    true_sh = shingles(true)
    pred_sh = shingles(pred)
    tp = float(sum((true_sh & pred_sh).values()))
    fp = float(sum((pred_sh - true_sh).values()))
    fn = float(sum((true_sh - pred_sh).values()))
    total = tp + fp + fn
    if total > 0:
        return PageScore(tp / total, fp / total, fn / total)
    return PageScore(tp, fp, fn)


def aggregate(page_scores: Iterable[PageScore]) -> Scores:
    """Benchmark aggregation: mean precision, mean recall, F1 of the two means."""
    scores = list(page_scores)
    precisions = [s.precision for s in scores if s.tp + s.fp > 0]
    recalls = [s.recall for s in scores if s.tp + s.fn > 0]
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Scores(precision=precision, recall=recall, f1=f1, pages=len(scores))


def evaluate(ground_truth: Mapping[str, str], predictions: Mapping[str, str]) -> Scores:
    """Score ``predictions`` (page id -> extracted text) against ``ground_truth`` (id -> text).

    Raises EvaluationError if the two do not have the same page ids.
    """
    if set(ground_truth) != set(predictions):
        missing = sorted(set(ground_truth) - set(predictions))[:3]
        extra = sorted(set(predictions) - set(ground_truth))[:3]
        raise EvaluationError(
            f"prediction ids do not match ground truth (missing e.g. {missing}, extra e.g. {extra});"
            " predict every ground-truth page and nothing else"
        )
    return aggregate(score_page(ground_truth[k], predictions[k]) for k in sorted(ground_truth))


@dataclass(frozen=True)
class BenchmarkPage:
    """One labelled page of an article-extraction-benchmark directory."""

    page_id: str
    url: str
    html: bytes
    truth: str


def load_benchmark(root: str | Path) -> list[BenchmarkPage]:
    """Load ``root/ground-truth.json`` and ``root/html/<id>.html.gz``, sorted by page id.

    Raises FileNotFoundError if the ground truth or a page's HTML file is missing.
    """
    root = Path(root)
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth):
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes())
        entry = truth[page_id]
        pages.append(
            BenchmarkPage(page_id, entry.get("url", ""), html, entry.get("articleBody", "") or "")
        )
    return pages
