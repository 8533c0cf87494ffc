"""The cleaning stage's public entry points: ``clean_html`` and ``clean_text``.

``clean_html`` runs, in order (each step's removals are reported under its name):

1. decode bytes (BOM / meta charset / UTF-8 with replacement; never raises) and parse;
2. scripts, styles, templates go (not reported: they are not text);
3. ``outside_main_container``: everything outside the element holding most paragraphs;
4. ``adblock_network``: links to ad hosts, if ``config.adblock_list`` is set;
5. ``page_chrome``: ``config.drop_elements`` (header, nav, footer, aside, figure, h1, ...);
6. ``adblock_cosmetic``: EasyList element-hiding rules, if ``config.adblock_list`` is set;
7. ``main_content_heuristics``: resiliparse's main-content and comment removal while rendering;
8. the line filters of ``line_filters`` (C4 / FineWeb style), each under its own name.

Everything here is plain Python on one document; nothing knows about Ray. The adblock engine is
built lazily, once per process, from the list's location in the (picklable) config.
"""
from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .adblock_filter import apply_network_rules, load_rules, match_cosmetic_rules
from .config import CleanConfig, CleanResult
from .removals import RemovalLog, visible_chars
from .decode import decode_html
from .html_text import (
    SkipSelectorError,
    decompose_all,
    drop_elements,
    find_main_container,
    parse_html,
    remove_non_text,
    render_text,
)
from .line_filters import apply_line_filters

_DEFAULT_CONFIG = CleanConfig()


def clean_html(html: str | bytes, url: str | None = None, config: CleanConfig = _DEFAULT_CONFIG) -> CleanResult:
    """Main text of an HTML page with ads and boilerplate removed.

    html: the page, as text or as raw bytes (charset from BOM or meta tag, else UTF-8; bytes that
        do not decode become U+FFFD, so no input bytes make this fail).
    url: the page's URL; enables EasyList's site-specific rules and third-party checks.
    Returns a CleanResult whose ``text`` is '' if nothing is left.
    Raises AdblockListError if ``config.adblock_list`` cannot be loaded, HtmlParseError if the
    parser rejects the document.
    """
    text = decode_html(bytes(html)) if isinstance(html, (bytes, bytearray, memoryview)) else html
    log = RemovalLog()
    tree = parse_html(text)
    remove_non_text(tree)
    root = _main_root(tree, config, log)
    if root is None:
        return CleanResult(text="", removals=())
    rendered = _render_without_ads_and_chrome(root, url, config, log)
    cleaned = apply_line_filters(rendered, config.line_filters, log)
    return CleanResult(text=cleaned, removals=log.as_tuple())


def _main_root(tree: LexborHTMLParser, config: CleanConfig, log: RemovalLog) -> LexborNode | None:
    """The main container, or the body if there is none (or it holds too little of the text)."""
    body = tree.body
    if body is None:
        return None
    container = find_main_container(tree, config.main_container_share, config.main_container_text_share)
    if container is None:
        return body
    body_chars = visible_chars(body.text())
    container_chars = visible_chars(container.text())
    if container_chars < config.min_container_text_share * body_chars:
        return body
    log.add("outside_main_container", body_chars - container_chars)
    return container


def _render_without_ads_and_chrome(root: LexborNode, url: str | None, config: CleanConfig, log: RemovalLog) -> str:
    """Steps 4-7: EasyList rules and page chrome out of ``root``, then render it to text."""
    rules = load_rules(config.adblock_list) if config.adblock_list is not None else None
    if rules is not None:
        apply_network_rules(root, url, rules, log)
    drop_elements(root, config.drop_elements, log, "page_chrome")
    root_html = root.html or ""
    visible = visible_chars(root.text())
    cosmetic = match_cosmetic_rules(root, root_html, url, rules) if rules is not None else None
    skip_selector = None
    if cosmetic is not None:
        log.add("adblock_cosmetic", cosmetic.chars)
        visible -= cosmetic.chars
        if cosmetic.tops and cosmetic.protected == 0:
            skip_selector = cosmetic.selector  # removed while rendering: no second serialization
        elif cosmetic.tops:
            decompose_all(cosmetic.tops)
            root_html = root.html or ""
    is_document = root.tag in ("body", "html")
    try:
        rendered = render_text(root_html, is_document, config.main_content, config.keep_comments, skip_selector)
    except SkipSelectorError:
        if cosmetic is not None:  # always set: only a cosmetic selector is ever skipped
            decompose_all(cosmetic.tops)
        rendered = render_text(root.html or "", is_document, config.main_content, config.keep_comments)
    log.add("main_content_heuristics", visible - visible_chars(rendered))
    return rendered


def clean_text(text: str, config: CleanConfig = _DEFAULT_CONFIG) -> CleanResult:
    """Line filters only, for inputs that are already plain text (JSONL, WET).

    Returns the kept lines (stripped, blank runs collapsed) and the removals per filter.
    """
    log = RemovalLog()
    cleaned = apply_line_filters(text, config.line_filters, log)
    return CleanResult(text=cleaned, removals=log.as_tuple())
