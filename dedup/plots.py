"""The run's plots, as PNG bytes: what a person checks after a dedup run.

* ``s_curve.png`` (:func:`plot_s_curve`): the measured similarity of every LSH candidate pair, as a
  histogram split into merged and rejected pairs, drawn over the S-curve of the bands x rows used
  (the chance that a pair of a given similarity becomes a candidate), with the threshold (and the
  small-difference zone, when on) marked. It shows whether the threshold cuts through a valley or
  through a crowd of pairs, and whether LSH missed similarities the threshold would accept.
* ``cluster_sizes.png`` (:func:`plot_cluster_sizes`): duplicate clusters grouped by size (2, 3,
  4, 5-9, ... members), as clusters per group and as documents removed per group, counts printed on
  the bars: whether removals come from many pairs or from a few huge clusters.
* ``removals.png`` (:func:`plot_removals`): what became of the input documents: kept, and removed
  per reason, with counts and shares.

matplotlib is imported lazily (Agg backend), so importing this module costs nothing.
"""
from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

import numpy as np

from dedup.lsh_params import LshParams

SIMILARITY_BINS = 50
PLOT_DESCRIPTIONS = {
    "s_curve.png": "measured similarity of the LSH candidate pairs (merged / rejected) over the S-curve of the "
                   "bands x rows used, threshold marked",
    "cluster_sizes.png": "duplicate clusters by size: clusters per size group and documents removed per size group",
    "removals.png": "input documents kept and removed, per reason",
}
_SIZE_GROUPS = ((2, 2), (3, 3), (4, 4), (5, 9), (10, 19), (20, 49), (50, 99), (100, 999), (1000, None))


def similarity_histogram(similarity: np.ndarray, merged: np.ndarray) -> dict[str, list[int]]:
    """Counts of candidate pairs per similarity bin (``SIMILARITY_BINS`` bins over [0, 1]), merged
    and rejected apart; small enough to travel in a task's result and add up across tasks."""
    edges = np.linspace(0.0, 1.0, SIMILARITY_BINS + 1)
    values = np.clip(np.asarray(similarity, dtype=np.float64), 0.0, 1.0)
    return {
        "merged": np.histogram(values[merged], bins=edges)[0].astype(int).tolist(),
        "rejected": np.histogram(values[~merged], bins=edges)[0].astype(int).tolist(),
    }


def add_histograms(histograms: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, list[int]]:
    """Sum of ``similarity_histogram`` results (missing ones count as empty)."""
    total = {"merged": [0] * SIMILARITY_BINS, "rejected": [0] * SIMILARITY_BINS}
    for histogram in histograms:
        for key in total:
            for index, count in enumerate(histogram.get(key, ())):
                total[key][index] += int(count)
    return total


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_s_curve(lsh: LshParams, threshold: float, histogram: Mapping[str, Sequence[int]] | None = None,
                 small_difference: int = 0, small_difference_threshold: float = 1.0) -> bytes:
    """PNG: candidate pairs' similarity histogram over the LSH S-curve (see the module docstring)."""
    plt = _pyplot()
    figure, curve_axes = plt.subplots(figsize=(7.5, 4.5))
    grid = np.linspace(0, 1, 501)
    curve_axes.plot(grid, lsh.candidate_probability(grid), color="black", lw=1.5,
                    label=f"P(candidate), {lsh.bands} bands x {lsh.rows} rows")
    curve_axes.set_ylim(0, 1.05)
    curve_axes.set_xlim(0, 1)
    curve_axes.set_xlabel("Jaccard similarity of the pair's shingle sets (exact where checked, else estimated)")
    curve_axes.set_ylabel("P(pair becomes a candidate)")
    pairs_axes = curve_axes.twinx()
    merged = np.asarray((histogram or {}).get("merged", [0] * SIMILARITY_BINS))
    rejected = np.asarray((histogram or {}).get("rejected", [0] * SIMILARITY_BINS))
    width = 1.0 / SIMILARITY_BINS
    left = np.arange(SIMILARITY_BINS) * width
    total = int(merged.sum() + rejected.sum())
    pairs_axes.bar(left, rejected, width=width, align="edge", color="#d62728", alpha=0.55,
                   label=f"rejected pairs ({int(rejected.sum()):,})")
    pairs_axes.bar(left, merged, width=width, align="edge", bottom=rejected, color="#2ca02c", alpha=0.55,
                   label=f"merged pairs ({int(merged.sum()):,})")
    counts = merged + rejected
    if counts.max(initial=0) > 20 * max(float(np.median(counts[counts > 0])) if counts.any() else 1.0, 1.0):
        pairs_axes.set_yscale("log")  # one crowded bin (copies at 1.0) would flatten all others
        pairs_axes.set_ylim(bottom=0.8)  # a bin of one pair still shows
        pairs_axes.set_ylabel("candidate pairs per bin (log scale)")
    else:
        pairs_axes.set_ylabel("candidate pairs per bin")
    if total == 0:
        pairs_axes.text(0.5, 0.5, "no candidate pairs", ha="center", va="center", transform=pairs_axes.transAxes)
    curve_axes.axvline(threshold, color="#1f77b4", linestyle="--", lw=1.5, label=f"threshold {threshold:g}")
    if small_difference > 0 and small_difference_threshold < threshold:
        curve_axes.axvspan(small_difference_threshold, threshold, color="#1f77b4", alpha=0.08,
                           label=f"merged if <= {small_difference} shingles differ")
    curve_axes.set_zorder(pairs_axes.get_zorder() + 1)
    curve_axes.patch.set_visible(False)
    handles = curve_axes.get_legend_handles_labels()
    more = pairs_axes.get_legend_handles_labels()
    curve_axes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8, framealpha=0.9)
    curve_axes.set_title(f"LSH candidates ({total:,} pairs): measured similarity over the S-curve")
    return _png(figure)


