"""HTML to main text: parse, cut the page down to its main container, drop chrome, render.

Main-container rule (ours, measured on aeb-dev): article text lives in ``<p>`` elements, and the
article is the one region that holds most of them. Starting at ``<body>`` we descend into the child
element that still holds at least ``share`` of all non-empty paragraphs (and ``text_share`` of
their text), and stop where no child does; everything outside that element is dropped. The
container is chosen by coverage, not by density, so an article split over several sections is not
cut apart.

The DOM work uses selectolax (lexbor): its node lists are plain Python lists, while resiliparse
2.0's node collections cost ~0.5 ms per item access. resiliparse renders the final text (its
main-content heuristics and block layout are good and fast): the container's HTML is serialized
once and re-parsed by it (~0.4 ms for a typical article); element-hiding rules are applied there
as a skip selector, so the container is not serialized twice.
"""
from __future__ import annotations

from typing import Iterable

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import CSSParserException, HTMLParserException, HTMLTree
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from .removals import RemovalLog, visible_chars
from .errors import HtmlParseError

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


def find_main_container(tree: LexborHTMLParser, share: float, text_share: float) -> LexborNode | None:
    """The deepest element holding >= ``share`` of the body's non-empty paragraphs and >=
    ``text_share`` of their visible characters (None: keep the whole body).

    The count decides (cheap: one selector count per child on the way down); the text share only
    vetoes a step, so that a widget of many one-line teaser paragraphs cannot outvote an article
    of a few long ones.
    """
    body = tree.body
    if body is None or share >= 1:
        return None
    paragraphs = body.css(PARAGRAPH_SELECTOR)
    if not paragraphs:
        return None
    lengths = {p.mem_id: visible_chars(p.text()) for p in paragraphs}
    needed = share * len(paragraphs)
    needed_text = text_share * sum(lengths.values())
    node = body
    while True:
        chosen = None
        child = node.child
        while child is not None:
            if child.tag not in ("-text", "_comment"):
                inner = child.css(PARAGRAPH_SELECTOR)
                if len(inner) >= needed:  # at most one child can hold more than half
                    if sum(lengths.get(p.mem_id, 0) for p in inner) >= needed_text:
                        chosen = child
                    break
            child = child.next
        if chosen is None:
            break
        node = chosen
    return None if node.mem_id == body.mem_id else node


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


class SkipSelectorError(HtmlParseError):
    """resiliparse's CSS parser rejected a skip selector that selectolax accepted."""


def render_text(html: str, is_document: bool, main_content: bool, keep_comments: bool,
                skip_selector: str | None = None) -> str:
    """Plain text of ``html`` (a whole body if ``is_document``, else one element's outer HTML)
    with block structure as lines (resiliparse's renderer); elements matching ``skip_selector``
    are left out.

    Raises HtmlParseError if resiliparse rejects the HTML, SkipSelectorError if it rejects
    ``skip_selector`` (the caller then removes those elements itself and renders again).
    """
    try:
        tree = HTMLTree.parse(html if is_document else f"<body>{html}</body>")
    except HTMLParserException as exc:
        raise HtmlParseError(f"cannot re-parse the main container ({len(html)} characters): {exc}") from exc
    try:
        return extract_plain_text(
            tree,
            preserve_formatting=True,
            main_content=main_content,
            comments=keep_comments,
            alt_texts=False,
            list_bullets=False,
            links=False,
            form_fields=False,
            noscript=False,
            skip_elements=[skip_selector] if skip_selector else None,
        )
    except CSSParserException as exc:
        raise SkipSelectorError(f"resiliparse cannot parse skip selector ({len(skip_selector or '')} chars): {exc}") from exc
