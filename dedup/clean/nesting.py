"""A bound on how deep a page's elements nest, applied to the HTML before it is parsed.

Why: lexbor's tree builder looks through the stack of open elements for a ``<p>`` at each block
start tag (the HTML standard's "has a p element in button scope"), so a page of n nested ``<div>``\\ s
costs O(n²): 16,000 took 1.4 s to parse, 32,000 took 6.8 s, 100,000 took ~175 s (measured). A
crawl can hold such a page. Browsers bound the depth the same way (Blink: 512 levels).

Contract: :func:`bound_nesting` returns the page unchanged (the same string) unless it holds more
than ``SCAN_FROM`` tags and its elements would nest deeper than ``max_depth``; then the start and end tags of the elements that
would open deeper than that are cut out, so their content joins the element at the bound. Text is
never removed: only tags go, and the number cut is returned so the page can be reported.

The depth is that of a simple model of the tree builder, over the page's tags (comments and the
content of ``<script>``, ``<style>``, ``<textarea>`` ... skipped): a start tag of an element that
is not void opens it; an end tag closes the most recent open element of its name and every
element opened after it (an end tag that matches nothing is ignored); a ``<p>``, ``<li>``, ``<a>``
... start tag first closes an open element of its own name, and a block start tag an open ``<p>``,
as the tree builder does. Normal pages stay far below the bound (the deepest of the 275 pages of
the aeb-dev and tfeval-dev sets models under 100), so their cleaning does not change.
"""
from __future__ import annotations

import re
from typing import Iterator

MAX_DEPTH = 512
# Pages with at most this many "<" are not looked at: however deep they nest, lexbor parses them in
# ~0.1 s (4,000 nested <div>s, measured), and the model's scan costs ~40 % of the cleaning time of a
# page, so it runs only on the few big pages (7 of the 275 dev pages; the median has 1,440 "<").
SCAN_FROM = 4096

_TAG = re.compile(r"<(?:(/?)([A-Za-z][^\s/>]*)|!--)")  # one literal "<" first: re searches for it fast
_RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes noscript plaintext".split())
_RAW_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _RAW_TEXT}
_VOID = frozenset("area base basefont bgsound br col embed frame hr image img input keygen link meta param "
                  "source track wbr".split())
# a start tag of one of these closes an open element of the same name (approximately as the tree
# builder does: <p> in button scope, <li> in list item scope, the adoption agency for <a>, ...)
_SELF_CLOSING_NAME = frozenset("p li dt dd option optgroup tr td th thead tbody tfoot rb rt rtc rp a button "
                               "nobr form caption colgroup".split())
# a start tag of one of these closes an open <p> ("close a p element")
_CLOSES_P = frozenset("address article aside blockquote center details dialog dir div dl fieldset figcaption "
                      "figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu nav ol p pre search "
                      "section summary table ul xmp".split())
_DOCUMENT = frozenset(("html", "head", "body"))


class _Stack:
    """Open elements by name, with O(1) "is one of this name open" (a count per name)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.open: dict[str, int] = {}

    def push(self, name: str) -> None:
        self.names.append(name)
        self.open[name] = self.open.get(name, 0) + 1

    def close(self, name: str) -> bool:
        """Close the most recent open ``name`` and everything opened after it; False if none is open."""
        if not self.open.get(name):
            return False
        while True:
            top = self.names.pop()
            self.open[top] -= 1
            if top == name:
                return True


def bound_nesting(html: str, max_depth: int = MAX_DEPTH) -> tuple[str, int]:
    """``html`` with the tags of the elements opened deeper than ``max_depth`` cut out, and how many
    tags were cut (0: ``html`` itself is returned). See the module docstring."""
    if html.count("<") <= max(max_depth, SCAN_FROM):  # cheap: most pages stop here (see SCAN_FROM)
        return html, 0
    if _max_depth(html) <= max_depth:
        return html, 0
    return _flatten(html, max_depth)


def _open_tag(stack: _Stack, name: str) -> None:
    if name in _SELF_CLOSING_NAME:
        stack.close(name)
    if name in _CLOSES_P:
        stack.close("p")


def _tags(html: str) -> Iterator[tuple[int, int, bool, str]]:
    """(start, end, is an end tag, lower-case name) of each tag that opens or closes an element in the
    model (void and document elements left out), comments and raw text (a script's) skipped."""
    skip = 0
    for match in _TAG.finditer(html):
        if match.start() < skip:
            continue
        raw_name = match.group(2)
        if raw_name is None:  # a comment
            end = html.find("-->", match.end())
            skip = len(html) if end < 0 else end + 3
            continue
        name = raw_name.lower()
        if name in _VOID or name in _DOCUMENT:
            continue
        closing = bool(match.group(1))
        if not closing and name in _RAW_TEXT:  # its content is text, whatever it holds
            found = _RAW_END[name].search(html, match.end())
            skip = len(html) if found is None else found.end()
        yield match.start(), match.end(), closing, name


def _max_depth(html: str) -> int:
    """The deepest the model's stack of open elements gets (see the module docstring)."""
    stack = _Stack()
    deepest = 0
    for _, _, closing, name in _tags(html):
        if closing:
            stack.close(name)
            continue
        _open_tag(stack, name)
        stack.push(name)
        if len(stack.names) > deepest:
            deepest = len(stack.names)
    return deepest


def _flatten(html: str, max_depth: int) -> tuple[str, int]:
    """The model run again, cutting out each start tag that would open past ``max_depth`` and the end
    tag that closes it. Elements cut out are kept on a stack of their own, above the kept ones."""
    kept, cut_open = _Stack(), _Stack()
    pieces: list[str] = []
    at = cut = 0
    for start, end, closing, name in _tags(html):
        drop = False
        if closing:  # an end tag: of a cut element first (they are the innermost)
            if cut_open.close(name):
                drop = True
            elif kept.open.get(name):
                cut_open = _Stack()
                kept.close(name)
        else:
            if name in _SELF_CLOSING_NAME and not cut_open.close(name) and kept.open.get(name):
                cut_open = _Stack()
                kept.close(name)
            if name in _CLOSES_P and not cut_open.close("p") and kept.open.get("p"):
                cut_open = _Stack()
                kept.close("p")
            if len(kept.names) >= max_depth:
                cut_open.push(name)
                drop = True
            else:
                kept.push(name)
        if drop:  # the whole tag, to its ">" (a ">" in a quoted attribute value ends it early)
            close = html.find(">", end)
            pieces.append(html[at:start])
            at = len(html) if close < 0 else close + 1
            cut += 1
    pieces.append(html[at:])
    return "".join(pieces), cut
