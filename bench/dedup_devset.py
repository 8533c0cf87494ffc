"""A labelled dev set of near-duplicate pairs built from real documents, and its evaluation.

Real text: the 50 article bodies of ``shared/data/aeb-dev/ground-truth.json`` (news and blog
pages); real boilerplate: the lines of each page's visible text that are not in its article
(menus, cookie and newsletter prompts, related links, footers), taken from the HTML pages.

Pairs (seeded, deterministic) between an original article O and a document D derived from it:

===================  =============================================================================
kind                 D is
===================  =============================================================================
boilerplate          O with its own page's boilerplate lines, or another page's, before and after
delete_paragraphs    O without a random 10 % / 25 % / 40 % of its paragraphs
insert_paragraphs    O with paragraphs of another article inserted (10 % / 25 % / 45 % of D)
reorder              O with its paragraphs shuffled
partial_copy         a contiguous part of O: 85 % / 60 % / 35 % of its words
word_edits           O with 1 % / 3 % of its words replaced by other words
mixed                the first half of O followed by the second half of another article
distinct             another article (every pair of distinct articles)
shared_boilerplate   another article, both wrapped in the same page boilerplate
===================  =============================================================================

Labelling rule (fixed before measuring): a pair is a near duplicate when at least 70 % of D's
words come from O *and* at least 70 % of O's words survive in D, counting words changed by
``word_edits`` as not surviving. So reordering is always a duplicate, added boilerplate is one
unless it makes up more than 30 % of D, and ``mixed``, ``distinct`` and ``shared_boilerplate``
never are.

``python -m bench.dedup_devset`` prints precision / recall / F1 of the pipeline's pair decision (LSH
candidate in any band, then the job's verification and pair rule) with the job's defaults and over a
sweep of verification thresholds with word 5-grams (LSH tuned for the threshold, and for 0.5), and
of exact 5-gram Jaccard for comparison; writes ``bench/results/dedup_devset.json``. The defaults'
comparison with human judgements and the anchors, in one run, is ``python -m bench.dedup_neardup``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dedup.candidates import EXACT_CHECK_MARGIN, group_pairs
from dedup.config import DedupConfig
from dedup.lsh_params import LshParams, optimal_params
from dedup.minhash import MinHashConfig, MinHasher, shingles
from dedup.near_duplicate import NearDuplicateRule
from dedup.split_stage import band_keys
from dedup.tokens import tokenize_batch

LABEL_MIN_SHARED = 0.7
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "aeb-dev"


@dataclass(frozen=True)
class Pair:
    """Two documents (indexes into ``DevSet.texts``), the truth, and how D was made."""

    a: int
    b: int
    duplicate: bool
    kind: str


@dataclass
class DevSet:
    texts: list[str]
    pairs: list[Pair]


def _paragraphs(text: str) -> list[str]:
    return [p for p in (part.strip() for part in text.split("\n")) if p]


def _word_count(paragraphs: Sequence[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def _page_boilerplate(html_dir: Path, key: str, article: str) -> list[str]:
    """Visible lines of the page that are not part of its article (its real boilerplate)."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    path = html_dir / f"{key}.html.gz"
    if not path.exists():
        return []
    tree = HTMLParser(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
    for node in tree.css("script, style, noscript"):
        node.decompose()
    body = tree.body
    if body is None:
        return []
    lines = [" ".join(line.split()) for line in body.text(separator="\n").split("\n")]
    return [line for line in lines if len(line) > 15 and line not in article][:60]


def build_devset(data_dir: Path = DEFAULT_DATA, seed: int = 7) -> DevSet:
    """Build the labelled pairs (see the module docstring). Deterministic for a given seed."""
    truth = json.loads((data_dir / "ground-truth.json").read_text())
    keys = sorted(truth)
    articles = [truth[k]["articleBody"] for k in keys]
    boilerplate = [_page_boilerplate(data_dir / "html", k, a) for k, a in zip(keys, articles)]
    rng = random.Random(seed)
    texts = list(articles)
    pairs: list[Pair] = []

    def add(original: int, derived_paragraphs: list[str], kind: str, from_original: int, survived: int) -> None:
        text = "\n".join(derived_paragraphs)
        total_words = max(_word_count(derived_paragraphs), 1)
        original_words = max(_word_count(_paragraphs(articles[original])), 1)
        duplicate = from_original / total_words >= LABEL_MIN_SHARED and survived / original_words >= LABEL_MIN_SHARED
        texts.append(text)
        pairs.append(Pair(original, len(texts) - 1, duplicate, kind))

    for index, article in enumerate(articles):
        paragraphs = _paragraphs(article)
        words = _word_count(paragraphs)
        if words < 40:
            continue
        other = rng.choice([j for j in range(len(articles)) if j != index])
        other_paragraphs = _paragraphs(articles[other])

        own = boilerplate[index] or boilerplate[other]
        head, tail = own[: len(own) // 2], own[len(own) // 2 :]
        add(index, head + paragraphs + tail, "boilerplate", words, words)
        foreign = boilerplate[other]
        add(index, foreign[:10] + paragraphs + foreign[10:20], "boilerplate", words, words)

        for fraction in (0.1, 0.25, 0.4):
            kept = [p for p in paragraphs if rng.random() >= fraction] or paragraphs[:1]
            add(index, kept, "delete_paragraphs", _word_count(kept), _word_count(kept))

        for fraction in (0.1, 0.25, 0.45):
            inserted: list[str] = []
            pool = list(other_paragraphs)
            while pool and _word_count(inserted) < fraction / (1 - fraction) * words:
                inserted.append(pool.pop(0))
            merged = list(paragraphs)
            for paragraph in inserted:
                merged.insert(rng.randrange(len(merged) + 1), paragraph)
            add(index, merged, "insert_paragraphs", words, words)

        shuffled = list(paragraphs)
        rng.shuffle(shuffled)
        add(index, shuffled, "reorder", words, words)

        tokens = article.split()
        for fraction in (0.85, 0.6, 0.35):
            length = int(len(tokens) * fraction)
            start = rng.randrange(len(tokens) - length + 1)
            add(index, [" ".join(tokens[start : start + length])], "partial_copy", length, length)

        vocabulary = " ".join(articles).split()
        for rate in (0.01, 0.03):
            edited = list(tokens)
            changed = rng.sample(range(len(edited)), max(1, int(rate * len(edited))))
            for position in changed:
                edited[position] = rng.choice(vocabulary)
            add(index, [" ".join(edited)], "word_edits", len(edited) - len(changed), len(edited) - len(changed))

        half = len(paragraphs) // 2
        mixed = paragraphs[:half] + other_paragraphs[len(other_paragraphs) // 2 :]
        add(index, mixed, "mixed", _word_count(paragraphs[:half]), _word_count(paragraphs[:half]))

    for first in range(len(articles)):
        for second in range(first + 1, len(articles)):
            pairs.append(Pair(first, second, False, "distinct"))
    wrapper = max(boilerplate, key=len)
    for first in range(0, len(articles) - 1, 2):
        texts.append("\n".join(wrapper[:15] + _paragraphs(articles[first]) + wrapper[15:]))
        texts.append("\n".join(wrapper[:15] + _paragraphs(articles[first + 1]) + wrapper[15:]))
        pairs.append(Pair(len(texts) - 2, len(texts) - 1, False, "shared_boilerplate"))
    return DevSet(texts, pairs)


def _scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def pipeline_decisions(
    devset: DevSet, config: MinHashConfig, lsh: LshParams, threshold: float, verify: str = "estimate",
    rule: NearDuplicateRule | None = None,
) -> np.ndarray:
    """For every labelled pair: would the job merge it directly (LSH candidate, then verified)?

    ``verify`` is the job's mode: ``estimate`` (signature agreement) or ``exact`` (Jaccard of the
    shingle-hash sets, computed only when the estimate is within EXACT_CHECK_MARGIN of the threshold);
    ``rule`` is the job's pair decision (default: similarity >= threshold).
    """
    rule = rule or NearDuplicateRule(threshold)
    hasher = MinHasher(config)
    tokens = tokenize_batch(devset.texts)
    signatures, values, offsets = hasher.signatures_and_shingles(tokens, devset.texts)
    keys = band_keys(signatures, lsh.bands, lsh.rows)
    ordinals = np.repeat(np.arange(len(devset.texts), dtype=np.uint64), lsh.bands)
    candidates = group_pairs(keys.reshape(-1), ordinals)
    candidate_set = {(int(a), int(b)) for a, b in candidates}
    decisions = np.zeros(len(devset.pairs), dtype=bool)
    for position, pair in enumerate(devset.pairs):
        key = (min(pair.a, pair.b), max(pair.a, pair.b))
        if key not in candidate_set:
            continue
        similarity = float((signatures[pair.a] == signatures[pair.b]).mean())
        difference = -1
        if verify == "exact" and abs(similarity - threshold) < EXACT_CHECK_MARGIN:
            left = set(values[offsets[pair.a] : offsets[pair.a + 1]].tolist())
            right = set(values[offsets[pair.b] : offsets[pair.b + 1]].tolist())
            similarity = len(left & right) / max(len(left | right), 1)
            difference = len(left | right) - len(left & right)
        decisions[position] = bool(rule.decide(np.array([similarity]), np.array([difference]))[0])
    return decisions


def exact_jaccard(devset: DevSet, ngram: int = 5) -> np.ndarray:
    sets = [set(shingles(t, ngram)) for t in devset.texts]
    return np.array([len(sets[p.a] & sets[p.b]) / max(len(sets[p.a] | sets[p.b]), 1) for p in devset.pairs])


def evaluate(devset: DevSet, thresholds: Sequence[float], num_perm: int = 128, ngram: int = 5) -> dict[str, Any]:
    truth = np.array([p.duplicate for p in devset.pairs])
    config = MinHashConfig(num_perm=num_perm, ngram=ngram)
    jaccard = exact_jaccard(devset, ngram)
    defaults = DedupConfig()
    default_scores = _scores(
        pipeline_decisions(devset, defaults.minhash, defaults.lsh, defaults.threshold, defaults.verify,
                           defaults.near_duplicate_rule), truth
    )
    rows = []
    for threshold in thresholds:
        tuned = optimal_params(threshold, num_perm)
        generous = optimal_params(min(defaults.lsh_threshold, threshold), num_perm)
        rows.append(
            {
                "threshold": threshold,
                "lsh_for_threshold": f"{tuned.bands}x{tuned.rows}",
                "pipeline_lsh_for_threshold": _scores(pipeline_decisions(devset, config, tuned, threshold), truth),
                "lsh_for_default": f"{generous.bands}x{generous.rows}",
                "pipeline_lsh_default": _scores(pipeline_decisions(devset, config, generous, threshold), truth),
                "pipeline_lsh_default_exact": _scores(pipeline_decisions(devset, config, generous, threshold, "exact"), truth),
                "exact_jaccard": _scores(jaccard >= threshold, truth),
            }
        )
    kinds: dict[str, dict[str, int]] = {}
    for pair in devset.pairs:
        entry = kinds.setdefault(pair.kind, {"pairs": 0, "duplicates": 0})
        entry["pairs"] += 1
        entry["duplicates"] += int(pair.duplicate)
    return {
        "documents": len(devset.texts),
        "pairs": len(devset.pairs),
        "positives": int(truth.sum()),
        "kinds": kinds,
        "defaults": {
            "threshold": defaults.threshold,
            "lsh": f"{defaults.lsh.bands}x{defaults.lsh.rows}",
            "verify": defaults.verify,
            **default_scores,
        },
        "sweep": rows,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.dedup_devset")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/dedup_devset.json"))
    args = parser.parse_args(argv)
    devset = build_devset(args.data, args.seed)
    report = evaluate(devset, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85])
    print(f"{report['documents']} documents, {report['pairs']} labelled pairs, {report['positives']} duplicates")
    d = report["defaults"]
    print(
        f"defaults (LSH {d['lsh']}, verify {d['verify']} >= {d['threshold']}): "
        f"precision {d['precision']} recall {d['recall']} F1 {d['f1']}"
    )
    generous = DedupConfig().lsh_threshold
    print(f"P/R/F1 per verification threshold, word 5-grams: [LSH tuned for it, estimate] [LSH {generous}, estimate] "
          f"[LSH {generous}, exact] [exact Jaccard, all pairs]")
    for row in report["sweep"]:
        cells = [
            row["pipeline_lsh_for_threshold"], row["pipeline_lsh_default"], row["pipeline_lsh_default_exact"], row["exact_jaccard"]
        ]
        text = " | ".join(f"{c['precision']:.3f} {c['recall']:.3f} {c['f1']:.3f}" for c in cells)
        print(f"{row['threshold']:>5} {row['lsh_for_threshold']:>6} | {text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
