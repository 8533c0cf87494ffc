"""The snippet metric of trafilatura's evaluation set (used by tfeval-dev), and the set's loader.

Contract, as trafilatura's own benchmark (``tests/eval_common.py``) defines it:

* whitespace runs become one space and the ends are stripped, in the output and in each snippet;
* per page: a "with" snippet (main content) found in the output is a true positive, missing a false
  negative; a "without" snippet (boilerplate, ads, navigation, comments) found is a false positive,
  absent a true negative; an extractor that fails or returns None on a page scores all its
  "with" snippets as false negatives;
* counts are summed over all pages; precision = tp / (tp + fp), recall = tp / (tp + fn),
  F1 = 2 tp / (2 tp + fp + fn).

Each page also gets a language group (for the per-language report): the language whose jusText
stop list covers most of the page's "with" snippets' words (ties and < 15 % coverage: the
``<html lang>`` attribute), Han/Kana/Hangul text as ``cjk``; groups with few pages are "other".
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

_WS_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"\w+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_LANG_ATTR_RE = re.compile(rb"<html[^>]*\slang\s*=\s*[\"']?([A-Za-z]{2})", re.I)
# jusText stop-list names for the languages the report names; everything else is "other".
_STOPLISTS = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
              "pt": "Portuguese", "pl": "Polish", "nl": "Dutch", "ru": "Russian", "hu": "Hungarian"}
GROUPS = ("en", "de", "fr", "es", "cjk", "other")


def norm(text: str) -> str:
    """Whitespace runs to one space, ends stripped (the benchmark's normalization)."""
    return _WS_RE.sub(" ", text).strip()


@dataclass(frozen=True)
class SnippetPage:
    """One page of the set: its HTML bytes, its snippets and its language group."""

    name: str
    html: bytes
    with_snippets: tuple[str, ...]
    without_snippets: tuple[str, ...]
    language: str


@dataclass
class Counts:
    """Summed confusion counts and the scores derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    pages: int = 0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn
        self.pages += other.pages

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "tn": self.tn, "pages": self.pages}


def count_page(page: SnippetPage, output: str | None) -> Counts:
    """Confusion counts of one page's output (None: the extractor failed or gave nothing)."""
    if output is None:
        return Counts(0, 0, len(page.with_snippets), len(page.without_snippets), 1)
    text = norm(output)
    tp = sum(1 for s in page.with_snippets if norm(s) in text)
    fp = sum(1 for s in page.without_snippets if norm(s) in text)
    return Counts(tp, fp, len(page.with_snippets) - tp, len(page.without_snippets) - fp, 1)


def score(pages: Iterable[SnippetPage], outputs: dict[str, str | None]) -> Counts:
    """Summed counts over ``pages`` of ``outputs`` (page name -> extracted text).

    Raises KeyError naming a page that has no output (predict every page).
    """
    total = Counts()
    for page in pages:
        if page.name not in outputs:
            raise KeyError(f"no output for tfeval page {page.name!r}; give every page an output (None if it failed)")
        total.add(count_page(page, outputs[page.name]))
    return total


@functools.lru_cache(maxsize=1)
def _stopwords() -> dict[str, frozenset[str]]:
    import justext

    return {code: frozenset(justext.get_stoplist(name)) for code, name in _STOPLISTS.items()}


def language_group(snippets: Iterable[str], html: bytes) -> str:
    """The page's language group (see the module docstring)."""
    text = " ".join(snippets)
    if len(_CJK_RE.findall(text)) >= 0.2 * max(len(text.replace(" ", "")), 1):
        return "cjk"
    words = [w.lower() for w in _WORD_RE.findall(text)]
    coverage = {code: sum(w in stops for w in words) / max(len(words), 1) for code, stops in _stopwords().items()}
    best = max(coverage, key=lambda c: coverage[c])
    if coverage[best] < 0.15:
        match = _LANG_ATTR_RE.search(html, 0, 8192)
        best = match.group(1).decode().lower() if match else "other"
    return best if best in GROUPS else "other"


def load_snippet_set(root: str | Path) -> list[SnippetPage]:
    """``root/snippets.json`` and ``root/html/NAME.gz``, sorted by name.

    Raises FileNotFoundError naming a missing snippets file or page.
    """
    root = Path(root)
    index = json.loads((root / "snippets.json").read_text(encoding="utf-8"))
    pages = []
    for name in sorted(index):
        entry = index[name]
        html = gzip.decompress((root / "html" / f"{name}.gz").read_bytes())
        pages.append(SnippetPage(name, html, tuple(entry["with"]), tuple(entry["without"]),
                                 language_group(entry["with"], html)))
    return pages


def split_halves(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(tune, held-out): names sorted by SHA-1, alternating; the same rule for every set."""
    ordered = sorted(names, key=lambda n: hashlib.sha1(n.encode()).hexdigest())
    return ordered[0::2], ordered[1::2]


@dataclass
class Breakdown:
    """Counts of one extractor over a set: all pages, the two halves and each language group."""

    all: Counts = field(default_factory=Counts)
    tune: Counts = field(default_factory=Counts)
    held_out: Counts = field(default_factory=Counts)
    languages: dict[str, Counts] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"all": self.all.as_dict(), "tune": self.tune.as_dict(), "held_out": self.held_out.as_dict(),
                "languages": {k: v.as_dict() for k, v in sorted(self.languages.items())}}


def breakdown(pages: list[SnippetPage], outputs: dict[str, str | None]) -> Breakdown:
    """Scores over all pages, the tune / held-out halves (``split_halves``) and each language group."""
    tune_names, _ = split_halves(p.name for p in pages)
    tune = set(tune_names)
    result = Breakdown()
    for page in pages:
        counts = score([page], outputs)
        result.all.add(counts)
        (result.tune if page.name in tune else result.held_out).add(counts)
        result.languages.setdefault(page.language, Counts()).add(counts)
    return result
