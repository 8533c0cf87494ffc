"""Word tokenization and token hashing, vectorized over a batch of documents with numpy.

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
longer token (rare: URLs, base64) is hashed with xxh3_64. For a batch this runs over all tokens at
once through an unaligned uint64 view of the bytes: numpy work per token, not per byte.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import xxhash

_MASK64 = (1 << 64) - 1
_LENGTH_SEED = 0x9E3779B97F4A7C15
# Tokens longer than this are hashed one by one with xxh3 (keeps the vectorized loop short).
MAX_CHUNKED_TOKEN = 64
_CHUNK_MASKS = np.array([(1 << (8 * j)) - 1 for j in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


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
    Nulls count as empty documents.
    """
    array = as_string_array(texts)
    n_docs = len(array)
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[array.offset : array.offset + n_docs + 1]
    offsets = offsets.astype(np.int64)
    start, stop = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(buffers[2], dtype=np.uint8)[start:stop] if buffers[2] is not None else np.zeros(0, np.uint8)
    rel_offsets = offsets - start
    byte_lengths = np.diff(rel_offsets)
    if raw.size == 0:
        return TokenBatch(np.zeros(0, np.uint64), np.zeros(n_docs + 1, np.int64), byte_lengths)

    # bytes.translate is several times faster than a numpy table lookup; 8 zero bytes of padding let
    # the unaligned uint64 view read past the last token.
    padded = np.frombuffer(bytearray(raw.tobytes().translate(_TRANSLATION) + bytes(8)), dtype=np.uint8)
    _blank_multibyte_separators(padded, raw.size)
    # One sentinel separator after the data makes every token end inside the array.
    is_word = padded[: raw.size + 1] != 0
    edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    if is_word[0]:
        edges = np.concatenate([np.zeros(1, dtype=edges.dtype), edges])
    token_begin = edges[0::2]
    token_end = edges[1::2]
    # A document ending and the next starting inside a word would glue two tokens: cut them there.
    inner_starts = rel_offsets[1:-1]
    inner_starts = inner_starts[(inner_starts > 0) & (inner_starts < raw.size)]
    glued = inner_starts[is_word[inner_starts] & is_word[inner_starts - 1]]
    if glued.size:
        token_begin = np.insert(token_begin, np.searchsorted(token_begin, glued), glued)
        token_end = np.insert(token_end, np.searchsorted(token_end, glued), glued)
    hashes = _hash_tokens(padded, token_begin, token_end)
    token_doc_offsets = np.searchsorted(token_begin, rel_offsets, side="left").astype(np.int64)
    return TokenBatch(hashes, token_doc_offsets, byte_lengths)


def _hash_tokens(padded: np.ndarray, token_begin: np.ndarray, token_end: np.ndarray) -> np.ndarray:
    """Hashes of the tokens ``padded[begin:end]``, equal to :func:`token_hash_reference`."""
    n_words = padded.size - 7
    # Unaligned view: words[i] is the little-endian uint64 made of bytes i..i+7.
    words = np.ndarray(shape=(n_words,), dtype="<u8", buffer=padded.data, strides=(1,))
    lengths = token_end - token_begin
    # Chunk 0 covers every token, so it runs without index arrays; later chunks only the long tokens.
    first = words[token_begin] & _CHUNK_MASKS[np.minimum(lengths, 8)]
    hashes = lengths.astype(np.uint64)
    hashes *= np.uint64(_LENGTH_SEED)
    hashes ^= first
    hashes = fmix64(hashes)
    active = np.flatnonzero((lengths > 8) & (lengths <= MAX_CHUNKED_TOKEN))
    chunk = 1
    while active.size:
        remaining = lengths[active] - 8 * chunk
        chunk_words = words[token_begin[active] + 8 * chunk] & _CHUNK_MASKS[np.minimum(remaining, 8)]
        hashes[active] = fmix64(hashes[active] ^ chunk_words)
        chunk += 1
        active = active[remaining > 8]
    for index in np.flatnonzero(lengths > MAX_CHUNKED_TOKEN):
        token = padded[token_begin[index] : token_end[index]].tobytes()
        hashes[index] = xxhash.xxh3_64_intdigest(token)
    return hashes


def _blank_multibyte_separators(padded: np.ndarray, size: int) -> None:
    """Zero, in place, the bytes of the multi-byte separator characters in ``padded[:size]``.

    ``padded`` must have at least 2 bytes after ``size`` (so lead + 2 is always a valid index).
    """
    # Only bytes >= 0xC2 can lead one; in mostly-ASCII text they are few, so test those alone.
    leads = np.flatnonzero(padded[:size] >= 0xC2)
    if not leads.size:
        return
    lead = padded[leads]
    second = padded[leads + 1]
    two_byte = leads[lead == 0xC2]
    three_byte = leads[((lead == 0xE2) & ((second == 0x80) | (second == 0x81))) | ((lead == 0xE3) & (second == 0x80))]
    for step in range(2):
        padded[two_byte + step] = 0
    for step in range(3):
        padded[three_byte + step] = 0
