"""Stage 1 spill files and pair similarity (estimated and exact Jaccard) by the join by split, without Ray."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dedup.config import DedupConfig
from dedup.jaccard import jaccard_of_sets, shingle_sets
from dedup.minhash import shingles
from dedup.near_duplicate import NearDuplicateRule
from dedup.pair_join import own_signatures, split_of
from dedup.sources import JsonlSource
from dedup.split_stage import process_split
from dedup.workdir import WorkDir

MINHASH = DedupConfig().minhash  # the job's shingles (the spill below uses the default config)


@pytest.fixture()
def spilled(tmp_path: Path, articles: list[str]) -> tuple[WorkDir, list[str]]:
    texts = []
    for article in articles[:6]:
        words = article.split()
        texts += [article, " ".join(words[: len(words) * 4 // 5])]
    texts.append("")  # dropped as empty: must not shift the rows of the others
    texts += articles[6:8]
    half = len(texts) // 2
    for index, part in enumerate((texts[:half], texts[half:])):
        (tmp_path / f"{index}.jsonl").write_text("".join(json.dumps({"id": f"{index}-{i}", "text": t}) + "\n" for i, t in enumerate(part)))
    work = WorkDir(str(tmp_path / "out"), "run")
    source = JsonlSource([str(tmp_path)])
    for index, split in enumerate(source.splits()):
        stats = process_split(index, split, source, DedupConfig(partitions=3), work)
        assert stats.documents_in == len(texts[:half] if index == 0 else texts[half:])
    return work, [t for t in texts if t]


def _ordinal(position: int, split_sizes: tuple[int, int]) -> int:
    return position if position < split_sizes[0] else (1 << 32) + position - split_sizes[0]


def _sets(work: WorkDir, ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shingle sets of ordinals from any splits, in order (values, offsets)."""
    parts = [shingle_sets(work, int(split_of(np.array([o]))[0]), np.array([o], np.uint64), MINHASH) for o in ordinals]
    lengths = [len(values) for values, _ in parts]
    return np.concatenate([v for v, _ in parts]).astype(np.uint32), np.r_[0, np.cumsum(lengths)].astype(np.int64)


def test_exact_similarity_equals_python_sets(spilled: tuple[WorkDir, list[str]]) -> None:
    work, texts = spilled
    first_split_kept = 7  # 7 non-empty documents in 0.jsonl (its 8th line is not there: half = 7)
    pairs_positions = [(0, 1), (2, 3), (0, 2), (4, 9), (10, 11), (1, 12)]
    ordinals = np.array([[_ordinal(a, (first_split_kept, 0)), _ordinal(b, (first_split_kept, 0))] for a, b in pairs_positions], dtype=np.uint64)
    exact = jaccard_of_sets(*_sets(work, ordinals[:, 0]), *_sets(work, ordinals[:, 1]))
    signature = [own_signatures(work, int(split_of(np.array([o]))[0]), np.array([o], np.uint64))[0] for o in ordinals.ravel()]
    for index, ((a, b), got) in enumerate(zip(pairs_positions, exact)):
        left, right = set(shingles(texts[a], MINHASH.ngram)), set(shingles(texts[b], MINHASH.ngram))
        truth = len(left & right) / len(left | right)
        assert got == pytest.approx(truth, abs=1e-6), (a, b)
        assert abs((signature[2 * index] == signature[2 * index + 1]).mean() - truth) < 0.15
    assert exact[0] > 0.7 and exact[2] < 0.05


def _similarities(work: WorkDir, pairs: np.ndarray, verify: str) -> np.ndarray:
    """Similarity of (a, b) pairs through the three waves of the join by split."""
    import pyarrow as pa

    from dedup.pair_join import ASSIGNED_SCHEMA, assign_first, exact_wave, pair_schema, second_wave
    from dedup.shuffle import read_table_bucket, write_table_buckets

    n = 2
    table = pa.table({"a": pairs[:, 0], "b": pairs[:, 1], "kept_id": [f"p{i}" for i in range(len(pairs))]}, schema=pair_schema("assign"))
    write_table_buckets(work, work.path("t", "in"), table, split_of(pairs[:, 0]), n)
    for s in range(n):
        assign_first(work, s, [work.path("t", "in")], [], n, 128, work.path("t", f"first{s}"), work.path("t", f"known{s}"))
    for s in range(n):
        second_wave(work, s, [work.path("t", f"first{t}") for t in range(n)], n, "assign", verify, NearDuplicateRule(0.65), MINHASH,
                    work.path("t", f"final{s}"), work.path("t", f"close{s}"))
    for s in range(n):
        exact_wave(work, s, [work.path("t", f"close{t}") for t in range(n)], n, "assign", NearDuplicateRule(0.65), MINHASH,
                   work.path("t", f"exact{s}"))
    finals = [work.path("t", f"{kind}{s}") for kind in ("known", "final", "exact") for s in range(n)]
    rows = pa.concat_tables([read_table_bucket(work, finals, n, s, ASSIGNED_SCHEMA) for s in range(n)]).to_pylist()
    by_id = {r["kept_id"]: r["similarity"] for r in rows}
    return np.array([by_id[f"p{i}"] for i in range(len(pairs))], dtype=np.float32)


