"""Quality floor on real labelled pages, so that a regression in extraction fails the suite.

Measured with the defaults plus the shared EasyList (see bench/dedup_clean.py): aggregate F1 over
the first 30 aeb-dev pages (sorted by id) was 0.971 (precision 0.963, recall 0.979); all 50: 0.970.
The floors leave a 0.02 margin. (trafilatura scores 0.951 on all 50, resiliparse 0.897.)
"""
from __future__ import annotations

from dedup.clean import CleanConfig, clean_html
from bench.aeb_metric import BenchmarkPage, aggregate, score_page

MEASURED_F1_FIRST_30 = 0.971
MARGIN = 0.02


def test_f1_on_30_pages_stays_above_floor(aeb_pages: dict[str, BenchmarkPage], adblock_config: CleanConfig) -> None:
    pages = sorted(aeb_pages.values(), key=lambda p: p.page_id)[:30]
    scores = aggregate(score_page(p.truth, clean_html(p.html, p.url, adblock_config).text) for p in pages)
    assert scores.f1 >= MEASURED_F1_FIRST_30 - MARGIN, scores
    assert scores.precision >= 0.94 and scores.recall >= 0.95, scores


def test_no_page_is_emptied(aeb_pages: dict[str, BenchmarkPage], adblock_config: CleanConfig) -> None:
    for page in aeb_pages.values():
        recall = score_page(page.truth, clean_html(page.html, page.url, adblock_config).text).recall
        assert recall > 0.5, (page.page_id, page.url, recall)
