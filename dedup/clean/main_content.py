"""Which blocks of a page are its main content: markup hints, the main container, link density.

Input: the elements and blocks of one page (``blocks.page_blocks``). Every block is kept or
removed under exactly one reason, decided in this order:

1. ``page_chrome`` / ``comments`` / ``boilerplate_markup``: the block lies inside an element whose
   markup flags it (``markup_hints``). A flag is believed unless the flagged element holds at
   least ``guard_share`` of the page's prose (then it is the page's content, whatever its class
   says: a live ticker built of "comment" boxes, a ``<body class="comments-open">``).
2. ``outside_main_container``: the block lies outside the main container: the deepest element
   holding at least ``container_share`` of the prose that step 1 left. Prose is what a block
   holds outside links, counted for blocks of at least ``PROSE_MIN_CHARS`` characters whose link
   density is at most ``PROSE_MAX_LINK_DENSITY``: menus and teaser lists do not pull the
   container their way, and comment threads are already gone.
3. ``link_dense``: more than ``max_link_density`` of the block's text is link text (menus, tag
   lists, "related" lists that carry no class name).

A real page must not vanish: when what is left holds fewer than ``FALLBACK_MIN_CHARS``
characters while the page shows more text, the selection falls back, conservatively, first to
every block that steps 1 and 3 keep (the container is ignored: ``fallback="page_blocks"``), then
to every visible block that is not link-dense (``fallback="visible_text"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .blocks import HEADING_TAGS, Block, PageBlocks
from .markup_hints import BOILERPLATE, CHROME, COMMENTS

PROSE_MIN_CHARS = 50
PROSE_MAX_LINK_DENSITY = 0.33
FALLBACK_MIN_CHARS = 200
LABEL_MAX_CHARS = 60
# A long block is prose even when most of its words are links (an encyclopedia's sentences), and a
# heading with an "[edit]" link is still a heading; a teaser's heading is a link through and through.
LONG_BLOCK_CHARS = 150
LONG_BLOCK_MAX_LINK_DENSITY = 0.8
SENTENCE_MIN_CHARS = 40
ISLAND_MAX_CHARS = 150
# ...and at least one of its neighbours went for one of these (a blurb beside a link list).
ISLAND_CONTEXT = frozenset({"link_dense", "boilerplate_markup"})
LEAD_LOOKBACK = 10
LEAD_MAX_LEVELS = 8
# Comment threads often outgrow the article they follow; only a "comments" section holding nearly
# all of a page's prose is its content (a live ticker).
COMMENTS_GUARD_SHARE = 0.85
_LIST_TAGS = frozenset({"li", "td", "th", "dd", "dt"})
_SENTENCE_ENDS = (".", "!", "?", "\u2026", '"', "\u201d", "\u201c", "\u00bb", ")", "\u3002", "\uff01", "\uff1f")

_REASONS = {CHROME: "page_chrome", COMMENTS: "comments", BOILERPLATE: "boilerplate_markup"}


@dataclass(frozen=True)
class SelectionParams:
    """The tunables of ``select_main_blocks`` (``CleanConfig`` carries them)."""

    container_share: float = 0.9
    guard_share: float = 0.5
    max_link_density: float = 0.5
    keep_comments: bool = False


@dataclass
class Selection:
    """Kept blocks in page order, removed characters per reason, and the fallback used (if any)."""

    kept: list[Block]
    removed: dict[str, int] = field(default_factory=dict)
    fallback: str | None = None


def _prose(block: Block) -> int:
    if block.chars < PROSE_MIN_CHARS or block.link_chars > PROSE_MAX_LINK_DENSITY * block.chars:
        return 0
    return block.chars - block.link_chars


def _subtree_sums(parent: list[int], own: list[int]) -> list[int]:
    """Per element: ``own`` summed over its subtree (indexes are in document order)."""
    total = list(own)
    for index in range(len(parent) - 1, 0, -1):
        total[parent[index]] += total[index]
    return total


def _marks(page: PageBlocks, prose_total: list[int], params: SelectionParams) -> list[str | None]:
    """Per element: the reason its blocks are removed by markup (step 1), or None.

    A comments flag that the guard overrules on an element is overruled on all its descendants
    too: the comment boxes of a live ticker that is the page's content are content as well. (Other
    flags are not inherited that way: a ``<body class="has-sidebar">`` says nothing of the boxes
    inside it.)
    """
    ignored = 0 if not params.keep_comments else COMMENTS
    guard = params.guard_share * prose_total[0]
    comments_guard = max(params.guard_share, COMMENTS_GUARD_SHARE) * prose_total[0]
    count = len(page.parent)
    marks: list[str | None] = [None] * count
    overruled = [ignored] * count
    for index in range(1, count):
        up = page.parent[index]
        inherited = marks[up]
        if inherited is not None:
            marks[index] = inherited
            continue
        own = page.flags[index] & ~overruled[up] & (CHROME | COMMENTS | BOILERPLATE)
        overruled[index] = overruled[up]
        if not own:
            continue
        if own == CHROME and page.tag[index] == "header" and prose_total[index] > 0:
            continue  # an article's header holding its standfirst, not the site's masthead
        if prose_total[0] > 0 and prose_total[index] >= (comments_guard if own & COMMENTS else guard):
            overruled[index] |= own & COMMENTS
            continue
        # COMMENTS before BOILERPLATE before CHROME: the most specific name wins.
        flag = COMMENTS if own & COMMENTS else BOILERPLATE if own & BOILERPLATE else CHROME
        marks[index] = _REASONS[flag]
    return marks


def _container(parent: list[int], prose_left: list[int], share: float) -> int:
    """Index of the deepest element holding >= ``share`` of the root's remaining prose."""
    needed = share * prose_left[0]
    if needed <= 0:
        return 0
    children: list[list[int]] = [[] for _ in parent]
    for index in range(1, len(parent)):
        children[parent[index]].append(index)
    node = 0
    while True:
        step = next((c for c in children[node] if prose_left[c] >= needed), None)
        if step is None:
            return node
        node = step


