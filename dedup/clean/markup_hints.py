"""What an element's markup says about its content: page chrome, comments, other boilerplate.

Publishers name their boxes: ``<div class="related-posts">``, ``<section id="comments">``,
``<ul class="share-buttons">``. This module reads an element's tag, ``class``, ``id``, ``role`` and
``itemprop`` and returns flags (a small int):

``CHROME``       a page-chrome tag or landmark role: header, nav, footer, aside, figure, h1, and
                 role=navigation / banner / contentinfo / complementary / search / dialog / menu
``COMMENTS``     user comments and the reply form (class/id words starting with comment, disqus,
                 respond, reply; itemprop=comment)
``BOILERPLATE``  other named boilerplate: sharing, related / recommended links, sidebars and
                 widgets, menus and breadcrumbs, cookie / newsletter / paywall boxes, author boxes,
                 captions and credits, tags and categories, post meta, ad slots, screen-reader-only
                 text
``HIDDEN``       not rendered: ``hidden``, ``aria-hidden="true"``, inline ``display:none`` /
                 ``visibility:hidden``

Words are read the way people write class names: ``relatedPosts``, ``related-posts`` and
``related_posts`` all give the word "related". A word matches a boilerplate term when it starts
with the term ("commentlist" is a comment word), so compounds count too; only whole words count,
so "research" never reads as "search". Flags are hints: the extractor decides whether to believe
them (an element flagged boilerplate that holds most of the page's prose is the page's content).
No term names a site.
"""
from __future__ import annotations

import re

CHROME = 1
COMMENTS = 2
BOILERPLATE = 4
HIDDEN = 8

CHROME_TAGS = frozenset({"header", "nav", "footer", "aside", "figure", "figcaption", "h1"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog",
                           "alertdialog", "menu", "menubar", "toolbar"})
# Words starting with one of these mark comments.
_COMMENT_PREFIXES = ("comment", "disqus", "respond", "reply", "replies", "kommentar")
# Words starting with one of these mark other boilerplate.
_BOILERPLATE_PREFIXES = (
    "share", "sharing", "social", "sociable", "related", "recommend", "sidebar", "breadcrumb",
    "pagination", "pager", "menu", "navbar", "navigation", "subnav", "offcanvas", "footer", "colophon",
    "cookie", "consent", "gdpr", "newsletter", "subscri", "signup", "paywall", "login", "modal", "popup",
    "promo", "sponsor", "advert", "trending", "outbrain", "taboola", "author", "byline",
    "caption", "credit", "tagcloud", "taglist", "categor", "meta", "rating", "toolbar", "breadcrumbs",
    "skiplink", "masthead", "banner", "lightbox", "carousel", "slideshow", "newsticker",
    "morestories", "mostread", "mostpopular", "popular", "tooltip",
)
# Whole words that mark boilerplate (too short or too common to match as prefixes).
_BOILERPLATE_WORDS = frozenset({
    "nav", "tags", "tag", "ad", "ads", "adslot", "adunit", "hidden", "invisible", "search", "searchform",
    "dateline", "timestamp", "date", "toc", "noprint",
})
# Adjacent word pairs that mark boilerplate ("sr only", "screen reader text", "visually hidden").
_BOILERPLATE_PAIRS = frozenset({("sr", "only"), ("screen", "reader"), ("visually", "hidden"),
                                ("more", "stories"), ("most", "read"), ("you", "may"), ("also", "like"),
                                ("skip", "link"), ("skip", "to"), ("widget", "area"), ("no", "print"), ("post", "nav"), ("site", "info")})

_TAXONOMY_HEADS = frozenset({"tag", "category", "categories", "cat", "author", "format", "comments"})
_BOX_WORDS = frozenset({"list", "links", "cloud", "box", "wrapper", "wrap", "container", "area", "section", "nav",
                        "block", "widget", "items", "item", "title", "label", "meta", "bar", "info", "bio", "avatar",
                        "name", "description", "profile", "details", "form", "respond", "reply",
                        "count", "header", "footer", "content", "body", "text", "thread", "link"})
_WORD_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Class strings, ids and inline styles repeat across a site's pages (templates), tokens across sites:
# each cache maps a string to what it gives, and is emptied whole when full.
_CLASS_CACHE: dict[str, int] = {}
_ID_CACHE: dict[str, int] = {}
_STYLE_CACHE: dict[str, bool] = {}
_TOKEN_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 200_000


