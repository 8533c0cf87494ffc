"""Signatures equal datasketch.MinHash for the same seed, permutations, scheme and hashfunc."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from dedup.errors import ConfigError
from dedup.minhash import MinHashConfig, MinHasher, shingles
from dedup.tokens import token_hash_reference, tokenize_batch, tokenize_reference

EDGE_TEXTS = [
    "",
    "   \n\t ",
    "one two",
    "Héllo—wörld “quoted” ¿qué? snake_case 3.14 ÀÉÎ naïve café",
    "x" * 100 + " abcdefghijklmnopqrstuvwxyz0123456789 tail",
    "日本語の文章です。句読点、あり。",
]


def _datasketch(texts: list[str], hasher: MinHasher) -> np.ndarray:
    config = hasher.config
    rows = []
    for text in texts:
        minhash = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=hasher.datasketch_hashfunc(), scheme=config.scheme)
        minhash.update_batch(shingles(text, config.ngram))
        rows.append(minhash.hashvalues.astype(np.uint32))
    return np.stack(rows)


def test_vectorized_tokens_equal_reference(articles: list[str]) -> None:
    texts = articles + EDGE_TEXTS
    batch = tokenize_batch(texts)
    for index, text in enumerate(texts):
        expected = [token_hash_reference(t) for t in tokenize_reference(text)]
        got = batch.hashes[batch.doc_offsets[index] : batch.doc_offsets[index + 1]].tolist()
        assert got == expected, f"document {index}"


def test_tokens_do_not_cross_documents() -> None:
    batch = tokenize_batch(["alpha beta", "gamma", "delta"])
    assert batch.token_counts().tolist() == [2, 1, 1]


def test_normalization() -> None:
    assert tokenize_reference("Hello, WORLD!  it's “fine”—ok") == [b"hello", b"world", b"it", b"s", b"fine", b"ok"]


@pytest.mark.parametrize(
    "config",
    [
        MinHashConfig(),
        MinHashConfig(hash="sha1"),
        MinHashConfig(scheme="legacy"),
        MinHashConfig(num_perm=64, seed=42, ngram=3),
    ],
    ids=["words64-affine32", "sha1-affine32", "words64-legacy", "64perm-seed42-3gram"],
)
def test_signatures_equal_datasketch(articles: list[str], config: MinHashConfig) -> None:
    texts = articles + EDGE_TEXTS
    hasher = MinHasher(config)
    ours = hasher.signatures(texts)
    assert ours.shape == (len(texts), config.num_perm)
    assert np.array_equal(ours, _datasketch(texts, hasher))


def test_sha1_equals_plain_default_datasketch(articles: list[str]) -> None:
    """With hash='sha1', an untouched datasketch.MinHash() (all defaults) gives the same values."""
    ours = MinHasher(MinHashConfig(hash="sha1")).signatures(articles[:5])
    for row, text in zip(ours, articles[:5]):
        minhash = MinHash()
        minhash.update_batch(shingles(text))
        assert np.array_equal(row, minhash.hashvalues)


def test_arrow_input_and_nulls(articles: list[str]) -> None:
    hasher = MinHasher()
    as_list = hasher.signatures(articles[:3] + [""])
    as_arrow = hasher.signatures(pa.array(articles[:3] + [None], pa.string()))
    assert np.array_equal(as_list, as_arrow)
    assert (as_arrow[3] == 0xFFFFFFFF).all()


def test_estimated_jaccard_tracks_exact(articles: list[str]) -> None:
    text = articles[0]
    words = text.split()
    edited = " ".join(words[: len(words) * 3 // 4])
    sig = MinHasher(MinHashConfig(num_perm=256)).signatures([text, edited])
    a, b = set(shingles(text)), set(shingles(edited))
    exact = len(a & b) / len(a | b)
    assert abs(float((sig[0] == sig[1]).mean()) - exact) < 0.1


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="num_perm"):
        MinHashConfig(num_perm=0)
    with pytest.raises(ConfigError, match="hash"):
        MinHashConfig(hash="md5")  # type: ignore[arg-type]
