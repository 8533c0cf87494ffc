"""MinHash signatures of word n-grams over batches of documents (compiled kernels).

Contract: for every document, :meth:`MinHasher.signatures` equals ``datasketch.MinHash`` built with
the same ``num_perm``, ``seed`` and ``scheme``, updated with :func:`shingles` of the text and given
:meth:`MinHasher.datasketch_hashfunc` as ``hashfunc``. With ``hash="sha1"`` that hashfunc is
datasketch's own default (``sha1_hash32``), so plain ``datasketch.MinHash()`` objects fed the same
shingle bytes are equal to ours.

Hashes (``MinHashConfig.hash``):

- ``"words64"`` (default, fast): every token gets a 64-bit hash (:mod:`dedup.tokens`); the n-gram's
  32-bit hash is the top half of ``sum(token_hash[k] * C[k]) mod 2**64`` over its n tokens. All of it
  runs in compiled loops (:mod:`dedup.minhash_kernels`) over the whole batch.
- ``"sha1"``: datasketch's default, SHA-1 of the shingle bytes (one hashlib call per shingle; slow).

Schemes: ``"affine32"`` (datasketch 2.x default: fmix32 pre-mix, then ``a*h+b`` mod 2**32) and
``"legacy"`` (datasketch < 2: ``(a*h+b) mod (2**61-1)``, truncated to 32 bits). Both run as compiled
loops, shingles outer and permutations inner, so a document's signature row stays in L1 cache.

A document with fewer than ``ngram`` tokens (but at least one) has one shingle, all its tokens; an
empty document has none, and its signature is all ``0xFFFFFFFF`` (datasketch's empty MinHash).
"""
from __future__ import annotations

import hashlib
import struct
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa

from dedup.errors import ConfigError
from dedup.minhash_config import HashName, MinHashConfig, SchemeName  # noqa: F401  (re-exported)
from dedup.minhash_kernels import permute_min_affine32, permute_min_legacy
from dedup.minhash_kernels import shingle_hashes_words64 as words64_kernel
from dedup.tokens import TokenBatch, token_hash_reference, tokenize_batch, tokenize_reference

_MASK64 = (1 << 64) - 1
_MERSENNE_PRIME = (1 << 61) - 1
# Odd, distinct position multipliers make the n-gram hash order-sensitive.
_POSITION_MULTIPLIERS = tuple(
    (0x9E3779B97F4A7C15 * (2 * k + 1) + 0xD6E8FEB86659FD93 * k) & _MASK64 | 1 for k in range(64)
)
_POSITION_MULTIPLIER_ARRAY = np.array(_POSITION_MULTIPLIERS, dtype=np.uint64)


def shingles(text: str, ngram: int = 5) -> list[bytes]:
    """The word n-gram shingles of a text as bytes (normalized tokens joined by one space).

    These are what to feed ``datasketch.MinHash.update_batch`` to reproduce our signatures.
    """
    tokens = tokenize_reference(text)
    if not tokens:
        return []
    if len(tokens) < ngram:
        return [b" ".join(tokens)]
    return [b" ".join(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)]


def words64_hash32(shingle: bytes) -> int:
    """The ``"words64"`` 32-bit hash of one shingle's bytes (a datasketch ``hashfunc``)."""
    acc = 0
    for k, token in enumerate(shingle.split(b" ")):
        acc = (acc + token_hash_reference(token) * _POSITION_MULTIPLIERS[k]) & _MASK64
    return acc >> 32


def sha1_hash32(shingle: bytes) -> int:
    """datasketch's default hashfunc: the first 4 bytes of SHA-1, little-endian."""
    return int(struct.unpack("<I", hashlib.sha1(shingle).digest()[:4])[0])


