"""The settings of one dedup run, as a frozen dataclass written into the run's summary."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from dedup.errors import ConfigError
from dedup.lsh_params import LshParams, optimal_params
from dedup.minhash import MinHashConfig

KeepPolicy = Literal["first", "longest", "priority"]
VerifyMode = Literal["exact", "estimate"]

# Chosen on the labelled dev set of real documents (dedup/devset.py; numbers in dedup/README.md):
# LSH tuned for 0.5 finds candidates generously, verification at 0.65 decides (F1 0.958 there).
DEFAULT_THRESHOLD = 0.65
DEFAULT_LSH_THRESHOLD = 0.5


@dataclass(frozen=True)
class DedupConfig:
    """How a run deduplicates.

    Attributes:
        minhash: signature settings (num_perm, ngram, seed, hash, scheme).
        threshold: Jaccard similarity at or above which two documents are near duplicates; a
            candidate pair is merged only if its estimated similarity reaches it.
        lsh_threshold: the similarity the LSH layout is tuned for (candidate generation); below
            ``threshold`` so that verification, not banding, decides.
        bands, rows: LSH layout; None = chosen from ``lsh_threshold`` and ``num_perm``.
        verify: how a candidate pair's similarity is measured before merging: ``exact`` (Jaccard of
            the two documents' shingle-hash sets, spilled in stage 1, computed for the pairs whose
            signature estimate is within 0.2 of the threshold; the others are clear either way)
            or ``estimate`` (share of equal signature values; no shingle hashes are stored).
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

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    threshold: float = DEFAULT_THRESHOLD
    lsh_threshold: float = DEFAULT_LSH_THRESHOLD
    bands: int | None = None
    rows: int | None = None
    verify: VerifyMode = "exact"
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
