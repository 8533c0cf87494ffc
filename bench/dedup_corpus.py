"""A generated JSONL corpus with planted near-duplicates of known similarity (for bench/dedup_e2e.py).

Unique documents are Zipf-distributed words from a vocabulary (the real words of the aeb-dev
articles, extended with generated words), in paragraphs. A share of documents are *planted copies*
of an earlier document: an exact copy, or the original with a contiguous span of words replaced by
new text, sized so that the 5-gram Jaccard similarity lands in a chosen band (0.8-1.0); the exact
similarity of every planted pair is computed and stored in ``planted.json``.
Seeded and deterministic.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dedup.minhash import shingles

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "aeb-dev" / "ground-truth.json"


@dataclass
class Corpus:
    directory: Path  # the JSONL shards are in directory / "shards"
    documents: int
    bytes: int
    planted: dict[str, dict[str, object]]  # copy id -> {"original": id, "jaccard": float}


def _vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    if _SHARED.exists():
        for entry in json.loads(_SHARED.read_text()).values():
            words.update(w.strip(".,;:!?\"'()").lower() for w in entry["articleBody"].split())
    words.discard("")
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(words) < 60000:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / max(len(sa | sb), 1)


def generate(directory: Path, documents: int = 60000, shards: int = 16, planted_share: float = 0.1, seed: int = 11) -> Corpus:
    """Write ``shards`` JSONL files (``id``, ``text``) into ``directory/shards`` and the planted
    pairs into ``directory/planted.json``."""
    rng = random.Random(seed)
    generator = np.random.default_rng(seed)
    vocab = np.array(_vocabulary(rng), dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()

    def paragraphs_of(n_words: int) -> str:
        words = vocab[generator.choice(len(vocab), size=n_words, p=weights)]
        cuts = list(range(0, n_words, 70)) + [n_words]
        return "\n".join(" ".join(words[a:b]).capitalize() + "." for a, b in zip(cuts, cuts[1:]))

    shard_dir = directory / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    planted: dict[str, dict[str, object]] = {}
    for index in range(documents):
        doc_id = f"doc-{index:07d}"
        if index > 100 and rng.random() < planted_share:
            original = rng.randrange(index)
            while f"doc-{original:07d}" in planted:
                original = rng.randrange(index)
            source = texts[original]
            target = rng.choice([1.0, 0.95, 0.9, 0.85, 0.8])
            if target == 1.0:
                text = source
            else:
                words = source.split(" ")
                # Replacing a span of k of n words leaves about (n-k)/(n+k) of the 5-grams shared.
                span = max(1, int(len(words) * (1 - target) / (1 + target)))
                start = rng.randrange(max(1, len(words) - span))
                text = " ".join(words[:start] + paragraphs_of(span).split(" ") + words[start + span :])
            planted[doc_id] = {"original": f"doc-{original:07d}", "jaccard": round(_jaccard(source, text), 4)}
        else:
            text = paragraphs_of(max(60, int(generator.lognormal(5.9, 0.45))))
        texts.append(text)
    total = 0
    per_shard = (documents + shards - 1) // shards
    for shard in range(shards):
        with open(shard_dir / f"part-{shard:03d}.jsonl", "w", encoding="utf-8") as handle:
            for index in range(shard * per_shard, min(documents, (shard + 1) * per_shard)):
                line = json.dumps({"id": f"doc-{index:07d}", "text": texts[index]}, ensure_ascii=False) + "\n"
                total += len(line.encode())
                handle.write(line)
    (directory / "planted.json").write_text(json.dumps(planted))
    return Corpus(directory, documents, total, planted)
