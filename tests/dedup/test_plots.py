"""The run's plots: the data they are drawn from, and PNGs for empty and busy runs."""
from __future__ import annotations

import numpy as np

from dedup.lsh_params import LshParams
from dedup.plots import (
    SIMILARITY_BINS,
    add_histograms,
    plot_cluster_sizes,
    plot_removals,
    plot_s_curve,
    similarity_histogram,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_similarity_histogram_splits_merged_and_rejected_and_adds_up() -> None:
    similarity = np.array([0.0, 0.31, 0.69, 0.7, 1.0, 1.0])
    merged = similarity >= 0.68
    histogram = similarity_histogram(similarity, merged)
    assert len(histogram["merged"]) == len(histogram["rejected"]) == SIMILARITY_BINS
    assert sum(histogram["merged"]) == 4 and sum(histogram["rejected"]) == 2
    assert histogram["merged"][-1] == 2  # 1.0 falls in the last bin
    total = add_histograms([histogram, histogram, {}])
    assert sum(total["merged"]) == 8 and total["rejected"][0] == 2


def test_plots_are_pngs_for_empty_and_busy_runs() -> None:
    lsh = LshParams(25, 5)
    assert plot_s_curve(lsh, 0.68).startswith(PNG)
    busy = similarity_histogram(np.r_[np.full(5000, 1.0), np.linspace(0.3, 0.9, 200)],
                                np.r_[np.ones(5000, bool), np.linspace(0.3, 0.9, 200) >= 0.68])
    assert plot_s_curve(lsh, 0.68, busy, small_difference=80, small_difference_threshold=0.5).startswith(PNG)
    assert plot_cluster_sizes({}).startswith(PNG)
    assert plot_cluster_sizes({2: 900, 3: 40, 7: 3, 250: 1}).startswith(PNG)
    assert plot_removals({"kept": 0}).startswith(PNG)
    assert plot_removals({"kept": 900, "near_duplicate": 80, "exact_duplicate": 15, "empty": 5}).startswith(PNG)
