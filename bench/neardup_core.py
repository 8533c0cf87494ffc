"""neardup-core: human-graded near-duplicate pairs, scored through the real dedup job.

The set (``../shared/data/neardup-core``): 120 pairs of the 201 documents in ``docs.jsonl.gz``,
graded 0 (not a near-duplicate) to 3 by people; a pair is a near-duplicate when its grade is >= 1.

:func:`job_pair_decisions` writes the documents as one JSONL file, runs ``dedup.job.run_dedup`` on
it with a given ``DedupConfig`` (the same code path as ``haybale dedup run``) and reads the removal
report back: two documents are judged near-duplicates when they end in the same cluster (one was
removed in favour of the other, or both in favour of a third). :func:`exact_similarities` gives the
reference figures: the exact Jaccard similarity of each pair's shingle sets (word or character
n-grams, on the job's normalized tokens).
"""
from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pyarrow.parquet as pq

from dedup.config import DedupConfig
from dedup.tokens import tokenize_reference

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEAR_DUPLICATE_GRADE = 1
ShingleKind = Literal["word", "char"]


@dataclass(frozen=True)
class GradedPair:
    a: str
    b: str
    grade: int

    @property
    def duplicate(self) -> bool:
        return self.grade >= NEAR_DUPLICATE_GRADE


@dataclass
class PairSet:
    """Documents (id -> text) and graded pairs between them."""

    texts: dict[str, str]
    pairs: list[GradedPair]

    @property
    def truth(self) -> np.ndarray:
        return np.array([p.duplicate for p in self.pairs])


def load_core(root: str | Path = SHARED_DATA / "neardup-core") -> PairSet:
    """Read ``docs.jsonl.gz`` and ``pairs.jsonl.gz``; raises FileNotFoundError naming a missing file
    and KeyError naming a pair whose document is missing."""
    root = Path(root)
    with gzip.open(root / "docs.jsonl.gz", "rt", encoding="utf-8") as handle:
        texts = {str(d["id"]): d["text"] for d in map(json.loads, handle)}
    with gzip.open(root / "pairs.jsonl.gz", "rt", encoding="utf-8") as handle:
        pairs = [GradedPair(str(p["a"]), str(p["b"]), int(p["label"])) for p in map(json.loads, handle)]
    for pair in pairs:
        for doc in (pair.a, pair.b):
            if doc not in texts:
                raise KeyError(f"neardup-core pair refers to document {doc!r}, which docs.jsonl.gz lacks")
    return PairSet(texts, pairs)


def scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of pair decisions (and the counts)."""
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def job_clusters(texts: dict[str, str], config: DedupConfig, workdir: Path | None = None) -> dict[str, str]:
    """Run the dedup job on ``texts`` and return each document's cluster (the id of the document
    kept for it; its own id when it was kept). Uses the running Ray, or starts a local one."""
    from dedup.inputs import source_for_inputs
    from dedup.job import run_dedup

    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="neardup-")) if owned else workdir
    assert root is not None
    try:
        docs = root / "docs.jsonl"
        with docs.open("w", encoding="utf-8") as handle:
            for doc_id, text in texts.items():
                handle.write(json.dumps({"id": doc_id, "text": text}) + "\n")
        output = root / "out"
        shutil.rmtree(output, ignore_errors=True)
        summary = run_dedup(source_for_inputs([str(docs)]), str(output), config, run_id="neardup", progress=False)
        if summary["documents"]["input"] != len(texts):
            raise RuntimeError(f"the job read {summary['documents']['input']} of {len(texts)} documents")
        cluster = {doc_id: doc_id for doc_id in texts}
        for row in pq.read_table(output / "removed").to_pylist():
            if row["kept_id"] is not None:
                cluster[row["id"]] = row["kept_id"]
        return cluster
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)


def job_pair_decisions(pairs: PairSet, config: DedupConfig) -> np.ndarray:
    """For each pair: did the job put both documents in one cluster?"""
    cluster = job_clusters(pairs.texts, config)
    return np.array([cluster[p.a] == cluster[p.b] for p in pairs.pairs])


def shingle_set(text: str, kind: ShingleKind, size: int) -> set[str]:
    """Word n-grams of the job's normalized tokens, or character n-grams of those tokens joined by
    one space; a text shorter than one shingle is one shingle."""
    tokens = [t.decode("utf-8", "replace") for t in tokenize_reference(text)]
    if kind == "word":
        grams = [" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]
        return set(grams) if grams else ({" ".join(tokens)} if tokens else set())
    joined = " ".join(tokens)
    grams = [joined[i : i + size] for i in range(len(joined) - size + 1)]
    return set(grams) if grams else ({joined} if joined else set())


def exact_similarities(pairs: PairSet, kind: ShingleKind = "word", size: int = 5) -> np.ndarray:
    """Exact Jaccard similarity of each pair's shingle sets."""
    cache: dict[str, set[str]] = {}

    def of(doc: str) -> set[str]:
        if doc not in cache:
            cache[doc] = shingle_set(pairs.texts[doc], kind, size)
        return cache[doc]

    out = []
    for pair in pairs.pairs:
        left, right = of(pair.a), of(pair.b)
        out.append(len(left & right) / max(len(left | right), 1))
    return np.array(out)


def best_threshold(similarity: np.ndarray, truth: np.ndarray, grid: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The grid threshold with the best F1 of ``similarity >= t`` (first one on ties)."""
    best = max(grid, key=lambda t: (scores(similarity >= t, truth)["f1"], -t))
    return best, scores(similarity >= best, truth)
