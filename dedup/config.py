"""The settings of one dedup run, as a frozen dataclass written into the run's summary."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

# the tuned defaults live in dedup/defaults.py, which the command line reads without this module's imports
from dedup.defaults import (
    DEFAULT_LSH_THRESHOLD,
    DEFAULT_NGRAM,
    DEFAULT_SMALL_DIFFERENCE,
    DEFAULT_SMALL_DIFFERENCE_THRESHOLD,
    DEFAULT_THRESHOLD,
)
from dedup.errors import ConfigError
from dedup.lsh_params import LshParams, optimal_params
from dedup.minhash_config import MinHashConfig
from dedup.near_duplicate import NearDuplicateRule

KeepPolicy = Literal["first", "longest", "priority"]
VerifyMode = Literal["exact", "estimate"]


def default_minhash() -> MinHashConfig:
    """The job's signature settings: ``MinHashConfig`` with ``DEFAULT_NGRAM``-word shingles."""
    return MinHashConfig(ngram=DEFAULT_NGRAM)


@dataclass(frozen=True)
class DedupConfig:
    """How a run deduplicates.

    Attributes:
        minhash: signature settings (num_perm, ngram, seed, hash, scheme); word trigrams by default.
        threshold: Jaccard similarity at or above which two documents are near duplicates; a
            candidate pair is merged only if its similarity reaches it (or the small-difference
            clause below holds).
        lsh_threshold: the similarity the LSH layout is tuned for (candidate generation); below
            ``threshold`` so that verification, not banding, decides.
        bands, rows: LSH layout; None = chosen from ``lsh_threshold`` and ``num_perm``.
        verify: how a candidate pair's similarity is measured before merging: ``exact`` (Jaccard of
            the two documents' shingle-hash sets, recomputed from their clean text, for the pairs whose
            signature estimate is within 0.2 of the threshold; the others are clear either way)
            or ``estimate`` (share of equal signature values; no shingle hashes are stored).
        small_difference, small_difference_threshold: a pair whose shingle sets differ by at most
            ``small_difference`` shingles is a near duplicate from ``small_difference_threshold``
            on (only where the exact check ran; 0 turns the clause off; see
            ``dedup.near_duplicate``).
        keep: which member of a duplicate cluster survives: ``first`` (input order), ``longest``
            (most bytes of clean text) or ``priority`` (highest ``priority_field``); ties go to the
            first in input order.
        priority_field: metadata field holding a number, for ``keep="priority"``.
        partitions: number of shuffle partitions of band keys and exact digests; None = chosen
            after stage 1 from the documents read (~128 MB of band keys each, at least 2 per CPU).
        split_bytes: input bytes per split: consecutive smaller files are grouped into one split
            (dedup/split_plan.py); None = one split per file unless there are more than 4096 files.
        clean_text: apply the plain-text line filters to text inputs (HTML is always cleaned).
        adblock_list: EasyList-format file for HTML cleaning (None: the cleaner's default).
        max_bad_records: error budget; the run fails when more records than this are quarantined
            (-1: no limit).
    """

    minhash: MinHashConfig = field(default_factory=default_minhash)
    threshold: float = DEFAULT_THRESHOLD
    lsh_threshold: float = DEFAULT_LSH_THRESHOLD
    bands: int | None = None
    rows: int | None = None
    verify: VerifyMode = "exact"
    small_difference: int = DEFAULT_SMALL_DIFFERENCE
    small_difference_threshold: float = DEFAULT_SMALL_DIFFERENCE_THRESHOLD
    keep: KeepPolicy = "first"
    priority_field: str | None = None
    partitions: int | None = None
    split_bytes: int | None = None
    clean_text: bool = False
    adblock_list: str | None = None
    max_bad_records: int = -1

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.lsh_threshold < 1.0:
            raise ConfigError(f"lsh_threshold must be in (0, 1), got {self.lsh_threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both --bands and --rows, or neither (then --threshold chooses them)")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.minhash.num_perm:
            raise ConfigError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.minhash.num_perm}"
            )
        _ = self.near_duplicate_rule  # raises ConfigError on a bad small_difference or its threshold
        if self.verify not in ("exact", "estimate"):
            raise ConfigError(f"verify must be exact or estimate, got {self.verify!r}")
        if self.keep not in ("first", "longest", "priority"):
            raise ConfigError(f"keep must be first, longest or priority, got {self.keep!r}")
        if self.keep == "priority" and not self.priority_field:
            raise ConfigError("keep='priority' needs --priority-field")
        if self.split_bytes is not None and self.split_bytes < 1:
            raise ConfigError(f"split_bytes must be at least 1, got {self.split_bytes}")
        if self.partitions is not None and not 1 <= self.partitions <= 4096:
            raise ConfigError(f"partitions must be in 1..4096, got {self.partitions}")

    @property
    def near_duplicate_rule(self) -> NearDuplicateRule:
        """The pair decision of stage 2 (threshold, and the small-difference clause)."""
        return NearDuplicateRule(self.threshold, self.small_difference, self.small_difference_threshold)

    @property
    def lsh(self) -> LshParams:
        """The bands x rows in use (given, or optimal for the threshold)."""
        if self.bands is not None and self.rows is not None:
            return LshParams(self.bands, self.rows)
        return _cached_optimal(self.lsh_threshold, self.minhash.num_perm)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lsh"] = dataclasses.asdict(self.lsh)
        return data

    def fingerprint(self) -> str:
        """Stable text of the settings that change results (to refuse resuming with other settings)."""
        return json.dumps(self.to_json(), sort_keys=True)


_OPTIMAL: dict[tuple[float, int], LshParams] = {}


def _cached_optimal(threshold: float, num_perm: int) -> LshParams:
    key = (threshold, num_perm)
    if key not in _OPTIMAL:
        _OPTIMAL[key] = optimal_params(threshold, num_perm)
    return _OPTIMAL[key]
