"""LSH banding parameters: the S-curve and the choice of bands x rows for a similarity threshold.

A pair with Jaccard similarity ``s`` becomes a candidate when at least one of ``b`` bands of ``r``
rows agrees completely: ``P(s) = 1 - (1 - s**r)**b`` (the S-curve). For a threshold ``t`` we choose
``b * r <= num_perm`` minimizing ``fp_weight * FP + fn_weight * FN`` where FP is the area under the
curve left of ``t`` and FN the area above it right of ``t`` (datasketch's ``_optimal_param``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dedup.errors import ConfigError

_GRID = 1001


@dataclass(frozen=True)
class LshParams:
    """Bands x rows of an LSH index over signatures of ``bands * rows`` (<= num_perm) values."""

    bands: int
    rows: int

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1:
            raise ConfigError(f"bands and rows must be >= 1, got {self.bands} x {self.rows}")

    def candidate_probability(self, similarity: float | np.ndarray) -> float | np.ndarray:
        """P(candidate) for pairs of the given Jaccard similarity (the S-curve)."""
        return s_curve(similarity, self.bands, self.rows)

    @property
    def inflection(self) -> float:
        """The similarity where the S-curve is steepest, about ``(1/b)**(1/r)``."""
        return float((1.0 / self.bands) ** (1.0 / self.rows))


def s_curve(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """``1 - (1 - s**rows)**bands``."""
    s = np.asarray(similarity, dtype=np.float64)
    result = 1.0 - (1.0 - s**rows) ** bands
    return float(result) if result.ndim == 0 else result


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    """Area under the S-curve on [0, threshold]: chance mass of candidates below the threshold."""
    grid = np.linspace(0.0, threshold, _GRID)
    return float(np.trapezoid(s_curve(grid, bands, rows), grid))


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    """Area above the S-curve on [threshold, 1]: chance mass of missed pairs above the threshold."""
    grid = np.linspace(threshold, 1.0, _GRID)
    return float(np.trapezoid(1.0 - s_curve(grid, bands, rows), grid))


def optimal_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> LshParams:
    """The bands x rows (b * r <= num_perm) minimizing the weighted false positive/negative areas.

    Errors: ConfigError if the threshold is outside (0, 1), num_perm < 1 or the weights do not sum to 1.
    """
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 1:
        raise ConfigError(f"num_perm must be >= 1, got {num_perm}")
    if fp_weight < 0 or fn_weight < 0 or abs(fp_weight + fn_weight - 1.0) > 1e-9:
        raise ConfigError(f"weights must be >= 0 and sum to 1, got {fp_weight} and {fn_weight}")
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = fp_weight * false_positive_area(threshold, bands, rows) + fn_weight * false_negative_area(
                threshold, bands, rows
            )
            if best is None or error < best[0] - 1e-15:
                best = (error, bands, rows)
    assert best is not None
    return LshParams(bands=best[1], rows=best[2])
