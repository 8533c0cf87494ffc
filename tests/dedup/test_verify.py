"""Stage 1 spill files and pair verification (estimated and exact Jaccard), without Ray."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dedup.candidates import ShingleSetGather, SignatureGather, estimated_similarity, exact_similarity, pair_similarity
from dedup.config import DedupConfig
from dedup.minhash import shingles
from dedup.sources import JsonlSource
from dedup.split_stage import process_split
from dedup.workdir import WorkDir


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


def test_exact_similarity_equals_python_sets(spilled: tuple[WorkDir, list[str]]) -> None:
    work, texts = spilled
    first_split_kept = 7  # 7 non-empty documents in 0.jsonl (its 8th line is not there: half = 7)
    pairs_positions = [(0, 1), (2, 3), (0, 2), (4, 9), (10, 11), (1, 12)]
    ordinals = np.array([[_ordinal(a, (first_split_kept, 0)), _ordinal(b, (first_split_kept, 0))] for a, b in pairs_positions], dtype=np.uint64)
    exact = exact_similarity(ShingleSetGather(work), ordinals)
    estimate = estimated_similarity(SignatureGather(work), ordinals)
    for (a, b), got, approx in zip(pairs_positions, exact, estimate):
        left, right = set(shingles(texts[a])), set(shingles(texts[b]))
        truth = len(left & right) / len(left | right)
        assert got == pytest.approx(truth, abs=1e-6), (a, b)
        assert abs(approx - truth) < 0.15
    assert exact[0] > 0.7 and exact[2] < 0.05


def test_pair_similarity_skips_far_pairs(spilled: tuple[WorkDir, list[str]]) -> None:
    work, _ = spilled
    pairs = np.array([[0, 1], [0, 2]], dtype=np.uint64)
    exact = pair_similarity(work, pairs, "exact", 0.65)
    estimate = pair_similarity(work, pairs, "estimate", 0.65)
    assert exact[1] == estimate[1]  # far below the threshold: the estimate is kept
    assert 0.45 < estimate[0] < 0.85 and exact[0] != estimate[0]  # near it: measured exactly


def _run_inline(source: JsonlSource, work: WorkDir, config: DedupConfig) -> dict[str, object]:
    """Every stage of the job in this process (no Ray), through the same waves as the job."""
    from dedup.waves import Waves, inline_executor

    splits = source.splits()
    for index, split in enumerate(splits):
        process_split(index, split, source, config, work)
    waves = Waves(work, config, len(splits), config.partitions or 3, inline_executor)
    pairs = waves.candidates()
    clusters, exact, near = waves.clusters(waves.components())
    waves.write(exact, near)
    return {"pairs": pairs, "clusters": clusters}


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
