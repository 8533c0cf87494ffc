"""The cleaning stage's public entry points: ``clean_html`` and ``clean_text``.

``clean_html`` runs, in order (each step's removals are reported under its name):

1. decode bytes (BOM / meta charset / UTF-8 with replacement; never raises), bound how deep elements
   nest (``nesting``: tags past 512 levels cut out, their text kept; counted in
   ``CleanResult.flattened_tags``) and parse;
2. scripts, styles, templates go (not reported: they are not text);
3. ``adblock_network``: links to ad hosts, if ``config.adblock_list`` is set;
4. ``adblock_cosmetic``: EasyList element-hiding rules, if ``config.adblock_list`` is set;
5. ``page_chrome``: ``config.drop_elements`` (extra CSS selectors; none by default);
6. the page's text as blocks (``blocks``), and the main-content decision over them
   (``main_content``): ``page_chrome``, ``comments``, ``boilerplate_markup``,
   ``outside_main_container``, ``link_dense`` (with a conservative fallback when too little is left);
7. the line filters of ``line_filters`` (C4 / FineWeb style), each under its own name.

Everything here is plain Python on one document; nothing knows about Ray. The adblock engine is
built lazily, once per process, from the list's location in the (picklable) config.
"""
from __future__ import annotations

from .ad_marks import ad_marks
from .adblock_filter import load_rules
from .blocks import page_blocks
from .config import CleanConfig, CleanResult
from .decode import decode_html
from .html_text import drop_elements, parse_html, remove_non_text
from .line_filters import apply_line_filters
from .main_content import SelectionParams, locate_main_content, select_main_blocks
from .nesting import bound_nesting
from .removals import RemovalLog

_DEFAULT_CONFIG = CleanConfig()


def clean_html(html: str | bytes, url: str | None = None, config: CleanConfig = _DEFAULT_CONFIG) -> CleanResult:
    """Main text of an HTML page with ads and boilerplate removed.

    html: the page, as text or as raw bytes (charset from BOM or meta tag, else UTF-8; bytes that
        do not decode become U+FFFD, so no input bytes make this fail).
    url: the page's URL; enables EasyList's site-specific rules and third-party checks.
    Returns a CleanResult whose ``text`` is '' if nothing is left; ``fallback`` names the broader
    selection used when the main content alone would have left (almost) nothing of a page that
    shows text.
    Raises AdblockListError if ``config.adblock_list`` cannot be loaded, HtmlParseError if the
    parser rejects the document.
    """
    text = decode_html(bytes(html)) if isinstance(html, (bytes, bytearray, memoryview)) else html
    log = RemovalLog()
    text, flattened = bound_nesting(text)  # parsing is quadratic in the depth (see nesting.py)
    tree = parse_html(text)
    remove_non_text(tree)
    body = tree.body
    if body is None:
        return CleanResult(text="", removals=(), flattened_tags=flattened)
    if config.drop_elements:
        drop_elements(body, config.drop_elements, log, "page_chrome")
    params = SelectionParams(config.container_share, config.guard_share, config.max_link_density, config.keep_comments)
    page = page_blocks(body)
    located = locate_main_content(page, params)
    extra = None
    if config.adblock_list is not None:
        extra = ad_marks(page, located.container, located.end, url, load_rules(config.adblock_list))
    selection = select_main_blocks(page, params, located, extra)
    for reason, chars in selection.removed.items():
        log.add(reason, chars)
    main_text = "\n".join(block.text for block in selection.kept)
    cleaned = apply_line_filters(main_text, config.line_filters, log)
    return CleanResult(text=cleaned, removals=log.as_tuple(), fallback=selection.fallback, flattened_tags=flattened)


def clean_text(text: str, config: CleanConfig = _DEFAULT_CONFIG) -> CleanResult:
    """Line filters only, for inputs that are already plain text (JSONL, WET).

    Returns the kept lines (stripped, blank runs collapsed) and the removals per filter.
    """
    log = RemovalLog()
    cleaned = apply_line_filters(text, config.line_filters, log)
    return CleanResult(text=cleaned, removals=log.as_tuple())
