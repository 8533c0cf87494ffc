"""DOM helpers of the cleaning stage (selectolax / lexbor): parse, drop non-text, remove nodes.

selectolax's node lists are plain Python lists and its CSS engine runs in C, which keeps the
per-page DOM work (EasyList's element-hiding queries, node removal) cheap. The page's text itself
is read by one walk over the tree (``blocks.py``).
"""
from __future__ import annotations

from typing import Iterable

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from .errors import HtmlParseError
from .removals import RemovalLog, visible_chars

PARAGRAPH_SELECTOR = "p:not(:empty)"
NON_TEXT_TAGS = ("script", "style", "noscript", "template")


def parse_html(html: str) -> LexborHTMLParser:
    """Parse an HTML string; raises HtmlParseError if the parser rejects it."""
    try:
        return LexborHTMLParser(html)
    except (SelectolaxError, RuntimeError, ValueError) as exc:
        raise HtmlParseError(f"cannot parse HTML ({len(html)} characters): {exc}") from exc


def remove_non_text(tree: LexborHTMLParser) -> None:
    """Remove scripts, styles and templates, so later character counts mean visible text."""
    tree.strip_tags(list(NON_TEXT_TAGS))


def paragraph_count(node: LexborNode) -> int:
    """Number of non-empty ``<p>`` elements under ``node``."""
    return len(node.css(PARAGRAPH_SELECTOR))


PROSE_MIN_PARAGRAPHS = 3
PROSE_MIN_MEAN_CHARS = 120


def holds_article(node: LexborNode, protect_paragraphs: float) -> bool:
    """Whether ``node`` looks like article text rather than an ad unit or teaser box: it holds
    ``protect_paragraphs`` or more non-empty paragraphs, or at least ``PROSE_MIN_PARAGRAPHS`` of
    them averaging ``PROSE_MIN_MEAN_CHARS`` visible characters (teaser widgets hold short ones)."""
    paragraphs = node.css(PARAGRAPH_SELECTOR)
    if len(paragraphs) >= max(protect_paragraphs, 1):
        return True
    if len(paragraphs) < PROSE_MIN_PARAGRAPHS:
        return False
    return sum(visible_chars(p.text()) for p in paragraphs) >= PROSE_MIN_MEAN_CHARS * len(paragraphs)


def top_nodes(nodes: Iterable[LexborNode], protect_paragraphs: float = float("inf")) -> tuple[list[LexborNode], int]:
    """The nodes to remove so that all of ``nodes`` are gone, and how many were protected.

    ``nodes`` may come in any order, with duplicates. Unless ``protect_paragraphs`` is infinite, a
    node that ``holds_article`` is kept, whatever a rule says (a guard against a rule that matches
    the article's wrapper); listed nodes inside it still go. A node below another listed node is
    left out (it goes with its ancestor; after the ancestor's removal it is freed memory).
    """
    unique: dict[int, LexborNode] = {}
    for node in nodes:
        unique.setdefault(node.mem_id, node)
    protected = 0
    if protect_paragraphs != float("inf"):
        for mem_id, node in list(unique.items()):
            if holds_article(node, protect_paragraphs):
                del unique[mem_id]
                protected += 1
    tops: list[LexborNode] = []
    for node in unique.values():
        parent = node.parent
        while parent is not None and parent.mem_id not in unique:
            parent = parent.parent
        if parent is None:
            tops.append(node)
    return tops, protected


def decompose_all(tops: list[LexborNode]) -> None:
    """Remove nodes returned by ``top_nodes`` (none inside another)."""
    for node in tops:
        node.decompose()


def remove_nodes(nodes: Iterable[LexborNode], protect_paragraphs: float = float("inf")) -> int:
    """Remove ``nodes`` as ``top_nodes`` resolves them; returns the visible characters removed."""
    tops, _ = top_nodes(nodes, protect_paragraphs)
    removed = sum(visible_chars(node.text()) for node in tops)
    decompose_all(tops)
    return removed


def drop_elements(root: LexborNode, selectors: tuple[str, ...], log: RemovalLog, name: str) -> None:
    """Remove all elements under ``root`` matching any of ``selectors``."""
    if selectors:
        log.add(name, remove_nodes(root.css(", ".join(selectors))))