def _subtree_ends(parent: list[int]) -> list[int]:
    """Per element: one past the last index of its subtree (its subtree is [index, end))."""
    end = list(range(1, len(parent) + 1))
    for index in range(len(parent) - 1, 0, -1):
        if end[index] > end[parent[index]]:
            end[parent[index]] = end[index]
    return end


@dataclass
class MainContent:
    """Steps 1-2 of a page: each element's markup reason (inherited from its ancestors; None if
    its blocks are not flagged) and the main container (its subtree is [container, end))."""

    marks: list[str | None]
    container: int
    end: int


def locate_main_content(page: PageBlocks, params: SelectionParams = SelectionParams()) -> MainContent:
    """Markup marks and the main container of ``page`` (steps 1-2 of the module docstring)."""
    own_prose = [0] * len(page.parent)
    for block in page.blocks:
        own_prose[block.owner] += _prose(block)
    prose_total = _subtree_sums(page.parent, own_prose)
    marks = _marks(page, prose_total, params)
    own_left = [0] * len(page.parent)
    for block in page.blocks:
        if marks[block.owner] is None:
            own_left[block.owner] += _prose(block)
    container = _container(page.parent, _subtree_sums(page.parent, own_left), params.container_share)
    return MainContent(marks, container, _subtree_ends(page.parent)[container])


def select_main_blocks(page: PageBlocks, params: SelectionParams = SelectionParams(),
                       located: MainContent | None = None, extra_marks: dict[int, str] | None = None) -> Selection:
    """Decide every block of ``page`` (see the module docstring).

    ``extra_marks`` (element index -> reason, e.g. EasyList's matches inside the container) remove
    those elements' blocks first, under their own reason.
    """
    located = located if located is not None else locate_main_content(page, params)
    blocks, marks, container, end = page.blocks, located.marks, located.container, located.end
    extra = _inherited(page.parent, extra_marks, container, end) if extra_marks else {}
    max_links = params.max_link_density
    reasons: list[str | None] = []
    for block in blocks:
        owner = block.owner
        mark = extra.get(owner) or marks[owner]
        if mark is not None:
            reasons.append(mark)
        elif not container <= owner < end:
            reasons.append("outside_main_container")
        elif block.link_chars > (LONG_BLOCK_MAX_LINK_DENSITY if _reads_as_prose(block) else max_links) * block.chars:
            reasons.append("link_dense")
        else:
            reasons.append(None)
    _add_lead(page, marks, container, end, reasons)
    _drop_orphan_labels(blocks, reasons)
    _drop_islands(blocks, reasons)
    selection = _selection(blocks, reasons, page.navigation_chars)
    if _visible(selection.kept) >= FALLBACK_MIN_CHARS:
        return selection
    # Too little left: widen, but never to link lists or ads.
    context = ("outside_main_container", "orphan_label", "isolated_short")
    for name, relaxed in (("page_blocks", context),
                          ("visible_text", (*context, "page_chrome", "comments", "boilerplate_markup"))):
        widened = [None if reason in relaxed else reason for reason in reasons]
        candidate = _selection(blocks, widened, page.navigation_chars)
        if _visible(candidate.kept) > _visible(selection.kept):
            candidate.fallback = name
            selection = candidate
            if _visible(selection.kept) >= FALLBACK_MIN_CHARS:
                break
    return selection


