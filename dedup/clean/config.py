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
# Elements that hold page chrome, not article text (titles and captions are not article body).
DEFAULT_DROP_ELEMENTS: tuple[str, ...] = (
    "header", "nav", "footer", "aside", "figure", "figcaption", "h1",
)


@dataclass(frozen=True)
class CleanConfig:
    """Tunables of ``clean_html`` / ``clean_text``; the defaults are the ones tuned on aeb-dev.

    adblock_list: path or fsspec URL of an EasyList-format file (``.txt`` or ``.txt.gz``); None
        disables ad-blocking rules. The compiled engine is built lazily once per process and list.
    main_container_share: the main container is the deepest element holding at least this share
        of the page's non-empty ``<p>`` elements (0 < share <= 1; 1 keeps the whole body)...
    main_container_text_share: ...and at least this share of those paragraphs' text.
    min_container_text_share: keep the whole body instead when that container holds less than
        this share of the body's visible text (a page whose article is not in ``<p>`` elements,
        while its footer's are). On aeb-dev, real containers hold 22 % or more.
    drop_elements: CSS selectors of elements removed before text extraction (page chrome).
    main_content: apply the extractor's main-content heuristics (resiliparse) inside the container.
    keep_comments: keep user-comment sections.
    line_filters: names of the line filters to apply, in order (see ``line_filters``); an unknown
        name raises ValueError here.
    """

    adblock_list: str | None = None
    main_container_share: float = 0.8
    main_container_text_share: float = 0.5
    min_container_text_share: float = 0.1
    drop_elements: tuple[str, ...] = DEFAULT_DROP_ELEMENTS
    main_content: bool = True
    keep_comments: bool = False
    line_filters: tuple[str, ...] = DEFAULT_LINE_FILTERS

    def __post_init__(self) -> None:
        if not 0 < self.main_container_share <= 1:
            raise ValueError(
                f"CleanConfig.main_container_share={self.main_container_share!r} must be in (0, 1]"
            )
        for name in ("main_container_text_share", "min_container_text_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"CleanConfig.{name}={getattr(self, name)!r} must be in [0, 1]")
        check_filter_names(tuple(self.line_filters))


@dataclass(frozen=True)
class CleanResult:
    """Cleaned text of one document and what each filter removed.

    text: cleaned main text, lines joined by ``\\n`` ('' if nothing is left).
    removals: ``(filter name, characters removed)`` for each filter that removed something, in
        pipeline order. Characters are counted without whitespace (HTML layout whitespace means
        nothing), so the counts of different filters are comparable.
    """

    text: str
    removals: tuple[tuple[str, int], ...] = field(default=())
