"""MinHash settings (:class:`MinHashConfig`), in a module of their own so that the job's driver
and the command line read them without importing the compiled kernels (numba's import alone is
~0.15 s; the driver runs no kernel). :mod:`dedup.minhash` re-exports them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dedup.errors import ConfigError

HashName = Literal["words64", "sha1"]
SchemeName = Literal["affine32", "legacy"]


@dataclass(frozen=True)
class MinHashConfig:
    """How signatures are made. Frozen so that it can be printed into a run's summary.

    Attributes:
        num_perm: number of permutations (signature length), 1..1024.
        ngram: words per shingle, 1..64.
        seed: seed of the permutations (datasketch's ``seed``).
        hash: ``"words64"`` or ``"sha1"`` (see the module docstring).
        scheme: ``"affine32"`` or ``"legacy"`` (datasketch's ``scheme``).
    """

    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    hash: HashName = "words64"
    scheme: SchemeName = "affine32"

    def __post_init__(self) -> None:
        if not 1 <= self.num_perm <= 1024:
            raise ConfigError(f"num_perm must be in 1..1024, got {self.num_perm}")
        if not 1 <= self.ngram <= 64:
            raise ConfigError(f"ngram must be in 1..64, got {self.ngram}")
        if self.hash not in ("words64", "sha1"):
            raise ConfigError(f"hash must be 'words64' or 'sha1', got {self.hash!r}")
        if self.scheme not in ("affine32", "legacy"):
            raise ConfigError(f"scheme must be 'affine32' or 'legacy', got {self.scheme!r}")
