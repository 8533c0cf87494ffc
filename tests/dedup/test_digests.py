"""The exact-dedup digest kernel equals its plain-Python specification and tells sequences apart."""
from __future__ import annotations

import numpy as np

from dedup.digests import sequence_digests, sequence_digests_reference
from dedup.tokens import tokenize_batch


def test_kernel_equals_reference() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 40, 200)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    hashes = rng.integers(0, 2**64, int(offsets[-1]), dtype=np.uint64)
    docs = rng.permutation(200)[:150]
    got = sequence_digests(hashes, offsets, docs)
    for (high, low), doc in zip(got.tolist(), docs.tolist()):
        assert (high, low) == sequence_digests_reference(hashes[offsets[doc]:offsets[doc + 1]].tolist())


def test_equal_normalized_texts_share_a_digest_and_others_do_not() -> None:
    texts = ["The cat sat.", "the  CAT, sat", "the cat sat on", "sat cat the", "cat sat", "the the cat sat"]
    tokens = tokenize_batch(texts)
    digests = [tuple(d) for d in sequence_digests(tokens.hashes, tokens.doc_offsets, np.arange(len(texts))).tolist()]
    assert digests[0] == digests[1]
    assert len(set(digests)) == len(texts) - 1
