"""Line-level filters in the style of C4 and FineWeb: each drops whole lines and has a name.

A line filter is a predicate over one stripped, non-empty line. ``apply_line_filters`` runs the
enabled filters in order; the first filter that matches a line removes it, and the line's
characters are counted under that filter's name. Blank lines survive (collapsed to one) so
paragraphs stay paragraphs.

Filters (``LINE_FILTERS``, in order):

ad_label            a line that is only an ad marker: "Advertisement", "Sponsored", "Story
                    continues below advertisement", "AdChoices", ...
sponsored_block     a short line introduced as an ad: "Sponsored: ...", "Promoted by ...", "Paid post"
cookie_notice       a cookie-consent prompt (mentions cookies with use/accept/consent/policy/...)
c4_policy           C4's rule: lines with "terms of use", "privacy policy", "cookie policy",
                    "uses cookies", "use of cookies" or "use cookies"
c4_javascript       C4's rule: lines that mention JavaScript ("This slideshow requires JavaScript.")
newsletter_prompt   a short subscribe / sign-up / "get it in your inbox" prompt
share_prompt        a short share / follow / "click here" prompt
media_credit        photo/image credits, captions carrying a \u00a9 agency credit, gallery counters
                    ("Photo: ... AP", "Image 1 of 23", "Source: ...")
date_line           a line that is only a date/time stamp ("October 9, 2018 at 4:02 pm")
byline              a short author line: "By Eric Song, IGN Staff", "written by Regan"
related_link        a link to another story: "Read more: ...", "Related post: ...", "Also on rt.com ..."
ui_label            a line that is only a navigation/interface label ("Read more", "Comments",
                    "You may also like...", "Close", "Related Articles")
c4_short_unpunctuated  C4's terminal-punctuation rule, restricted to short lines: fewer than
                    ``SHORT_LINE_WORDS`` words and no terminal punctuation (menus, link lists)
duplicate_line      a line of >= ``DUPLICATE_MIN_CHARS`` characters seen earlier in the document
                    (repeated captions and teasers; FineWeb counts such repetition)
"""
from __future__ import annotations

import re
from typing import Callable

from .removals import RemovalLog, visible_chars

SHORT_LINE_WORDS = 4
DUPLICATE_MIN_CHARS = 30
_PROMPT_MAX_CHARS = 250

LinePredicate = Callable[[str, str, str], bool]  # (stripped line, lower-case, lower without edge punctuation)

_EDGE_RE = re.compile(r"^[\W_]+|[\W_]+$")


def _core(lower: str) -> str:
    """The line without leading/trailing punctuation, bullets and brackets."""
    return _EDGE_RE.sub("", lower)


_AD_LABEL_RE = re.compile(
    r"(?:advertisements?|adverts?|ads?|sponsored(?: content| links?| stories| post)?|promoted(?: content| stories)?"
    r"|paid (?:content|post)|partner content|ad ?choices|skip ad|report (?:this )?ad"
    r"|(?:advertisement\W+)?(?:story|article|text|content) continues? (?:below|after)(?: this)?(?: advertisement| ad)?"
    r"|continue reading(?: the main story| below)?(?: advertisement)?|scroll (?:down )?to continue(?: with content)?"
    r"|advertisement\W+scroll to continue(?: with content)?)"
)
_SPONSORED_RE = re.compile(r"^(?:sponsored|promoted|paid post|advertisement|ad|partner)(?: by)?\s*[:|\u2013\u2014-]")
_COOKIE_RE = re.compile(r"\bcookies?\b.*\b(?:use|uses|using|accept|consent|polic|setting|agree|continu|brows|experience)"
                        r"|\b(?:use|uses|using|accept|consent|allow)\b.*\bcookies?\b")
