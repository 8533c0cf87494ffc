"""Bands x rows for a threshold, compared with datasketch's optimal parameters."""
from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from dedup.errors import ConfigError
from dedup.lsh_params import LshParams, optimal_params, s_curve


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_matches_datasketch(threshold: float) -> None:
    ours = optimal_params(threshold, 128)
    theirs = _optimal_param(threshold, 128, 0.5, 0.5)
    assert (ours.bands, ours.rows) == tuple(theirs)


def test_s_curve_is_monotonic_and_bounded() -> None:
    grid = np.linspace(0, 1, 101)
    curve = s_curve(grid, 20, 5)
    assert curve[0] == 0.0 and curve[-1] == 1.0
    assert np.all(np.diff(curve) >= 0)
    params = LshParams(20, 5)
    assert 0.5 < params.inflection < 0.6
    assert params.candidate_probability(params.inflection) == pytest.approx(1 - (1 - 1 / 20) ** 20, rel=1e-6)


def test_invalid() -> None:
    with pytest.raises(ConfigError):
        optimal_params(1.5, 128)
    with pytest.raises(ConfigError):
        LshParams(0, 4)
