"""EasyList rules (the ``adblock`` package) applied to a parsed page.

Two kinds of rules remove text:

* cosmetic (element-hiding) rules, reported as ``adblock_cosmetic``:
  - generic ``##.class`` / ``###id`` rules, chosen by the classes and ids present in the page
    (``Engine.hidden_class_id_selectors``: the bulk of EasyList);
  - host-specific rules (``example.com##...``), from ``Engine.url_cosmetic_resources``;
  - generic complex selectors (``##div[id^="div-gpt-"]``, ``##a[href^="https://ad.host/"]``),
    screened by ``adblock_screen`` so only those that can match are queried.
* network rules, reported as ``adblock_network``: links to third-party URLs EasyList blocks, with
  their parent when the link is all the parent holds (a "sponsored" teaser box); links inside
  running text are left alone.

An element that holds the article is never removed (``html_text.holds_article``: half of the
container's paragraphs, or three or more prose-length ones): a generic rule that matches an
article's wrapper must not empty the page.

The engine is compiled once per process and list (``load_rules``), never pickled: ``CleanConfig``
carries only the list's location, so configs travel to Ray workers freely.
"""
from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import re
from dataclasses import dataclass
from typing import IO

import adblock
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from .adblock_screen import GenericSelectorIndex, PageFeatures
from .errors import AdblockListError
from .html_text import paragraph_count, top_nodes
from .removals import visible_chars

