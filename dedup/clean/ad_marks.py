"""EasyList matches inside the main container, as marks on the page's recorded elements.

EasyList's rules match DOM nodes; the extractor decides blocks. A matched node that was recorded
by the walk (block-level or flagged) marks its whole subtree. A matched inline node that was not
recorded (a bare ``<a>`` or ``<span>``) marks its nearest recorded ancestor only when it holds all
of that ancestor's text; an ad link in the middle of a paragraph is left to the line filters
rather than taking the paragraph with it.

The rules run on the main container only: ads outside it are gone with everything else there,
and a container's HTML is a fraction of the page's (EasyList's screening scans the serialized
HTML).
"""
from __future__ import annotations

from selectolax.lexbor import LexborNode

from .adblock_filter import AdblockRules, match_cosmetic_rules, network_blocked_nodes
from .blocks import PageBlocks
from .removals import visible_chars


def ad_marks(page: PageBlocks, container: int, end: int, url: str | None, rules: AdblockRules) -> dict[int, str]:
    """Element index -> ``adblock_network`` / ``adblock_cosmetic`` for the container [container, end)."""
    root = page.nodes[container]
    network = network_blocked_nodes(root, url, rules)
    cosmetic = match_cosmetic_rules(root, root.html or "", url, rules).tops
    if not network and not cosmetic:
        return {}
    index_of = {page.nodes[i].mem_id: i for i in range(container, end)}
    marks: dict[int, str] = {}
    for reason, found in (("adblock_network", network), ("adblock_cosmetic", cosmetic)):
        for node in found:
            index = _recorded_index(node, index_of, root.mem_id)
            if index is not None:
                marks.setdefault(index, reason)
    return marks


def _recorded_index(node: LexborNode, index_of: dict[int, int], root_id: int) -> int | None:
    """The element index ``node`` marks (see the module docstring), or None."""
    index = index_of.get(node.mem_id)
    if index is not None:
        return index
    chars = visible_chars(node.text())
    ancestor = node.parent
    while ancestor is not None:
        index = index_of.get(ancestor.mem_id)
        if index is not None:
            return index if chars and visible_chars(ancestor.text()) == chars else None
        if ancestor.mem_id == root_id:
            return None
        ancestor = ancestor.parent
    return None
