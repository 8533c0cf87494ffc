"""The built-in-table tokenizer kernel (dedup/tokenize_kernel.py) equals the table-driven one."""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from dedup.minhash_kernels import tokenize_and_hash
from dedup.tokenize_kernel import tokenize_ascii_rules
from dedup.tokens import BYTE_TABLE, CHUNK_MASKS, LEAD_TABLE


def _both(texts: list[str]) -> None:
    array = pa.array(texts, pa.large_string())
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], np.int64)[: len(texts) + 1].copy()
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data.setflags(write=False)
    expected = tokenize_and_hash(data, offsets, BYTE_TABLE, LEAD_TABLE, CHUNK_MASKS)
    got = tokenize_ascii_rules(data, offsets, CHUNK_MASKS)
    for name, left, right in zip(("hashes", "token_offsets", "long_tokens"), got, expected):
        assert np.array_equal(left, right), name


def test_the_built_in_table_is_byte_table() -> None:
    """Every single byte value, alone and between letters (each >= 0x80 byte alone is invalid
    UTF-8 but still a byte the kernels must treat the same)."""
    texts = [f"a{chr(b)}b" for b in range(128)] + ["".join(chr(b) for b in range(32, 128))]
    _both(texts)
    raw = bytes(range(256)) + b" x" + bytes(range(255, -1, -1))
    data = np.frombuffer(raw, np.uint8)
    data.setflags(write=False)
    offsets = np.array([0, 100, 256, len(raw)], np.int64)
    for left, right in zip(tokenize_ascii_rules(data, offsets, CHUNK_MASKS),
                           tokenize_and_hash(data, offsets, BYTE_TABLE, LEAD_TABLE, CHUNK_MASKS)):
        assert np.array_equal(left, right)


@pytest.mark.parametrize("seed", range(6))
def test_random_texts(seed: int) -> None:
    rng = random.Random(seed)
    special = ["\u00a0", "\u00e9", "\u2014", "\u201c", "\u2060", "\u206f", "\u3000", "\u3001", "\u3041", "\u2212",
               "\U0001f600", "\u00bf", "\u00c2", "\u00e2", "\u00e3"]
    alphabet = list("abcXYZ019 _-.,'\n\t#$") + special
    texts = []
    for _ in range(300):
        words = [("".join(rng.choice(alphabet) for _ in range(rng.choice([1, 3, 8, 9, 16, 17, 40, 64, 65, 90]))))
                 for _ in range(rng.randint(0, 40))]
        texts.append(rng.choice([" ", "", "\u2014", "\u00a0"]).join(words))
    _both(texts)
    _both(texts[::-1][:7])