_C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_NEWSLETTER_RE = re.compile(
    r"\b(?:subscribe|sign up|signup|sign-up|register)\b.*\b(?:newsletters?|inbox|e-?mails?|updates|alerts|issues)\b"
    r"|\bnewsletters?\b.*\b(?:subscribe|sign up|inbox)\b|\b(?:in|to|into|through) your (?:inbox|letterbox)\b"
    r"|^subscribe\b"
)
_SHARE_RE = re.compile(
    r"^(?:share|tweet|pin(?: it)?|email|e-mail|print|whatsapp|facebook|twitter|linkedin|reddit|flipboard)"
    r"(?: (?:this|it|on|via|article|story|page|post))*$"
    r"|\bshare (?:this|it)\b.*\b(?:with|on)\b|\bshare this (?:article|story|post|page)\b"
    r"|\bfollow (?:us|me|him|her|them) on\b|^follow\b.*\bon (?:facebook|twitter|instagram)\b"
    r"|\blike us on facebook\b|\bclick here\b|^sharing is caring$"
)
_MEDIA_CREDIT_RE = re.compile(
    r"^(?:photos?|images?|pictures?|videos?|credits?|illustrations?|graphics?|photo credit|image credit|source)\s*(?::|by\b)"
    r"|^(?:image|photo|slide) \d+ (?:of|/) ?\d*$|^\d+ (?:of|/) \d+$"
)
_BYLINE_RE = re.compile(r"(?:(?:written|posted|published|story|words|text|reporting) )?by [^.!?]{2,60}")
_RELATED_RE = re.compile(
    r"^(?:read more|read next|related(?: post| posts| article| articles| story| stories| content| reading)?"
    r"|see also|also read|read also|more on this|recommended|watch|listen|trending)\s*[:|\u2013\u2014-]\s*\S"
    r"|^also on [\w.-]+\.[a-z]{2,}\b"
)
_AGENCIES = ("getty images", "afp", "reuters", "associated press", "ap photo", "ap", "shutterstock", "istock", "bloomberg")
# Words without which the (slower) regexes of a filter cannot match: a substring test first.
_NEWSLETTER_KEYS = ("subscri", "sign", "regist", "newsletter", "inbox", "letterbox")
_SHARE_KEYS = ("share", "sharing", "tweet", "pin", "mail", "print", "whatsapp", "facebook", "twitter", "linkedin",
               "reddit", "flipboard", "follow", "like us", "click here")
_DATE_ANCHOR_RE = re.compile(
    r"\d:\d|\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|ago)\b|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
)
_DATE_WORDS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?"
    r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?|published|updated|posted|last updated|on|at|am|pm|a\.m|p\.m"
    r"|gmt|utc|est|edt|cst|cdt|pst|pdt|ist|bst|cet|et|pt|ago|hours?|minutes?|days?|mins?|hrs?"
)
_DATE_LINE_RE = re.compile(rf"(?:(?:{_DATE_WORDS})\b|\d+(?:st|nd|rd|th)?\b|[\s,.:/|\u2013\u2014-])+")
_UI_LABEL_RE = re.compile(
    r"(?:\d+ )?comments?|leave a (?:comment|reply)|reply|close|caption|expand|collapse|menu|search|home|next|previous|prev"
    r"|back to top|skip to (?:main )?content|read (?:more|full (?:article|story)|next|also|the full story)|also read"
    r"|see (?:more|all)|view (?:more|all|comments)|load more|show more|more|related(?: articles| stories| posts| content| topics)?"
    r"|recommended(?: for you| stories| articles)?|you (?:may|might) also (?:like|enjoy)|more (?:from|in|on|stories|news)(?: [\w' -]{1,40})?"
    r"|trending(?: now| stories)?|most (?:popular|read|viewed)|popular(?: stories| posts)?|all podcasts|podcasts?"
    r"|tags?|topics?|filed under|categories|sign in|log in|login|register|top rated comments|join the conversation"
    r"|about the author"
    r"|tell us what you think|latest(?: news| stories)?|watch(?: now| video)?|listen(?: now)?|play video"
)
_WORD_RE = re.compile(r"\w+")
_TERMINAL = (".", "!", "?", '"', "\u201d", "'", "\u2019", ":", ";", ")", "\u2026")


def _ad_label(line: str, lower: str, core: str) -> bool:
    return _AD_LABEL_RE.fullmatch(core) is not None


def _sponsored_block(line: str, lower: str, core: str) -> bool:
    return _SPONSORED_RE.match(lower) is not None


def _cookie_notice(line: str, lower: str, core: str) -> bool:
    return "cookie" in lower and _COOKIE_RE.search(lower) is not None


def _c4_policy(line: str, lower: str, core: str) -> bool:
    return any(s in lower for s in _C4_POLICY)


def _c4_javascript(line: str, lower: str, core: str) -> bool:
    return "javascript" in lower


def _newsletter_prompt(line: str, lower: str, core: str) -> bool:
    return any(k in lower for k in _NEWSLETTER_KEYS) and _NEWSLETTER_RE.search(lower) is not None


def _share_prompt(line: str, lower: str, core: str) -> bool:
    return any(k in lower for k in _SHARE_KEYS) and _SHARE_RE.search(core) is not None


