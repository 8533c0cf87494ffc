"""The compiled kernels against the pure-Python references, on the edges that the kernels special-case."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from dedup.minhash import MinHashConfig, MinHasher, shingle_hashes_words64, shingles, words64_hash32
from dedup.minhash_kernels import _jit
from dedup.tokens import token_hash_reference, tokenize_batch, tokenize_reference

REPO = Path(__file__).resolve().parents[2]

# Every multi-byte separator family, next to letters, at document starts and ends.
SEPARATOR_TEXTS = [
    "a\u00a0b",  # NBSP (2-byte, C2 A0)
    "\u00abquoted\u00bb",  # «» at both ends
    "x\u2014y\u2026",  # em dash, ellipsis at the end (3-byte, E2 80 ..)
    "\u2060joiner\u206fend",  # E2 81 .. (word joiner, last of the block)
    "\u3000ideographic\u3001comma\u3002",  # E3 80 .. (CJK punctuation)
    "\u00c0\u00e9\u00ff word",  # Latin-1 letters (C3 ..) are word bytes, not separators
    "\u2100\u2190 arrows",  # E2 84 / E2 86: outside the punctuation block, word bytes
    "\u3041hiragana",  # E3 81 ..: word bytes
    "\U0001f600emoji\U0001f600",  # 4-byte characters are word bytes
]


def _reference_hashes(text: str) -> list[int]:
    return [token_hash_reference(token) for token in tokenize_reference(text)]


def _assert_tokens_equal(texts: list[str | None], batch_input: object = None) -> None:
    batch = tokenize_batch(texts if batch_input is None else batch_input)  # type: ignore[arg-type]
    assert batch.n_docs == len(texts)
    for index, text in enumerate(texts):
        got = batch.hashes[batch.doc_offsets[index] : batch.doc_offsets[index + 1]].tolist()
        assert got == _reference_hashes(text or ""), f"document {index}: {text!r}"
        assert batch.byte_lengths[index] == len((text or "").encode())


def test_multibyte_separators() -> None:
    _assert_tokens_equal(SEPARATOR_TEXTS)
    assert tokenize_reference("a\u00a0b\u2014c\u3000d") == [b"a", b"b", b"c", b"d"]


@pytest.mark.parametrize("length", [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 66, 200])
def test_token_lengths_around_chunk_and_long_limits(length: int) -> None:
    """Tokens up to 64 bytes are chunk-hashed in the kernel, longer ones by xxh3 afterwards."""
    word = ("Ab9" * 100)[:length]
    texts = [word, f"pre {word} post", f"{word}\u00e9 {word}", word + "\u2014" + word]
    _assert_tokens_equal(texts)


def test_64_byte_block_boundaries() -> None:
    """The kernel works in 64-byte blocks per document: separators and words straddling them."""
    texts = [("a" * pad) + sep + "bcdef" for pad in range(58, 70) for sep in ("\u2014", "\u00a0", "\u3001", " ")]
    texts += ["x" * 64, "x" * 128, "y " * 32, "z" * 63 + " " + "w" * 64, "\u00e9" * 32, "\u00e9" * 33]
    _assert_tokens_equal(texts)


def test_only_long_tokens_and_many_of_them() -> None:
    texts = [" ".join(f"{i:0>70}" for i in range(50)), "y" * 1000, "z" * 65 + "\u00a0" + "w" * 64]
    _assert_tokens_equal(texts)


def test_empty_null_and_separator_only_documents() -> None:
    texts: list[str | None] = ["", None, " \t\n", "\u00a0\u2014\u3000", "word", None, ""]
    _assert_tokens_equal(texts)
    assert tokenize_batch(["", None]).hashes.size == 0
    assert tokenize_batch([]).n_docs == 0


def test_document_boundary_inside_a_word() -> None:
    """Adjacent documents share the Arrow data buffer: "alpha"+"beta" must stay two tokens."""
    texts = ["alpha", "beta", "gam", "ma\u00e9", "\u00e9x"]
    _assert_tokens_equal(texts)
    assert tokenize_batch(texts).token_counts().tolist() == [1, 1, 1, 1, 1]


def test_arrow_variants_sliced_chunked_large(articles: list[str]) -> None:
    texts: list[str | None] = articles[:6] + [None] + SEPARATOR_TEXTS
    full = pa.array(texts, pa.string())
    _assert_tokens_equal(texts[3:], full.slice(3))
    _assert_tokens_equal(texts, pa.array(texts, pa.large_string()))
    _assert_tokens_equal(texts, pa.chunked_array([full.slice(0, 4), full.slice(4)]))


def test_random_texts_equal_reference() -> None:
    rng = random.Random(7)
    special = ["\u00a0", "\u00e9", "\u2014", "\u201c", "\u3001", "\u3041", "\U0001f600", "\u00bf"]
    alphabet = list("abcXYZ019 _-.,'\n\t") + special
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(400)]
    texts += ["".join(rng.choice("qQ") for _ in range(rng.randint(60, 70))) for _ in range(20)]
    _assert_tokens_equal(texts)


@pytest.mark.parametrize("ngram", [1, 2, 5, 9])
def test_shingle_hashes_equal_reference(ngram: int) -> None:
    texts = ["", "one", "one two", "one two three four", "a b c d e f g h i j k l", "x " * 30, None]
    batch = tokenize_batch(texts)
    hashes, offsets = shingle_hashes_words64(batch, ngram)
    for index, text in enumerate(texts):
        expected = [words64_hash32(s) for s in shingles(text or "", ngram)]
        assert hashes[offsets[index] : offsets[index + 1]].tolist() == expected, f"document {index}"


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_short_and_empty_documents_equal_datasketch(scheme: str) -> None:
    """Documents shorter than one n-gram have one shingle; empty ones keep datasketch's empty MinHash."""
    texts = ["", None, "one", "two words", "four words in here", "exactly five words right here", "\u00a0"]
    hasher = MinHasher(MinHashConfig(scheme=scheme))  # type: ignore[arg-type]
    ours = hasher.signatures(texts)
    for row, text in zip(ours, texts):
        minhash = MinHash(num_perm=128, seed=1, hashfunc=hasher.datasketch_hashfunc(), scheme=scheme)
        minhash.update_batch(shingles(text or ""))
        assert np.array_equal(row, minhash.hashvalues.astype(np.uint32)), repr(text)