class MinHasher:
    """Computes signatures for batches of documents. Cheap to build; safe to pickle.

    Thread-safe; the compiled kernels release the GIL.
    """

    def __init__(self, config: MinHashConfig = MinHashConfig()) -> None:
        self.config = config
        self.perm_a, self.perm_b = _permutations(config.num_perm, config.seed, config.scheme)
        self._perm_a32 = self.perm_a.astype(np.uint32)
        self._perm_b32 = self.perm_b.astype(np.uint32)

    def datasketch_hashfunc(self) -> Callable[[bytes], int]:
        """The ``hashfunc`` to give ``datasketch.MinHash`` for equal signatures."""
        return sha1_hash32 if self.config.hash == "sha1" else words64_hash32

    def signatures(self, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Signatures of a batch of texts: uint32 array of shape (n_docs, num_perm).

        Nulls are empty documents. Errors: TypeError if ``texts`` is not strings.
        """
        tokens = tokenize_batch(texts)
        return self.signatures_of_tokens(tokens, texts)

    def signatures_of_tokens(
        self, tokens: TokenBatch, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray | None = None
    ) -> np.ndarray:
        """Signatures from an already tokenized batch (``texts`` needed only for ``hash="sha1"``)."""
        shingle_hashes, shingle_doc_offsets = self.shingle_hashes(tokens, texts)
        return self._permute_min(shingle_hashes, shingle_doc_offsets)

    def shingle_hashes(
        self, tokens: TokenBatch, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 32-bit hash of every shingle (uint32) and per-document offsets (n_docs + 1)."""
        if self.config.hash == "sha1":
            if texts is None:
                raise ConfigError("hash='sha1' needs the texts, not only their tokens")
            return self._sha1_shingle_hashes(texts)
        return shingle_hashes_words64(tokens, self.config.ngram)

    def signatures_and_shingles(
        self, tokens: TokenBatch, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signatures plus every shingle hash (for exact Jaccard later; repeats not removed).

        Returns (signatures, shingle_hashes uint32, offsets int64 of length n_docs + 1).
        """
        hashes, offsets = self.shingle_hashes(tokens, texts)
        return self._permute_min(hashes, offsets), hashes, offsets

    def _sha1_shingle_hashes(
        self, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray
    ) -> tuple[np.ndarray, np.ndarray]:
        values = texts.to_pylist() if isinstance(texts, (pa.Array, pa.ChunkedArray)) else list(texts)
        hashes: list[int] = []
        counts = [0]
        for text in values:
            doc_shingles = shingles(text or "", self.config.ngram)
            hashes.extend(sha1_hash32(s) for s in doc_shingles)
            counts.append(len(doc_shingles))
        return np.asarray(hashes, dtype=np.uint32), np.cumsum(counts, dtype=np.int64)

    def _permute_min(self, shingle_hashes: np.ndarray, doc_offsets: np.ndarray) -> np.ndarray:
        """Signatures (uint32, n_docs x num_perm) from shingle hashes and per-document offsets."""
        hashes = np.ascontiguousarray(shingle_hashes, dtype=np.uint32)
        offsets = np.ascontiguousarray(doc_offsets, dtype=np.int64)
        if self.config.scheme == "affine32":
            return permute_min_affine32(hashes, offsets, self._perm_a32, self._perm_b32)
        return permute_min_legacy(hashes, offsets, self.perm_a, self.perm_b)


def shingle_hashes_words64(tokens: TokenBatch, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit ``"words64"`` hashes of every shingle of a tokenized batch, and per-document offsets.

    Returns (hashes uint32, offsets int64 of length n_docs + 1). Equal, shingle for shingle, to
    :func:`words64_hash32` of :func:`shingles`.
    """
    return words64_kernel(
        np.ascontiguousarray(tokens.hashes, dtype=np.uint64),
        np.ascontiguousarray(tokens.doc_offsets, dtype=np.int64),
        ngram,
        _POSITION_MULTIPLIER_ARRAY,
    )


def _permutations(num_perm: int, seed: int, scheme: SchemeName) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (same RandomState draws, same order)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = np.array(
            [
                (
                    gen.randint(1, _MERSENNE_PRIME, dtype=np.uint64),
                    gen.randint(0, _MERSENNE_PRIME, dtype=np.uint64),
                )
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).T
        return pairs[0], pairs[1]
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a.astype(np.uint64), b.astype(np.uint64)
