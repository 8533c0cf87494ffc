"""One walk over a parsed page: its text as blocks, and the elements that hold them.

A *block* is a run of text that a browser would show on its own line(s): the inline content of a
block-level element (``<p>``, ``<li>``, ``<td>``, ``<h2>``, a ``<div>``'s own text, ...), cut at
``<br>`` and at child blocks. Each block records the *element* that owns it (the nearest recorded
ancestor), its text with whitespace collapsed, and how much of that text sits inside links.

Elements are recorded when they are block-level or carry flags (``markup_hints``), so an inline
``<span class="share-links">`` becomes a block of its own that can go alone. Recorded elements
get consecutive indexes in document order (a parent's index is below its children's), which lets
later passes sum child values into parents with one backward loop.

Hidden subtrees (``markup_hints.HIDDEN``) and form controls, media and embedded objects are
skipped: they show no text. Navigation (``<nav>``, ``role="navigation"``) is skipped too, its
visible characters counted (page chrome in every case). The walk uses an explicit stack, so deep pages cannot exhaust
Python's recursion limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from .markup_hints import CHROME, CHROME_TAGS, HIDDEN, element_flags
from .removals import visible_chars

BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "h1", "h2", "h3", "h4",
    "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "td", "th", "tbody", "thead", "tfoot",
    "caption", "blockquote", "pre", "figure", "figcaption", "form", "fieldset", "legend", "address",
    "details", "summary", "center", "body", "hgroup", "menu", "dialog", "noframes",
})
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "select", "option", "button", "input", "textarea", "svg",
    "iframe", "img", "video", "audio", "canvas", "map", "object", "embed", "picture", "source", "math",
    "head", "title", "meta", "link",
})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BREAK_TAGS = frozenset({"br", "hr"})
_URL_STARTS = ("http://", "https://", "www.")
_EXIT = object()


@dataclass(slots=True)
class Block:
    """One line of visible text: its owner element's index, text, length and link length."""

    owner: int
    text: str
    chars: int
    link_chars: int
    tag: str

    @property
    def link_density(self) -> float:
        return self.link_chars / self.chars if self.chars else 0.0


@dataclass
class PageBlocks:
    """The elements and blocks of one page (see the module docstring).

    parent[i]: index of element i's recorded parent (-1 for the root); tag[i]; flags[i]: its own
    ``markup_hints`` flags; nodes[i]: the element itself (for DOM-level rules such as EasyList's).
    Element 0 is the root the walk started from. navigation_chars: visible characters of the
    ``<nav>`` / ``role="navigation"`` elements, which the walk skips (page chrome, never content).
    """

    nodes: list[LexborNode] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    navigation_chars: int = 0


def page_blocks(root: LexborNode) -> PageBlocks:
    """Walk ``root`` (usually ``<body>``) and return its elements and text blocks."""
    page = PageBlocks()
    nodes, parent, tags, flags, blocks = page.nodes, page.parent, page.tag, page.flags, page.blocks
    nodes.append(root)
    parent.append(-1)
    tags.append(root.tag or "body")
    flags.append(0)
    owner = 0
    pieces: list[str] = []
    link_chars = 0
    in_link = 0

    def flush() -> None:
        nonlocal link_chars
        text = " ".join("".join(pieces).split())
        pieces.clear()
        if text:
            blocks.append(Block(owner, text, len(text), min(link_chars, len(text)), tags[owner]))
        link_chars = 0

    stack: list[object] = []
    child = root.last_child
    while child is not None:
        stack.append(child)
        child = child.prev
    while stack:
        item = stack.pop()
        if item is _EXIT:
            previous_owner, was_link, recorded = stack.pop()  # type: ignore[misc]
            if recorded:
                if pieces:
                    flush()
                owner = previous_owner
            if was_link:
                in_link -= 1
            continue
        node: LexborNode = item  # type: ignore[assignment]
        tag = node.tag
        if tag == "-text":
            text = node.text_content
            if text and (pieces or not text.isspace()):  # leading layout whitespace means nothing
                pieces.append(text)
                if in_link and not text.lstrip().startswith(_URL_STARTS):
                    link_chars += len(text.strip())  # a link showing its URL is a reference, not navigation
            continue
        if tag is None or tag == "_comment" or tag in SKIP_TAGS:
            continue
        if tag in _BREAK_TAGS:
            if pieces:
                flush()
            continue
        attributes = node.attributes
        if tag == "nav" or (attributes and attributes.get("role") == "navigation"):
            # Menus are page chrome whatever they hold, and often a fifth of a page's nodes: their
            # text is counted in C, not walked.
            if pieces:
                flush()
            page.navigation_chars += visible_chars(node.text())
            continue
        if attributes:
            own = element_flags(tag, attributes)
            if own & HIDDEN:
                continue
        else:
            own = CHROME if tag in CHROME_TAGS else 0
        is_link = tag == "a"
        if tag in BLOCK_TAGS or own:
            if pieces:
                flush()
            nodes.append(node)
            parent.append(owner)
            tags.append(tag)
            flags.append(own)
            stack.append((owner, is_link, True))
            stack.append(_EXIT)
            owner = len(parent) - 1
            if is_link:
                in_link += 1
        elif is_link:
            in_link += 1
            stack.append((owner, True, False))
            stack.append(_EXIT)
        # else: an inline element without flags changes nothing on the way out
        child = node.last_child
        while child is not None:
            stack.append(child)
            child = child.prev
    if pieces:
        flush()
    return page
