"""When a verified candidate pair counts as a near-duplicate: the pair rule of the dedup job.

Two documents are near-duplicates when the Jaccard similarity of their shingle sets reaches
``threshold``, or when their sets differ by at most ``small_difference`` shingles and their
similarity still reaches ``small_difference_threshold``.

Why the second clause: people judge two pages the same when they differ by a sentence or two,
whatever their length, while Jaccard similarity judges the share that differs. Two 120-word
versions of a notice that differ in three sentences have a word-trigram Jaccard near 0.5, two
1,000-word articles near 0.5 have hundreds of sentences of their own. One threshold cannot take the
first and leave the second (measured on neardup-core's human grades and on the synthetic dev set:
dedup/README.md). The difference is counted in shingles, so it is known exactly only where the job
measures exact Jaccard (``verify="exact"``, for pairs whose estimate is within
``candidates.EXACT_CHECK_MARGIN`` of the threshold); elsewhere the clause does not apply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dedup.errors import ConfigError


@dataclass(frozen=True)
class NearDuplicateRule:
    """The decision for candidate pairs (see the module docstring); ``small_difference=0`` turns the
    second clause off (then the rule is ``similarity >= threshold``)."""

    threshold: float
    small_difference: int = 0
    small_difference_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.small_difference < 0:
            raise ConfigError(f"small_difference must be >= 0 shingles, got {self.small_difference}")
        if not 0.0 < self.small_difference_threshold <= 1.0:
            raise ConfigError(f"small_difference_threshold must be in (0, 1], got {self.small_difference_threshold}")

    def decide(self, similarity: np.ndarray, difference: np.ndarray) -> np.ndarray:
        """Near-duplicate or not, per pair. ``difference``: shingles in one set and not the other
        (``union - intersection``); a negative value means unknown (the clause does not apply)."""
        near = similarity >= self.threshold
        if self.small_difference > 0:
            near |= (difference >= 0) & (difference <= self.small_difference) & (
                similarity >= self.small_difference_threshold)
        return near