def test_signatures_and_shingles_consistent(articles: list[str]) -> None:
    hasher = MinHasher()
    tokens = tokenize_batch(articles[:10] + ["", "short"])
    signatures, values, offsets = hasher.signatures_and_shingles(tokens)
    assert np.array_equal(signatures, hasher.signatures_of_tokens(tokens))
    assert values.dtype == np.uint32 and offsets.dtype == np.int64 and len(offsets) == 13
    assert offsets[-1] == len(values) and offsets[-2] == offsets[-3]  # the empty document has none


def test_jit_without_cache_location_still_compiles() -> None:
    """A function whose source file no cache locator accepts falls back to in-memory compilation."""
    namespace: dict[str, object] = {}
    exec(compile("def add_one(x):\n    return x + 1\n", "<no-file>", "exec"), namespace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _jit(namespace["add_one"])  # type: ignore[arg-type]
    assert compiled(41) == 42
    assert any("numba cache unavailable" in str(w.message) for w in caught)


def test_numba_cache_dir_is_used(tmp_path: Path) -> None:
    """With NUMBA_CACHE_DIR set, a fresh process writes its compiled kernels there and gets equal results."""
    script = (
        "from dedup.minhash import MinHasher\n"
        "print(MinHasher().signatures(['a few words to hash here, more words'])[0, :4].tolist())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", script]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    cached = " ".join(p.name for p in tmp_path.rglob("*.nbi"))
    assert "tokenize_ascii_rules" in cached and "permute_min_affine32" in cached
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    expected = MinHasher().signatures(["a few words to hash here, more words"])[0, :4].tolist()
    assert first.stdout.strip() == second.stdout.strip() == str(expected)


# the compiled WARC member pass (issue 10): imported only by an indexing worker on first use
# (ingest.warc_member_pass loads it lazily), never by a driver, the CLI or the catalog
COMPILED_INGEST_MODULES = ("ingest.warc_member_inflate", "ingest.warc_member_scan", "ingest.warc_member_batches")


def test_catalog_and_ingest_do_not_import_numba() -> None:
    script = (
        "import importlib, pkgutil, sys\n"
        "imported = []\n"
        "for package in ('catalog', 'ingest'):\n"
        "    root = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        f"        if info.name.endswith('__main__') or info.name in {COMPILED_INGEST_MODULES!r}:\n"
        "            continue\n"
        "        try:\n"
        "            importlib.import_module(info.name)\n"
        "        except Exception:\n"
        "            continue\n"
        "        imported.append(info.name)\n"
        "print(len(imported), 'numba' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, numba_loaded = result.stdout.split()
    assert int(count) >= 10 and numba_loaded == "False"