def _size_group_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def plot_cluster_sizes(cluster_sizes: Mapping[int, int]) -> bytes:
    """PNG: duplicate clusters (size >= 2) per size group, and documents removed per group."""
    plt = _pyplot()
    figure, (clusters_axes, removed_axes) = plt.subplots(1, 2, figsize=(9, 4))
    sizes = {int(size): int(count) for size, count in cluster_sizes.items() if int(size) >= 2 and count}
    labels, clusters, removed = [], [], []
    for low, high in _SIZE_GROUPS:
        members = [(s, c) for s, c in sizes.items() if s >= low and (high is None or s <= high)]
        if members or (high is not None and high <= 4):
            labels.append(_size_group_label(low, high))
            clusters.append(sum(c for _, c in members))
            removed.append(sum((s - 1) * c for s, c in members))
    if not sizes:
        for axes in (clusters_axes, removed_axes):
            axes.text(0.5, 0.5, "no duplicate clusters", ha="center", va="center", transform=axes.transAxes)
            axes.set_xticks([])
            axes.set_yticks([])
    else:
        for axes, values, colour, title in ((clusters_axes, clusters, "#1f77b4", f"clusters ({sum(clusters):,})"),
                                            (removed_axes, removed, "#ff7f0e", f"documents removed ({sum(removed):,})")):
            bars = axes.bar(labels, values, color=colour)
            axes.bar_label(bars, labels=[f"{v:,}" if v else "" for v in values], fontsize=8)
            axes.set_xlabel("documents in the cluster")
            axes.set_title(title)
            axes.set_ylim(0, max(values) * 1.15 or 1)
    figure.suptitle("Duplicate clusters by size")
    return _png(figure)


def plot_removals(counts: Mapping[str, int]) -> bytes:
    """PNG: documents kept and removed per reason (``counts``: ``kept`` and one entry per reason)."""
    plt = _pyplot()
    items = [("kept", int(counts.get("kept", 0)))] + sorted(
        ((k, int(v)) for k, v in counts.items() if k != "kept" and v), key=lambda kv: -kv[1])
    total = sum(v for _, v in items) or 1
    figure, axes = plt.subplots(figsize=(7.5, 0.5 * len(items) + 1.6))
    names = [name.replace("_", " ") for name, _ in items][::-1]
    values = [value for _, value in items][::-1]
    colours = ["#2ca02c" if name == "kept" else "#d62728" for name, _ in items][::-1]
    bars = axes.barh(names, values, color=colours)
    axes.bar_label(bars, labels=[f" {v:,} ({100 * v / total:.1f} %)" for v in values], fontsize=9)
    axes.set_xlim(0, max(values) * 1.35 if values and max(values) else 1)
    axes.set_xlabel("documents")
    axes.set_title(f"What became of the {total:,} input documents")
    return _png(figure)


def _png(figure: Any) -> bytes:
    plt = _pyplot()
    sink = io.BytesIO()
    figure.tight_layout()
    figure.savefig(sink, format="png", dpi=100)
    plt.close(figure)
    return sink.getvalue()