def _trie_pattern(terms: set[str]) -> str:
    """One regex matching any of ``terms``, factored by common prefixes (Python's engine tries the
    branches of a flat alternation one by one at every position; a trie tries a few)."""
    if "" in terms:
        rest = _trie_pattern({t for t in terms if t}) if len(terms) > 1 else ""
        return f"(?:{rest})?" if rest else ""
    groups: dict[str, set[str]] = {}
    for term in terms:
        groups.setdefault(term[0], set()).add(term[1:])
    branches = [re.escape(first) + _trie_pattern(tails) for first, tails in sorted(groups.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


# Every term, as a substring: a class string or token without any of them needs no closer look.
_ANY_TERM_RE = re.compile(_trie_pattern(
    {*_COMMENT_PREFIXES, *_BOILERPLATE_PREFIXES, *_BOILERPLATE_WORDS, *(a for a, _ in _BOILERPLATE_PAIRS)}))
_NO_DIGITS = str.maketrans("123456789", "000000000")
_OTHER_KEYS = frozenset({"role", "itemprop", "style", "hidden", "aria-hidden"})


def words(text: str) -> list[str]:
    """Lower-case words of a class/id string, camelCase and separators split."""
    return [w.lower() for w in _WORD_RE.findall(text)]


def _is_taxonomy_label(token: str) -> bool:
    """A class token that labels what a post is about ("tag-elections", "category-news"), as CMSs
    put on the article itself, rather than naming a box of tags."""
    head, _, rest = token.lower().partition("-")
    return head in _TAXONOMY_HEADS and bool(rest) and rest.split("-")[0] not in _BOX_WORDS


def _words_flags(text: str) -> int:
    """Flags of one class or id string: the union of its tokens' flags."""
    if _ANY_TERM_RE.search(text.lower().replace("-", "").replace("_", "")) is None:
        return 0
    flags = 0
    for token in text.split():
        key = token.translate(_NO_DIGITS)  # "comment-4711" and "comment-8150" are one token for the cache
        token_flags = _TOKEN_CACHE.get(key)
        if token_flags is None:
            token_flags = _token_flags(key)
            if len(_TOKEN_CACHE) >= _CACHE_LIMIT:
                _TOKEN_CACHE.clear()
            _TOKEN_CACHE[key] = token_flags
        flags |= token_flags
    return flags


def _token_flags(token: str) -> int:
    """Flags of one class token or id (cached by the caller: tokens recur within and across pages)."""
    lowered = token.lower().replace("-", "").replace("_", "")
    if _ANY_TERM_RE.search(lowered) is None or _is_taxonomy_label(token):
        return 0  # most tokens ("row", "col-md-8", "clearfix") hold no term at all
    found = words(token)
    joined = "".join(found)  # the token read as one word too: "news-letter-box" starts with "newsletter"
    if joined not in found:
        found.append(joined)
    flags = 0
    for word in found:
        if word.startswith(_COMMENT_PREFIXES):
            flags |= COMMENTS
        elif word in _BOILERPLATE_WORDS or word.startswith(_BOILERPLATE_PREFIXES):
            flags |= BOILERPLATE
    if not flags & BOILERPLATE and any((a, b) in _BOILERPLATE_PAIRS for a, b in zip(found, found[1:])):
        flags |= BOILERPLATE
    return flags


def element_flags(tag: str, attributes: dict[str, str | None]) -> int:
    """Flags of one element (0 for most): see the module docstring."""
    names = attributes.get("class")
    ident = attributes.get("id")
    flags = CHROME if tag in CHROME_TAGS else 0
    if names:
        class_flags = _CLASS_CACHE.get(names)
        if class_flags is None:
            class_flags = _words_flags(names)
            if len(_CLASS_CACHE) >= _CACHE_LIMIT:
                _CLASS_CACHE.clear()
            _CLASS_CACHE[names] = class_flags
        flags |= class_flags
    if ident:
        id_flags = _ID_CACHE.get(ident)
        if id_flags is None:
            id_flags = _words_flags(ident)
            if len(_ID_CACHE) >= _CACHE_LIMIT:
                _ID_CACHE.clear()
            _ID_CACHE[ident] = id_flags
        flags |= id_flags
    if len(attributes) > (names is not None) + (ident is not None) and not _OTHER_KEYS.isdisjoint(attributes):
        flags |= _other_attribute_flags(attributes)
    return flags


def _other_attribute_flags(attributes: dict[str, str | None]) -> int:
    """Flags from role, itemprop, hidden, aria-hidden and style."""
    flags = 0
    role = attributes.get("role")
    if role and role.lower() in _CHROME_ROLES:
        flags |= CHROME
    itemprop = attributes.get("itemprop")
    if itemprop:
        lowered = itemprop.lower()
        if lowered.startswith("comment"):
            flags |= COMMENTS
        elif lowered in ("author", "creator", "publisher", "keywords", "breadcrumb"):
            flags |= BOILERPLATE
    style = attributes.get("style")
    if "hidden" in attributes or attributes.get("aria-hidden") == "true" or (style and _hides(style)):
        flags |= HIDDEN
    return flags


def _hides(style: str) -> bool:
    """Whether an inline style hides its element (cached: a regex search costs microseconds)."""
    hidden = _STYLE_CACHE.get(style)
    if hidden is None:
        hidden = _HIDDEN_STYLE_RE.search(style) is not None
        if len(_STYLE_CACHE) >= _CACHE_LIMIT:
            _STYLE_CACHE.clear()
        _STYLE_CACHE[style] = hidden
    return hidden
