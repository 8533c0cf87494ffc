"""A fixed corpus for pinning the dedup job's outputs byte for byte (tests/dedup/test_output_pinned.py).

Built from the 50 real aeb-dev article bodies, seeded, so it is the same on every machine. It holds
what the job's stages must get right together: exact copies (one original copied 40 times, so a
bucket exceeds the 32-member pair limit), near copies at several similarities (some within 0.2 of
the threshold, so exact Jaccard decides them; some below it, rejected), chains (B edits A, C
edits B: C joins A's cluster through B), documents that clean to nothing, undecodable and invalid
lines, a priority field, and many small files (many splits).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any


def _words_edit(text: str, share: float, rng: random.Random) -> str:
    """Replace a contiguous ``share`` of the words with words of the same text in another order."""
    words = text.split()
    span = max(1, int(len(words) * share))
    start = rng.randrange(max(1, len(words) - span))
    filler = words[:]
    rng.shuffle(filler)
    return " ".join(words[:start] + filler[:span] + words[start + span:])


def build_pinned_corpus(directory: Path, articles: list[str]) -> dict[str, Any]:
    """Write the corpus as JSONL files into ``directory`` (created); returns what was planted."""
    rng = random.Random(20261128)
    directory.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    planted: dict[str, str] = {}
    for index, article in enumerate(articles):
        records.append({"id": f"orig-{index:02d}", "text": article, "rank": (index * 7) % 11})
    for copy in range(40):  # one big exact cluster: a bucket of 41 members
        records.append({"id": f"exact-3-{copy:02d}", "text": articles[3]})
        planted[f"exact-3-{copy:02d}"] = "orig-03"
    for index in range(5, 45, 2):
        share = (0.03, 0.08, 0.15, 0.3, 0.5)[index % 5]
        records.append({"id": f"near-{index:02d}", "text": _words_edit(articles[index], share, rng), "rank": 20})
        planted[f"near-{index:02d}"] = f"orig-{index:02d}"
    for index in range(6, 46, 4):  # chains: B edits the original, C edits B
        middle = _words_edit(articles[index], 0.12, rng)
        records.append({"id": f"chain-{index:02d}-b", "text": middle})
        records.append({"id": f"chain-{index:02d}-c", "text": _words_edit(middle, 0.12, rng)})
    records.append({"id": "empty-1", "text": "  ...  "})
    records.append({"id": "empty-2", "text": ""})
    rng.shuffle(records)
    # Originals of orig-00..09 first, so input order differs from id order for the rest.
    files: list[list[bytes]] = [[] for _ in range(9)]
    for position, record in enumerate(records):
        files[position % 9].append(json.dumps(record).encode() + b"\n")
    files[4].insert(3, b'{"id": "broken", "text": "\xff\xfe"}\n')
    files[6].append(b'{"id": "no-text"}\n')
    files[7].append(b"not json at all\n")
    for number, lines in enumerate(files):
        (directory / f"part-{number:02d}.jsonl").write_bytes(b"".join(lines))
    return {"planted": planted, "documents": len(records)}


def build_pinned_bulk_corpus(directory: Path, articles: list[str], documents: int = 9000, files: int = 2) -> dict[str, Any]:
    """Many short documents (several reader batches per file), 15 % planted copies; seeded.

    Words come from the articles' vocabulary; a copy is exact or has a span of words replaced.
    """
    rng = random.Random(77)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = sorted({w for article in articles for w in article.split()})
    texts: list[str] = []
    planted: dict[str, str] = {}
    for index in range(documents):
        if index > 50 and rng.random() < 0.15:
            original = rng.randrange(index)
            words = texts[original].split()
            if rng.random() < 0.3:
                text = texts[original]
            else:
                span = max(1, int(len(words) * rng.choice((0.02, 0.05, 0.1, 0.2))))
                start = rng.randrange(max(1, len(words) - span))
                text = " ".join(words[:start] + rng.choices(vocabulary, k=span) + words[start + span:])
            planted[f"d{index:05d}"] = f"d{original:05d}"
        else:
            text = " ".join(rng.choices(vocabulary, k=rng.randint(40, 160)))
        texts.append(text)
    per_file = (documents + files - 1) // files
    for number in range(files):
        lines = [json.dumps({"id": f"d{i:05d}", "text": texts[i]}) + "\n" for i in range(number * per_file, min(documents, (number + 1) * per_file))]
        (directory / f"bulk-{number}.jsonl").write_text("".join(lines))
    return {"planted": planted, "documents": documents}
