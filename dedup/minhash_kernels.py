"""Compiled (numba) inner loops of tokenization, shingle hashing and the MinHash permutation/min.

Each kernel computes exactly what the pure-Python references compute (:func:`dedup.tokens.
tokenize_reference` + :func:`dedup.tokens.token_hash_reference`, :func:`dedup.minhash.words64_hash32`,
datasketch's permutations); the tests compare them value for value. The kernels know nothing of
Arrow or configuration: :mod:`dedup.tokens` and :mod:`dedup.minhash` prepare plain arrays.

Compilation: every kernel is ``@njit(cache=True, nogil=True)``, compiled lazily on the first call
in a process (~5-6 s for all, most of it the tokenizer, measured on a loaded 2-core machine) or
loaded from numba's on-disk cache (``__pycache__`` beside this file, or ``NUMBA_CACHE_DIR``; the
first call then takes ~0.4 s, mostly numba's own start-up). Callers pass one fixed set of
argument types so that each kernel has one specialization. If no cache location is writable, the kernels compile in
memory on every process start instead of failing (see :func:`_jit`).

Only the dedup package imports this module (numba must stay out of ``catalog`` and ``ingest``).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from numba import njit, uint32, uint64

# numba's intrinsic for LLVM's cttz (count trailing zeros); an internal module of numba, so the
# pinned numba version matters (the token tests exercise it).
from numba.cpython.unsafe.numbers import trailing_zeros

_LENGTH_SEED = np.uint64(0x9E3779B97F4A7C15)
_FMIX64_C1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX64_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_MAX_CHUNKED_TOKEN = 64
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH32 = np.uint64(0xFFFFFFFF)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH1 = np.uint64(0x8080808080808080)
# Multiplying bytes that are 0 or 1 by this gathers byte j's bit into bit 56 + j.
_PACK_BITS = np.uint64(0x0102040810204080)


def _jit(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``njit(cache=True, nogil=True)``, or without the on-disk cache when no location is writable.

    numba refuses ``cache=True`` (RuntimeError "no locator available") when neither the module's
    ``__pycache__``, nor ``NUMBA_CACHE_DIR``, nor the user cache directory can be written; the
    kernels then still work, compiled once per process.
    """
    try:
        return njit(cache=True, nogil=True, **options)(function)
    except RuntimeError as error:  # pragma: no cover - depends on the file system
        warnings.warn(f"numba cache unavailable ({error}); kernels compile in every process", RuntimeWarning,
                      stacklevel=2)
        return njit(cache=False, nogil=True, **options)(function)


