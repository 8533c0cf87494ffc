"""The exact check's kernels (dedup/set_kernels.py, dedup.jaccard.gather_texts) against the simpler
code they replace, value for value, on random inputs."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dedup.jaccard import gather_texts, take_sorted_rows
from dedup.join_kernels import distinct_sets, overlap_of_sets
from dedup.set_kernels import overlap_by_left


def _random_sets(rng: np.random.Generator, count: int, universe: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(0, 60, count)
    values = rng.integers(0, universe, int(lengths.sum()), dtype=np.uint64).astype(np.uint32)  # repeats likely
    return values, np.r_[0, np.cumsum(lengths)].astype(np.int64)


def test_overlap_by_left_equals_overlap_of_the_repeated_distinct_sets() -> None:
    """Left sets with repeats, shared by several pairs; empty sets; few and many values."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        universe = int(rng.choice([5, 50, 2**32 - 1]))  # small universes: many repeats and shared values
        left_values, left_offsets = _random_sets(rng, int(rng.integers(1, 8)), universe)
        right_values, right_offsets = distinct_sets(*_random_sets(rng, int(rng.integers(0, 12)), universe))
        n_pairs = len(right_offsets) - 1
        left_of_pair = rng.integers(0, len(left_offsets) - 1, n_pairs).astype(np.int64)
        distinct_left, distinct_offsets = distinct_sets(left_values, left_offsets)
        repeated = [distinct_left[distinct_offsets[k]:distinct_offsets[k + 1]] for k in left_of_pair]
        expected = overlap_of_sets(np.concatenate(repeated or [np.zeros(0, np.uint32)]).astype(np.uint32),
                                   np.r_[0, np.cumsum([len(r) for r in repeated])].astype(np.int64),
                                   right_values, right_offsets)
        got = overlap_by_left(left_values, left_offsets, left_of_pair, right_values, right_offsets,
                              np.argsort(left_of_pair, kind="stable"))
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_gather_texts_equals_arrow_take() -> None:
    """One array of the rows taken, as Arrow's take gives them: string and large_string chunks,
    sliced chunks, empty chunks and strings, multi-byte text; nulls take the general path."""
    rng = np.random.default_rng(5)
    for trial in range(200):
        kind = pa.string() if trial % 2 else pa.large_string()
        chunks = []
        for _ in range(int(rng.integers(1, 6))):
            words = [("é" * int(rng.integers(0, 3))) + f"t{x}" * int(rng.integers(0, 3)) for x in rng.integers(0, 99, 8)]
            chunk = pa.array(words, kind)
            start = int(rng.integers(0, 8))
            chunks.append(chunk.slice(start, int(rng.integers(0, 9 - start))))
        if trial % 7 == 0:
            chunks[0] = pa.array([None, "x"], kind)
        column = pa.chunked_array(chunks, kind)
        rows = np.unique(rng.integers(0, max(len(column), 1), rng.integers(0, len(column) + 1)))
        expected = column.take(pa.array(rows, pa.int64())).combine_chunks()
        got = gather_texts(column, rows)
        assert got.to_pylist() == expected.to_pylist()
        assert got.to_pylist() == take_sorted_rows(column, rows).combine_chunks().to_pylist()
    with pytest.raises(IndexError, match="outside"):
        gather_texts(pa.chunked_array([pa.array(["a", "b"])]), np.array([2]))