_GENERIC_PROBE_URL = "https://generic-probe.invalid/"
_HOST_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?([^/?#:]+)")
_PROTECTED_SHARE = 0.5


class AdblockRules:
    """A compiled EasyList engine plus the per-process caches that make it cheap per page."""

    def __init__(self, engine: adblock.Engine, source: str, cosmetic_domains: frozenset[str]) -> None:
        self.engine = engine
        self.source = source
        self._cosmetic_domains = cosmetic_domains
        self._probe = LexborHTMLParser("<p></p>")
        self._valid: dict[str, bool] = {}
        generic = engine.url_cosmetic_resources(_GENERIC_PROBE_URL)
        self._generic_selectors = frozenset(generic.hide_selectors)
        self._generic_index = GenericSelectorIndex()
        for selector in sorted(self._generic_selectors):
            if self.is_valid(selector):
                self._generic_index.add(selector)

    def is_valid(self, selector: str) -> bool:
        """Whether lexbor parses ``selector`` (EasyList has extended syntax such as ``:-abp-has``)."""
        known = self._valid.get(selector)
        if known is None:
            try:
                self._probe.css(selector)
                known = True
            except SelectolaxError:
                known = False
            self._valid[selector] = known
        return known

    @functools.lru_cache(maxsize=4096)
    def host_resources(self, host: str) -> tuple[tuple[str, ...], frozenset[str]]:
        """(host-specific hide selectors, exceptions) for ``host``; cached per host.

        Hosts that no rule names (the vast majority) skip the engine call (~0.2 ms).
        """
        labels = host.split(".")
        if not any(".".join(labels[i:]) in self._cosmetic_domains for i in range(len(labels))):
            return (), frozenset()
        res = self.engine.url_cosmetic_resources(f"https://{host}/" if host else _GENERIC_PROBE_URL)
        specific = tuple(s for s in res.hide_selectors if s not in self._generic_selectors)
        return specific, frozenset(res.exceptions)

    @functools.lru_cache(maxsize=65536)
    def blocks_link(self, target: str, source: str) -> bool:
        """Whether network rules block a link to ``target`` on the page ``source``; cached, since the
        same share, tracker and ad links recur on page after page (an engine call costs ~10 us)."""
        return bool(self.engine.check_network_urls(target, source, "other").matched)

    def page_selector(self, html: str, host: str) -> str:
        """One comma-joined selector of every cosmetic rule that may match in ``html`` ('' if none)."""
        specific, exceptions = self.host_resources(host)
        page = PageFeatures.of(html)
        selectors = list(self.engine.hidden_class_id_selectors(list(page.classes), list(page.ids), set(exceptions)))
        selectors.extend(specific)
        selectors.extend(self._generic_index.candidates(page))
        return ", ".join(dict.fromkeys(s for s in selectors if s not in exceptions and self.is_valid(s)))


@functools.lru_cache(maxsize=4)
def load_rules(list_url: str) -> AdblockRules:
    """Compile the EasyList at ``list_url`` (.txt or .txt.gz, any fsspec URL), once per process.

    Raises AdblockListError if the file cannot be read or holds no rules.
    """
    try:
        with _open_text(list_url) as f:
            text = f.read()
    except (OSError, ValueError, EOFError) as exc:
        raise AdblockListError(
            f"cannot read adblock list {list_url!r}: {exc}; pass an EasyList .txt or .txt.gz path/URL"
        ) from exc
    if not any(line.strip() and not line.startswith(("!", "[")) for line in text.splitlines()):
        raise AdblockListError(f"adblock list {list_url!r} holds no rules; is it an EasyList file?")
    filters = adblock.FilterSet()
    filters.add_filter_list(text)
    return AdblockRules(adblock.Engine(filters, optimize=True), list_url, _cosmetic_rule_domains(text))


_LOCAL_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _open_text(list_url: str) -> IO[str]:
    """The list as text, decompressed by its name: local files with the standard library (no fsspec
    import at start-up), other URLs through fsspec."""
    if "://" not in list_url or list_url.startswith("file://"):
        path = list_url.removeprefix("file://")
        suffix = path[path.rfind("."):].lower() if "." in path else ""
        opener = _LOCAL_OPENERS.get(suffix, open)
        return opener(path, "rt", encoding="utf-8", errors="replace")  # type: ignore[no-any-return,operator]
    import fsspec

    return fsspec.open(list_url, "rt", compression="infer", encoding="utf-8", errors="replace").open()


_COSMETIC_SEPARATOR_RE = re.compile(r"#[@?$%]*#")


def _cosmetic_rule_domains(text: str) -> frozenset[str]:
    """Domains named by host-specific cosmetic rules and exceptions (``a.com,~b.a.com##...``)."""
    domains: set[str] = set()
    for line in text.splitlines():
        match = _COSMETIC_SEPARATOR_RE.search(line)
        if match is None or match.start() == 0 or line.startswith("!"):
            continue
        for domain in line[: match.start()].split(","):
            domain = domain.strip().lstrip("~").lower()
            if domain:
                domains.add(domain)
    return frozenset(domains)


def _host(url: str | None) -> str:
    """Lower-case host of an absolute URL ('' if there is none); a regex, since urlsplit costs
    ~10 us and a page has hundreds of links."""
    match = _HOST_RE.match(url) if url else None
    return match.group(1).lower() if match else ""


def _site(host: str) -> str:
    """Last two labels of a host: a cheap stand-in for the registrable domain."""
    return ".".join(host.rsplit(".", 2)[-2:])


@dataclass
class CosmeticMatches:
    """Elements under a root that element-hiding rules remove.

    selector: the comma-joined selector of every rule that may match ('' if none).
    tops: the matched elements to remove (none inside another; protected ones left out).
    chars: visible characters under ``tops``.
    protected: how many matches were kept because they hold the article (then ``selector`` alone
        would remove too much, and the caller must remove ``tops`` itself).
    """

    selector: str
    tops: list[LexborNode]
    chars: int
    protected: int


def match_cosmetic_rules(root: LexborNode, html: str, page_url: str | None, rules: AdblockRules) -> CosmeticMatches:
    """Find (without removing) the elements under ``root`` that EasyList element-hiding rules hide.

    ``html`` must be ``root``'s current serialization. What to do with ``matches.tops`` is the
    caller's (``ad_marks`` turns them into marks on the page's blocks).
    """
    selector = rules.page_selector(html, _host(page_url))
    if not selector:
        return CosmeticMatches("", [], 0, 0)
    try:
        found = root.css(selector)
    except SelectolaxError:  # every part was validated alone; a combination lexbor rejects is a bug there
        return CosmeticMatches("", [], 0, 0)
    tops, protected = top_nodes(found, _PROTECTED_SHARE * paragraph_count(root))
    return CosmeticMatches(selector, tops, sum(visible_chars(n.text()) for n in tops), protected)


def network_blocked_nodes(root: LexborNode, page_url: str | None, rules: AdblockRules) -> list[LexborNode]:
    """Nodes under ``root`` that network rules remove (``adblock_network``), without removing them.

    Only links are checked: images, frames and embeds carry no text into the output (alt texts
    are off), so removing them would change nothing but the time spent. A blocked link that is
    all its parent holds goes with the parent (a sponsored teaser box); one inside running text
    stays (see below).
    """
    source = page_url or _GENERIC_PROBE_URL
    page_site = _site(_host(page_url))
    scheme = "http" if source.startswith("http:") else "https"
    blocked: list[LexborNode] = []
    for node in root.css("a[href]"):
        target = (node.attributes.get("href") or "").strip()
        if target.startswith("//"):
            target = f"{scheme}:{target}"
        elif not target.startswith(("http://", "https://")):
            continue  # relative: first-party
        if _site(_host(target)) == page_site:
            continue  # EasyList's link-borne ads are on ad hosts, not the page's own site
        if not rules.blocks_link(target, source):
            continue
        parent = node.parent
        if parent is None or parent.mem_id == root.mem_id:
            blocked.append(node)
        elif visible_chars(parent.text()) == visible_chars(node.text()):
            blocked.append(parent)
        # else: an inline link inside running text (an affiliate link in a sentence); cutting its
        # words out would garble the sentence, and the text around it is the article's.
    if not blocked:
        return []
    tops, _ = top_nodes(blocked, _PROTECTED_SHARE * paragraph_count(root))
    return tops