def _add_lead(page: PageBlocks, marks: list[str | None], container: int, end: int, reasons: list[str | None]) -> None:
    """Keep the prose just before the container that sits close to it in the tree: a standfirst or
    lead paragraph that publishers put beside the article body, not in it."""
    blocks = page.blocks
    first = next((i for i, block in enumerate(blocks) if container <= block.owner < end), None)
    if first is None or container == 0:
        return
    scope = container
    for _ in range(LEAD_MAX_LEVELS):
        if page.parent[scope] <= 0:
            break
        scope = page.parent[scope]
    scope_end = _subtree_end(page.parent, scope)
    for position in range(first - 1, max(first - LEAD_LOOKBACK, 0) - 1, -1):
        block = blocks[position]
        if not scope <= block.owner < scope_end:
            break
        if reasons[position] == "outside_main_container" and marks[block.owner] is None and _prose(block) > 0:
            reasons[position] = None


def _subtree_end(parent: list[int], index: int) -> int:
    """One past the last index of ``index``'s subtree."""
    end = index + 1
    while end < len(parent):
        ancestor = parent[end]
        while ancestor > index:
            ancestor = parent[ancestor]
        if ancestor != index:
            break
        end += 1
    return end


def _reads_as_prose(block: Block) -> bool:
    """Long, or a sentence, or a heading: such a block is text even when many of its words are links."""
    return (block.chars >= LONG_BLOCK_CHARS or block.tag in HEADING_TAGS
            or (block.chars >= SENTENCE_MIN_CHARS and block.text.endswith(_SENTENCE_ENDS)))


def _heading_rank(block: Block) -> int:
    return int(block.tag[1]) if block.tag in HEADING_TAGS else 0


def is_label(block: Block) -> bool:
    """A short line that introduces or names something rather than saying it: a heading, or fewer
    than ``LABEL_MAX_CHARS`` characters not ending a sentence. List items and table cells are
    content of their list or table, never labels."""
    if block.tag in _LIST_TAGS:
        return False
    if block.tag in HEADING_TAGS:
        return True
    return block.chars < LABEL_MAX_CHARS and not block.text.endswith(_SENTENCE_ENDS)


def _drop_orphan_labels(blocks: list[Block], reasons: list[str | None]) -> None:
    """Labels followed by removed text go with it ("Related articles" above a removed link list);
    runs of them too. The end of the page counts as removed text."""
    next_removed = True
    next_rank = 0  # heading rank of the next kept block (1 for h1 ... 6 for h6; 0: not a heading)
    for position in range(len(blocks) - 1, -1, -1):
        block = blocks[position]
        if reasons[position] is None and is_label(block):
            rank = _heading_rank(block)
            if next_removed or (rank and next_rank and next_rank <= rank):
                reasons[position] = "orphan_label"  # introduces removed text, or an empty section
        next_removed = reasons[position] is not None
        if not next_removed:
            next_rank = _heading_rank(block)


def _drop_islands(blocks: list[Block], reasons: list[str | None]) -> None:
    """A short run of kept blocks (fewer than ``ISLAND_MAX_CHARS`` characters in all) between
    removed ones goes too, when a neighbour went for ``ISLAND_CONTEXT`` reasons: a teaser's
    heading and blurb between link lists. The page's ends count as removed."""
    count = len(blocks)
    position = 0
    while position < count:
        if reasons[position] is not None:
            position += 1
            continue
        start, chars = position, 0
        while position < count and reasons[position] is None:
            chars += blocks[position].chars
            position += 1
        if chars >= ISLAND_MAX_CHARS:
            continue
        before = reasons[start - 1] if start > 0 else None
        after = reasons[position] if position < count else None
        if (start == 0 or before is not None) and (position == count or after is not None) and (
                before in ISLAND_CONTEXT or after in ISLAND_CONTEXT):
            for inside in range(start, position):
                reasons[inside] = "isolated_short"


def _inherited(parent: list[int], marks: dict[int, str], start: int, end: int) -> dict[int, str]:
    """``marks`` spread to every descendant inside [start, end) (document order: parents first)."""
    spread: dict[int, str] = {}
    for index in range(start, end):
        mark = marks.get(index) or spread.get(parent[index])
        if mark is not None:
            spread[index] = mark
    return spread


def _selection(blocks: list[Block], reasons: list[str | None], navigation_chars: int = 0) -> Selection:
    kept: list[Block] = []
    removed: dict[str, int] = {"page_chrome": navigation_chars} if navigation_chars else {}
    for block, reason in zip(blocks, reasons):
        if reason is None:
            kept.append(block)
        else:
            removed[reason] = removed.get(reason, 0) + block.chars - block.text.count(" ")
    return Selection(kept, removed)


def _visible(blocks: list[Block]) -> int:
    return sum(block.chars for block in blocks)
