"""Configuration and result types of the cleaning stage (frozen, picklable, printable)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .line_filters import check_filter_names

# The line filters on by default (all of ``line_filters.LINE_FILTERS`` except the two that cost
# more article text than they remove boilerplate on aeb-dev: c4_short_unpunctuated, duplicate_line).
DEFAULT_LINE_FILTERS: tuple[str, ...] = (
    "ad_label", "sponsored_block", "cookie_notice", "c4_policy", "c4_javascript", "newsletter_prompt",
    "share_prompt", "media_credit", "date_line", "byline", "related_link", "ui_label",
)


@dataclass(frozen=True)
class CleanConfig:
    """Tunables of ``clean_html`` / ``clean_text``; the defaults are the ones tuned on the tune halves
    of tfeval-dev and aeb-dev (bench/dedup_clean.py).

    adblock_list: path or fsspec URL of an EasyList-format file (``.txt`` or ``.txt.gz``); None
        disables ad-blocking rules. The compiled engine is built lazily once per process and list.
    container_share: the main container is the deepest element holding at least this share of the
        page's prose (0 < share <= 1; see ``main_content``).
    guard_share: a markup hint (class "comments", "related", a ``<nav>``, ...) is not believed for
        an element holding at least this share of the page's prose (0 < share <= 1).
    max_link_density: blocks with more than this share of link text are removed as ``link_dense``.
    drop_elements: extra CSS selectors of elements removed before text extraction (``page_chrome``);
        header, nav, footer, aside, figure and h1 are page chrome already (``markup_hints``).
    keep_comments: keep user-comment sections.
    line_filters: names of the line filters to apply, in order (see ``line_filters``); an unknown
        name raises ValueError here.
    """

    adblock_list: str | None = None
    container_share: float = 0.9
    guard_share: float = 0.5
    max_link_density: float = 0.5
    drop_elements: tuple[str, ...] = ()
    keep_comments: bool = False
    line_filters: tuple[str, ...] = DEFAULT_LINE_FILTERS

    def __post_init__(self) -> None:
        for name in ("container_share", "guard_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"CleanConfig.{name}={getattr(self, name)!r} must be in (0, 1]")
        if not 0 <= self.max_link_density <= 1:
            raise ValueError(f"CleanConfig.max_link_density={self.max_link_density!r} must be in [0, 1]")
        check_filter_names(tuple(self.line_filters))


@dataclass(frozen=True)
class CleanResult:
    """Cleaned text of one document and what each filter removed.

    text: cleaned main text, lines joined by ``\\n`` ('' if nothing is left).
    removals: ``(filter name, characters removed)`` for each filter that removed something, in
        pipeline order. Characters are counted without whitespace (HTML layout whitespace means
        nothing), so the counts of different filters are comparable.
    fallback: None when the main-content selection kept enough text; otherwise the name of the
        broader selection used so that a real page does not vanish (``main_content``):
        ``page_blocks`` or ``visible_text``.
    flattened_tags: how many tags of elements nested deeper than 512 levels were cut out before
        parsing (their text kept; ``nesting``): 0 for any normal page.
    """

    text: str
    removals: tuple[tuple[str, int], ...] = field(default=())
    fallback: str | None = None
    flattened_tags: int = 0

