"""Word tokenization and token hashing over a batch of documents (compiled kernel, one pass).

The normalization (the contract, identical in the vectorized and the reference implementation):

- the text is taken as UTF-8 bytes;
- ASCII letters are lower-cased; non-ASCII letters are kept as they are (no Unicode case folding);
- separators are: every ASCII byte that is not a letter or digit (whitespace, punctuation, control,
  ``_``), the Latin-1 block U+0080–U+00BF (NBSP, «», ¿, ·, …), the general punctuation block
  U+2000–U+206F (typographic spaces, dashes, curly quotes, ellipsis) and the CJK punctuation block
  U+3000–U+303F;
- a token is a maximal run of non-separator bytes, so a multi-byte character is never split.

A token's 64-bit hash (:func:`token_hash_reference`): for a token of L <= 64 bytes, start from
``L * K`` and fold in each 8-byte little-endian chunk (zero padded) with ``h = fmix64(h ^ chunk)``; a
longer token (rare: URLs, base64) is hashed with xxh3_64. For a batch, one compiled pass
(:func:`dedup.tokenize_kernel.tokenize_ascii_rules`, equal to
:func:`dedup.minhash_kernels.tokenize_and_hash` given :data:`BYTE_TABLE`) normalizes, splits and hashes every token straight
from the Arrow data buffer; only the rare long tokens are hashed afterwards in Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import xxhash

from dedup.tokenize_kernel import tokenize_ascii_rules

_MASK64 = (1 << 64) - 1
_LENGTH_SEED = 0x9E3779B97F4A7C15
# Tokens longer than this are hashed one by one with xxh3 (keeps the vectorized loop short).
MAX_CHUNKED_TOKEN = 64


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for byte in range(128):
        char = chr(byte)
        if not char.isalnum():
            table[byte] = 0
        elif "A" <= char <= "Z":
            table[byte] = byte + 32
    return table


BYTE_TABLE = _byte_table()
# 1 for the bytes that can lead a multi-byte separator (see _MULTIBYTE_SEPARATORS).
LEAD_TABLE = np.zeros(256, dtype=np.uint8)
LEAD_TABLE[[0xC2, 0xE2, 0xE3]] = 1
# CHUNK_MASKS[j] keeps the low j bytes of a little-endian uint64.
CHUNK_MASKS = np.array([(1 << (8 * j)) - 1 for j in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_TRANSLATION = bytes(BYTE_TABLE.tolist())
_MULTIBYTE_SEPARATORS = re.compile(rb"\xc2[\x80-\xbf]|\xe2[\x80\x81][\x80-\xbf]|\xe3\x80[\x80-\xbf]")


@dataclass(frozen=True)
class TokenBatch:
    """Tokens of a batch of documents.

    Attributes:
        hashes: uint64 hash of every token, documents one after the other.
        doc_offsets: int64, length n_docs + 1; tokens of document i are
            ``hashes[doc_offsets[i]:doc_offsets[i + 1]]``.
        byte_lengths: int64 UTF-8 byte length of every document (before normalization).
    """

    hashes: np.ndarray
    doc_offsets: np.ndarray
    byte_lengths: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.doc_offsets) - 1

    def token_counts(self) -> np.ndarray:
        return np.diff(self.doc_offsets)


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection) applied elementwise to a uint64 array."""
    v = values >> np.uint64(33)
    v ^= values
    v *= np.uint64(0xFF51AFD7ED558CCD)
    shifted = v >> np.uint64(33)
    v ^= shifted
    v *= np.uint64(0xC4CEB9FE1A85EC53)
    np.right_shift(v, np.uint64(33), out=shifted)
    v ^= shifted
    return v


def fmix64_int(value: int) -> int:
    """:func:`fmix64` for one Python int (the reference implementation)."""
    v = value ^ (value >> 33)
    v = (v * 0xFF51AFD7ED558CCD) & _MASK64
    v ^= v >> 33
    v = (v * 0xC4CEB9FE1A85EC53) & _MASK64
    return v ^ (v >> 33)


def tokenize_reference(text: str) -> list[bytes]:
    """The normalized tokens of one text, in pure Python (the reference the vectorized code equals)."""
    data = _MULTIBYTE_SEPARATORS.sub(lambda m: b" " * len(m.group(0)), text.encode("utf-8"))
    return [t for t in data.translate(_TRANSLATION).split(b"\x00") if t]


def token_hash_reference(token: bytes) -> int:
    """The 64-bit hash of one normalized token (reference for :func:`tokenize_batch`)."""
    if len(token) > MAX_CHUNKED_TOKEN:
        return xxhash.xxh3_64_intdigest(token)
    acc = (len(token) * _LENGTH_SEED) & _MASK64
    for begin in range(0, len(token), 8):
        chunk = int.from_bytes(token[begin : begin + 8], "little")
        acc = fmix64_int(acc ^ chunk)
    return acc


def as_string_array(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """The texts as one Arrow string/large_string array, nulls replaced by empty strings."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(texts, type=pa.large_string())
    if texts.null_count:
        texts = texts.fill_null("")
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise TypeError(f"expected a string array, got {texts.type}")
    return texts


def tokenize_batch(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> TokenBatch:
    """Tokenize and hash a batch of documents at once (see the module docstring for the rules).

    Equal, token for token, to ``[token_hash_reference(t) for t in tokenize_reference(text)]``.
    Nulls count as empty documents. Errors: TypeError if ``texts`` is not strings.
    """
    array = as_string_array(texts)
    n_docs = len(array)
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[array.offset : array.offset + n_docs + 1]
    offsets = offsets.astype(np.int64)
    byte_lengths = np.diff(offsets)
    if buffers[2] is None or offsets[-1] == offsets[0]:
        return TokenBatch(np.zeros(0, np.uint64), np.zeros(n_docs + 1, np.int64), byte_lengths)
    # The kernel reads Arrow's data buffer in place (read-only view, no copy of the text).
    data = np.frombuffer(buffers[2], dtype=np.uint8)
    # Always read-only (mutable Arrow buffers would give a writable view): one compiled
    # specialization of the kernel instead of two.
    data.setflags(write=False)
    # BYTE_TABLE and LEAD_TABLE built in (dedup/tokenize_kernel.py); equal to
    # tokenize_and_hash(data, offsets, BYTE_TABLE, LEAD_TABLE, CHUNK_MASKS), ~30 % faster.
    hashes, token_offsets, long_tokens = tokenize_ascii_rules(data, offsets, CHUNK_MASKS)
    for index, begin, end in long_tokens.tolist():  # rare (URLs, base64): hashed here with xxh3
        hashes[index] = xxhash.xxh3_64_intdigest(data[begin:end].tobytes().translate(_TRANSLATION))
    return TokenBatch(hashes, token_offsets, byte_lengths)