def _media_credit(line: str, lower: str, core: str) -> bool:
    if _MEDIA_CREDIT_RE.search(core) is not None:
        return True
    if "\u00a9" in line and any(a in core for a in _AGENCIES if len(a) > 2):
        return True  # a caption with its credit: "A cyclist rides ... \u00a9 Reuters / D. Mercado"
    # "Name | Agency" credit lines; a sentence ending "... told Reuters." is not one.
    if line.endswith(_TERMINAL) or not core.endswith(_AGENCIES):
        return False
    agency = next(a for a in _AGENCIES if core.endswith(a))
    before = core[: -len(agency)].rstrip(" ")
    return not before or before[-1] in "|/\u00a9,"


def _byline(line: str, lower: str, core: str) -> bool:
    return _BYLINE_RE.fullmatch(core) is not None and len(_WORD_RE.findall(core)) <= 8


def _related_link(line: str, lower: str, core: str) -> bool:
    return _RELATED_RE.search(lower) is not None


def _date_line(line: str, lower: str, core: str) -> bool:
    return (_DATE_LINE_RE.fullmatch(lower) is not None and any(c.isdigit() for c in line)
            and _DATE_ANCHOR_RE.search(lower) is not None)


def _ui_label(line: str, lower: str, core: str) -> bool:
    return _UI_LABEL_RE.fullmatch(core) is not None


def _short_unpunctuated(line: str, lower: str, core: str) -> bool:
    return not line.endswith(_TERMINAL) and len(_WORD_RE.findall(line)) < SHORT_LINE_WORDS


_UNLIMITED = 1 << 62
# name -> (longest line the filter looks at, predicate); the length gate keeps article paragraphs
# (most lines by volume) away from the regexes.
LINE_FILTERS: dict[str, tuple[int, LinePredicate]] = {
    "ad_label": (80, _ad_label),
    "sponsored_block": (200, _sponsored_block),
    "cookie_notice": (400, _cookie_notice),
    "c4_policy": (_UNLIMITED, _c4_policy),
    "c4_javascript": (_UNLIMITED, _c4_javascript),
    "newsletter_prompt": (_PROMPT_MAX_CHARS, _newsletter_prompt),
    "share_prompt": (_PROMPT_MAX_CHARS, _share_prompt),
    "media_credit": (300, _media_credit),
    "date_line": (80, _date_line),
    "byline": (80, _byline),
    "related_link": (200, _related_link),
    "ui_label": (60, _ui_label),
    "c4_short_unpunctuated": (200, _short_unpunctuated),
}
DUPLICATE_LINE = "duplicate_line"
ALL_LINE_FILTERS: tuple[str, ...] = (*LINE_FILTERS, DUPLICATE_LINE)
def check_filter_names(names: tuple[str, ...]) -> None:
    """Raise ValueError naming any unknown filter in ``names``."""
    unknown = [n for n in names if n not in LINE_FILTERS and n != DUPLICATE_LINE]
    if unknown:
        raise ValueError(f"unknown line filter(s) {unknown}; known: {list(ALL_LINE_FILTERS)}")


def apply_line_filters(text: str, names: tuple[str, ...], log: RemovalLog) -> str:
    """Drop the lines that the named filters match; returns the kept lines joined by newlines.

    Leading/trailing whitespace of each line is removed, runs of blank lines become one blank line,
    and the result has no leading or trailing blank line. Raises ValueError on an unknown name.
    """
    check_filter_names(names)
    predicates = [(n, *LINE_FILTERS[n]) for n in names if n in LINE_FILTERS]
    gated_max = max((limit for _, limit, _ in predicates if limit != _UNLIMITED), default=0)
    ungated = [(n, limit, pred) for n, limit, pred in predicates if limit == _UNLIMITED]
    dedup = DUPLICATE_LINE in names
    seen: set[str] = set()
    kept: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if kept and kept[-1]:
                kept.append("")
            continue
        lower = line.lower()
        if len(line) <= gated_max:
            core = _core(lower)
            removed_by = next(
                (name for name, limit, pred in predicates if len(line) <= limit and pred(line, lower, core)), None
            )
        else:
            removed_by = next((name for name, _, pred in ungated if pred(line, lower, "")), None)
        if removed_by is None and dedup and len(line) >= DUPLICATE_MIN_CHARS:
            if line in seen:
                removed_by = DUPLICATE_LINE
            seen.add(line)
        if removed_by is None:
            kept.append(line)
        else:
            log.add(removed_by, visible_chars(line))
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)