def test_close_pairs_are_measured_exactly_and_far_ones_estimated(spilled: tuple[WorkDir, list[str]]) -> None:
    work, _ = spilled
    pairs = np.array([[0, 1], [0, 2], [1, (1 << 32) + 1]], dtype=np.uint64)
    exact = _similarities(work, pairs, "exact")
    estimate = _similarities(work, pairs, "estimate")
    assert exact[1] == estimate[1]  # far below the threshold: the estimate is kept
    assert 0.45 < estimate[0] < 0.85 and exact[0] != estimate[0]  # near it: measured exactly
    assert exact[0] == jaccard_of_sets(*_sets(work, pairs[:1, 0]), *_sets(work, pairs[:1, 1]))[0]


def _run_inline(source: JsonlSource, work: WorkDir, config: DedupConfig) -> dict[str, object]:
    """Every stage of the job in this process (no Ray), through the same waves as the job."""
    from dedup.waves import Waves, inline_executor

    splits = source.splits()
    for index, split in enumerate(splits):
        process_split(index, split, source, config, work)
    waves = Waves(work, config, len(splits), config.partitions or 3, inline_executor)
    pairs, histogram = waves.candidates()
    clusters, exact, near = waves.clusters(waves.components())
    waves.write(exact, near)
    return {"pairs": pairs, "histogram": histogram, "clusters": clusters}


def _output_bytes(fs: object, output: str) -> dict[str, bytes]:
    return {p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]: fs.cat_file(p)  # type: ignore[attr-defined]
            for sub in ("data", "removed") for p in sorted(fs.ls(f"{output}/{sub}", detail=False))}  # type: ignore[attr-defined]


def test_stages_on_a_remote_style_filesystem(articles: list[str], tmp_path: Path) -> None:
    """Inputs and work dir on fsspec's memory:// (no local paths, no memory maps: every spill and
    shuffle file is read by ranged reads) give the same outputs as a local work dir."""
    import random

    import fsspec

    fs = fsspec.filesystem("memory")
    rng = random.Random(4)
    records = [{"id": f"m{i}", "text": t} for i, t in enumerate(articles[:12])] + [{"id": "copy", "text": articles[0]}]
    for i in range(1, 10):
        words = articles[i].split()
        cut = rng.randrange(len(words) // 2)
        records.append({"id": f"near{i}", "text": " ".join(words[:cut] + words[cut + len(words) // (4 + i):])})
    rng.shuffle(records)
    local_inputs = tmp_path / "in"
    local_inputs.mkdir()
    for part in range(3):
        text = "".join(json.dumps(r) + "\n" for r in records[part::3])
        with fs.open(f"/dedup-test/in/{part}.jsonl", "w") as handle:
            handle.write(text)
        (local_inputs / f"{part}.jsonl").write_text(text)
    config = DedupConfig(partitions=2)
    remote = _run_inline(JsonlSource(["memory://dedup-test/in/*.jsonl"]), WorkDir("memory://dedup-test/out", "run"), config)
    local = _run_inline(JsonlSource([str(local_inputs)]), WorkDir(str(tmp_path / "out"), "run"), config)
    assert remote == local
    assert remote["pairs"]["exact_pairs"] == 1 and remote["clusters"]["removed"] >= 5  # type: ignore[index]
    assert _output_bytes(fs, "memory://dedup-test/out") == _output_bytes(fsspec.filesystem("file"), str(tmp_path / "out"))
    fs.rm("/dedup-test", recursive=True)


def test_shingle_sets_of_repeated_documents_repeat_their_sets(spilled: tuple[WorkDir, list[str]]) -> None:
    """A document named several times is shingled once; the result is as if each was asked alone."""
    work, _ = spilled
    ordinals = np.array([3, 1, 3, 0, 1], dtype=np.uint64)
    values, offsets = shingle_sets(work, 0, ordinals, MINHASH)
    alone = [shingle_sets(work, 0, np.array([o], np.uint64), MINHASH)[0] for o in ordinals]
    assert [values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(ordinals))] == [a.tolist() for a in alone]
    assert all(len(set(a.tolist())) == len(a) > 0 for a in alone)


def test_take_sorted_rows_and_repeat_sets_equal_arrow_take_and_numpy_gather() -> None:
    """The chunk-by-chunk take equals ChunkedArray.take (empty chunks included) and refuses rows
    past the end; the compiled repeat of sets equals the numpy gather it replaced."""
    import pyarrow as pa

    from dedup.jaccard import _repeat_sets, take_sorted_rows

    rng = np.random.default_rng(3)
    for _ in range(100):
        chunks = [pa.array([f"t{x}" for x in rng.integers(0, 99, rng.integers(0, 6))], pa.large_string())
                  for _ in range(rng.integers(1, 6))]
        column = pa.chunked_array(chunks, pa.large_string())
        rows = np.unique(rng.integers(0, max(len(column), 1), rng.integers(0, len(column) + 1)))
        expected = column.take(pa.array(rows, pa.int64())).combine_chunks()
        assert take_sorted_rows(column, rows).combine_chunks().equals(expected)
        values = rng.integers(0, 2**32, 40, dtype=np.uint64).astype(np.uint32)
        offsets = np.r_[0, np.sort(rng.integers(0, 41, 4)), 40].astype(np.int64)
        which = rng.integers(0, 5, rng.integers(0, 9))
        lengths = offsets[which + 1] - offsets[which]
        new_offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        gather = np.repeat(offsets[which] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        got_values, got_offsets = _repeat_sets(values, offsets, which)
        assert got_values.dtype == np.uint32 and np.array_equal(got_values, values[gather])
        assert np.array_equal(got_offsets, new_offsets)
    with pytest.raises(IndexError, match="outside"):
        take_sorted_rows(pa.chunked_array([pa.array(["a", "b"])]), np.array([2]))