def _inline(function: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`_jit` for small helpers, inlined into their callers by numba (not left to LLVM)."""
    return _jit(function, inline="always")


@_inline
def _fmix64(value: np.uint64) -> np.uint64:
    value ^= value >> uint64(33)
    value *= _FMIX64_C1
    value ^= value >> uint64(33)
    value *= _FMIX64_C2
    return value ^ (value >> uint64(33))


@_inline
def _multibyte_separator_width(data: np.ndarray, position: int, end: int) -> int:
    """Byte length of the separator character starting at ``data[position]``, or 0 if it is none.

    The same three patterns as ``dedup.tokens._MULTIBYTE_SEPARATORS`` (lead 0xC2, 0xE2 0x80/0x81,
    0xE3 0x80, continuation bytes checked as the regex does), matched inside the document only
    (``end`` is its end).
    """
    lead = data[position]
    if position + 1 >= end:
        return 0
    second = data[position + 1]
    if lead == 0xC2:
        return 2 if 0x80 <= second <= 0xBF else 0
    if lead != 0xE2 and lead != 0xE3:
        return 0
    if position + 2 >= end or not 0x80 <= data[position + 2] <= 0xBF:
        return 0
    if lead == 0xE2 and (second == 0x80 or second == 0x81):
        return 3
    if lead == 0xE3 and second == 0x80:
        return 3
    return 0


@_inline
def _load8(data: np.ndarray, position: int) -> np.uint64:
    """The little-endian uint64 of ``data[position:position + 8]``, as one 8-byte load.

    The indices are unsigned on purpose: numba then drops its negative-index wraparound, and LLVM
    merges the eight byte loads into one (with signed indices it emitted 8 loads, 7 shifts, 7 ors;
    the tokenizer got ~40 % faster from this alone).
    """
    at = uint64(position)
    return (
        uint64(data[at])
        | (uint64(data[at + uint64(1)]) << uint64(8))
        | (uint64(data[at + uint64(2)]) << uint64(16))
        | (uint64(data[at + uint64(3)]) << uint64(24))
        | (uint64(data[at + uint64(4)]) << uint64(32))
        | (uint64(data[at + uint64(5)]) << uint64(40))
        | (uint64(data[at + uint64(6)]) << uint64(48))
        | (uint64(data[at + uint64(7)]) << uint64(56))
    )


@_inline
def _word_bits64(normalized: np.ndarray, position: int) -> np.uint64:
    """Bit j set iff ``normalized[position + j] != 0``, for j in 0..63 (SWAR, 8 bytes at a time)."""
    bits = uint64(0)
    for part in range(8):
        word = _load8(normalized, position + 8 * part)
        # High bit of each byte set iff the byte is non-zero; then pack the 8 high bits together.
        nonzero = (((word & _LOW7) + _LOW7) | word) & _HIGH1
        bits |= (((nonzero >> uint64(7)) * _PACK_BITS) >> uint64(56)) << uint64(8 * part)
    return bits


@_inline
def _blank_multibyte_separators(normalized: np.ndarray, begin: int, stop: int, end: int) -> None:
    """Zero the bytes of every multi-byte separator whose lead byte is in ``normalized[begin:stop]``.

    ``end`` is the end of the document (a separator must lie inside it). Matches cannot overlap:
    their continuation bytes (0x80-0xBF) are never lead bytes, so each lead decides alone.
    """
    for position in range(begin, stop):
        byte = normalized[position]
        if byte == 0xC2 or byte == 0xE2 or byte == 0xE3:
            width = _multibyte_separator_width(normalized, position, end)
            for step in range(width):
                normalized[position + step] = 0


@_jit
def tokenize_and_hash(
    data: np.ndarray,
    doc_offsets: np.ndarray,
    byte_table: np.ndarray,
    lead_table: np.ndarray,
    chunk_masks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens of every document of a batch and their 64-bit hashes, for any normalization table.

    The job runs :func:`dedup.tokenize_kernel.tokenize_ascii_rules`, which builds
    :data:`dedup.tokens.BYTE_TABLE`'s rule into its arithmetic (~30 % faster, the same output); this
    table-driven kernel is kept as its reference (tests/dedup/test_tokenize_kernel.py compares them).

    Per document: normalize its bytes through the table; then, 64 bytes at a time, blank the rare
    multi-byte separators (only in blocks that hold a possible lead byte), make a bitmask of word
    bytes and walk its edges with count-trailing-zeros, hashing each token (8-byte loads) as its
    end is found. No branch depends on the text per byte, only per block and per token.

    Args:
        data: uint8, the UTF-8 bytes of all documents one after the other (not normalized).
        doc_offsets: int64, n_docs + 1 offsets into ``data`` (``doc_offsets[0]`` may be > 0).
        byte_table: uint8[256], the normalization table (0 = ASCII separator, else the lower-cased byte).
        lead_table: uint8[256], 1 for the bytes that may lead a multi-byte separator (0xC2, 0xE2,
            0xE3), else 0.
        chunk_masks: uint64[9], ``chunk_masks[j]`` keeps the low j bytes.

    Returns:
        (hashes uint64 per token, token_offsets int64 n_docs + 1, long_tokens int64 (k, 3)):
        tokens longer than 64 bytes are left to the caller (xxh3); each has a row
        (index in ``hashes``, begin, end in ``data``) and holds 0 in ``hashes`` until then.
        ``hashes`` is a view of the working buffer (~1.3x the text's bytes), not a copy.
    """
    n_docs = doc_offsets.shape[0] - 1
    base = doc_offsets[0]
    size = doc_offsets[n_docs] - base
    # Zero padding: the 64-byte blocks and 8-byte loads may read past the last document.
    normalized = np.empty(size + 72, dtype=np.uint8)
    normalized[size:] = 0
    # lead_blocks[k] != 0 iff block k of the current document holds a byte that may lead a
    # multi-byte separator; the block loop checks for separators only there (rare).
    longest = 0
    for doc in range(n_docs):
        longest = max(longest, doc_offsets[doc + 1] - doc_offsets[doc])
    lead_blocks = np.empty(longest // 64 + 1, dtype=np.uint8)

    # ~1 token per 6 bytes in prose; the buffer doubles when a text has more.
    capacity = size // 6 + n_docs + 64
    hashes = np.empty(capacity, dtype=np.uint64)
    # A long token has > 64 bytes and then a separator or its document's end.
    long_tokens = np.empty((size // (_MAX_CHUNKED_TOKEN + 1) + n_docs + 1, 3), dtype=np.int64)
    n_long = 0
    token_offsets = np.empty(n_docs + 1, dtype=np.int64)
    token_offsets[0] = 0
    n_tokens = 0
    for doc in range(n_docs):
        begin = doc_offsets[doc] - base
        end = doc_offsets[doc + 1] - base
        previous = uint64(0)  # word bit of the byte before the block; blocks restart per document
        token_begin = begin
        # Normalize the document right before its blocks, so that they find it in L1 cache
        # (measured ~5 % faster than one pass over the whole batch first).
        for block in range(begin, end, 64):
            found = 0
            for index in range(uint64(block), uint64(min(block + 64, end))):  # unsigned: see _load8
                byte = data[index + uint64(base)]
                normalized[index] = byte_table[byte]
                found |= lead_table[byte]
            lead_blocks[(block - begin) >> 6] = found
        block = begin
        while True:
            if block < end:
                if n_tokens + 33 > capacity:  # a block ends at most 32 tokens
                    capacity *= 2
                    grown = np.empty(capacity, dtype=np.uint64)
                    grown[:n_tokens] = hashes[:n_tokens]
                    hashes = grown
                if lead_blocks[(block - begin) >> 6]:
                    _blank_multibyte_separators(normalized, block, min(block + 64, end), end)
                bits = _word_bits64(normalized, block)
                if end - block < 64:
                    bits &= (uint64(1) << uint64(end - block)) - uint64(1)
            elif previous:
                # The document ends inside a word exactly on a block boundary (block == end): one
                # more, empty, block yields that word's end edge.
                bits = uint64(0)
            else:
                break
            edges = bits ^ ((bits << uint64(1)) | previous)
            previous = bits >> uint64(63)
            while edges:
                offset = trailing_zeros(edges)
                edges &= edges - uint64(1)
                if (bits >> uint64(offset)) & uint64(1):
                    token_begin = block + offset
                    continue
                # A token ends: hash it here (written out, not a helper call: passing the arrays
                # to a helper per token measured 2x slower).
                position = token_begin
                remaining = block + offset - token_begin
                if remaining > _MAX_CHUNKED_TOKEN:
                    long_tokens[n_long, 0] = n_tokens
                    long_tokens[n_long, 1] = token_begin
                    long_tokens[n_long, 2] = block + offset
                    n_long += 1
                    hashes[n_tokens] = 0
                else:
                    acc = uint64(remaining) * _LENGTH_SEED
                    while remaining > 8:
                        acc = _fmix64(acc ^ _load8(normalized, position))
                        position += 8
                        remaining -= 8
                    hashes[n_tokens] = _fmix64(acc ^ (_load8(normalized, position) & chunk_masks[remaining]))
                n_tokens += 1
            block += 64
        token_offsets[doc + 1] = n_tokens
    long_tokens = long_tokens[:n_long]
    long_tokens[:, 1:] += base
    return hashes[:n_tokens], token_offsets, long_tokens


@_jit
def shingle_hashes_words64(
    token_hashes: np.ndarray, token_offsets: np.ndarray, ngram: int, multipliers: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ``"words64"`` 32-bit hash of every word n-gram, per document.

    A shingle's hash is the top 32 bits of ``sum(token_hash[k] * multipliers[k]) mod 2**64`` over
    its tokens; a document with 1..ngram-1 tokens has one shingle of all of them, an empty one none.

    Returns (hashes uint32, shingle_offsets int64 of length n_docs + 1).
    """
    n_docs = token_offsets.shape[0] - 1
    shingle_offsets = np.empty(n_docs + 1, dtype=np.int64)
    shingle_offsets[0] = 0
    for doc in range(n_docs):
        count = token_offsets[doc + 1] - token_offsets[doc]
        shingles = count - ngram + 1 if count >= ngram else min(count, 1)
        shingle_offsets[doc + 1] = shingle_offsets[doc] + shingles
    out = np.empty(shingle_offsets[n_docs], dtype=np.uint32)
    for doc in range(n_docs):
        begin = token_offsets[doc]
        count = token_offsets[doc + 1] - begin
        # Unsigned indices (see _load8): no wraparound code in the loop; measured ~25 % faster.
        write = uint64(shingle_offsets[doc])
        width = uint64(min(count, ngram))
        for start in range(uint64(begin), uint64(begin + max(count - ngram + 1, 1 if count else 0))):
            acc = uint64(0)
            for k in range(width):
                acc += token_hashes[start + k] * multipliers[k]
            out[write] = uint32(acc >> uint64(32))
            write += uint64(1)
    return out, shingle_offsets


@_inline
def _fmix32(value: np.uint32) -> np.uint32:
    """MurmurHash3's 32-bit finalizer (datasketch's ``affine32`` pre-mix)."""
    value ^= value >> uint32(16)
    value = uint32(value * uint32(0x85EBCA6B))
    value ^= value >> uint32(13)
    value = uint32(value * uint32(0xC2B2AE35))
    value ^= value >> uint32(16)
    return uint32(value)


@_jit
def permute_min_affine32(
    shingle_hashes: np.ndarray, shingle_offsets: np.ndarray, perm_a: np.ndarray, perm_b: np.ndarray
) -> np.ndarray:
    """datasketch's ``affine32`` MinHash: ``min over shingles of a*fmix32(h)+b mod 2**32``.

    Args: shingle hashes uint32 and their per-document offsets (int64, n_docs + 1); ``perm_a``,
    ``perm_b`` uint32 of length num_perm. Returns uint32 (n_docs, num_perm); a document without
    shingles gets 0xFFFFFFFF everywhere.
    """
    n_docs = shingle_offsets.shape[0] - 1
    num_perm = perm_a.shape[0]
    signatures = np.full((n_docs, num_perm), uint32(0xFFFFFFFF), dtype=np.uint32)
    for doc in range(n_docs):
        row = signatures[doc]
        index = shingle_offsets[doc]
        stop = shingle_offsets[doc + 1]
        # Permutations inner (the loop vectorizes; the row stays in L1), 8 shingles per pass over
        # the row: one load of a, b and the row per 8 shingles (measured 1.6x over 1 per pass).
        while index + 8 <= stop:
            v0 = _fmix32(shingle_hashes[index])
            v1 = _fmix32(shingle_hashes[index + 1])
            v2 = _fmix32(shingle_hashes[index + 2])
            v3 = _fmix32(shingle_hashes[index + 3])
            v4 = _fmix32(shingle_hashes[index + 4])
            v5 = _fmix32(shingle_hashes[index + 5])
            v6 = _fmix32(shingle_hashes[index + 6])
            v7 = _fmix32(shingle_hashes[index + 7])
            for perm in range(num_perm):
                a = perm_a[perm]
                b = perm_b[perm]
                m01 = min(uint32(a * v0 + b), uint32(a * v1 + b))
                m23 = min(uint32(a * v2 + b), uint32(a * v3 + b))
                m45 = min(uint32(a * v4 + b), uint32(a * v5 + b))
                m67 = min(uint32(a * v6 + b), uint32(a * v7 + b))
                row[perm] = min(row[perm], min(min(m01, m23), min(m45, m67)))
            index += 8
        while index < stop:
            value = _fmix32(shingle_hashes[index])
            for perm in range(num_perm):
                row[perm] = min(row[perm], uint32(perm_a[perm] * value + perm_b[perm]))
            index += 1
    return signatures


@_jit
def permute_min_legacy(
    shingle_hashes: np.ndarray, shingle_offsets: np.ndarray, perm_a: np.ndarray, perm_b: np.ndarray
) -> np.ndarray:
    """datasketch's ``legacy`` MinHash: ``min of ((a*h+b) mod 2**64 mod (2**61-1)) & 0xFFFFFFFF``.

    The product wraps modulo 2**64 before the Mersenne reduction, as in datasketch's numpy code.
    Args as :func:`permute_min_affine32` but ``perm_a``, ``perm_b`` are uint64. Not unrolled like
    the affine32 kernel: ``legacy`` is kept for compatibility, not speed (the 64-bit modulo dominates).
    """
    n_docs = shingle_offsets.shape[0] - 1
    num_perm = perm_a.shape[0]
    signatures = np.full((n_docs, num_perm), uint32(0xFFFFFFFF), dtype=np.uint32)
    for doc in range(n_docs):
        row = signatures[doc]
        for index in range(shingle_offsets[doc], shingle_offsets[doc + 1]):
            value = uint64(shingle_hashes[index])
            for perm in range(num_perm):
                permuted = uint32(((perm_a[perm] * value + perm_b[perm]) % _MERSENNE_PRIME) & _MAX_HASH32)
                row[perm] = min(row[perm], permuted)
    return signatures
