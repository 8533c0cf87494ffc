"""Outgoing links of an HTML page (selectolax), resolved against the page URL or its ``<base href>``,
and which of them the page asks crawlers not to follow (``rel="nofollow"``, robots meta tags and the
``X-Robots-Tag`` header)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_SKIP_PREFIXES = ("javascript:", "mailto:", "tel:", "data:", "#")


# Directives of X-Robots-Tag that may carry a value after a colon, so "name: ..." is not an agent name.
_VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})


@dataclass
class PageLinks:
    """The links of one page a crawler may follow, and how many it was asked not to follow.

    ``follow`` holds what :func:`extract_links` returns minus the links marked ``rel="nofollow"``;
    it is empty when the page as a whole says ``nofollow`` (or ``none``) in a robots meta tag or an
    ``X-Robots-Tag`` header addressed to every crawler or to ``agent``. ``nofollow`` counts the links
    left out for either reason, so ``len(follow) + nofollow`` is the page's distinct links."""

    follow: list[str] = field(default_factory=list)
    nofollow: int = 0


def page_links(html: bytes, page_url: str, headers: Iterable[tuple[str, str]] = (), *,
               agent: str = "haybale") -> PageLinks:
    """The followable links of a page (see :class:`PageLinks`); ``headers`` are the response's."""
    tree = LexborHTMLParser(html)
    links = _links(tree, page_url)
    if _header_says_nofollow(headers, agent) or _meta_says_nofollow(tree, agent):
        return PageLinks([], len(links))
    follow = [url for url, rel_nofollow in links if not rel_nofollow]
    return PageLinks(follow, len(links) - len(follow))


def extract_links(html: bytes, page_url: str) -> list[str]:
    """Absolute http(s) URLs of ``<a href>`` links in document order, fragments dropped, duplicates kept once."""
    return [url for url, _ in _links(LexborHTMLParser(html), page_url)]


def _links(tree: LexborHTMLParser, page_url: str) -> list[tuple[str, bool]]:
    """(URL, marked rel=nofollow) of each distinct link; a URL linked both ways counts as followable."""
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        href = (base_node.attributes.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
    nofollow_of: dict[str, bool] = {}  # insertion order = document order
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_PREFIXES):
            continue
        try:
            url = urljoin(base, href).split("#", 1)[0]
        except ValueError:
            continue
        if url[:5].lower() not in ("http:", "https"):
            continue
        rel_nofollow = "nofollow" in (node.attributes.get("rel") or "").lower().split()
        nofollow_of[url] = nofollow_of.get(url, True) and rel_nofollow
    return list(nofollow_of.items())


def _says_nofollow(directives: str) -> bool:
    return any(d.strip() in ("nofollow", "none") for d in directives.lower().split(","))


def _meta_says_nofollow(tree: LexborHTMLParser, agent: str) -> bool:
    """True if a ``<meta name="robots"|"<agent>" content="...">`` says nofollow or none."""
    names = ("robots", agent.lower())
    for node in tree.css("meta[name]"):
        name = (node.attributes.get("name") or "").strip().lower()
        if name in names and _says_nofollow(node.attributes.get("content") or ""):
            return True
    return False


def _header_says_nofollow(headers: Iterable[tuple[str, str]], agent: str) -> bool:
    """True if an ``X-Robots-Tag`` header for every crawler or for ``agent`` says nofollow or none
    (``X-Robots-Tag: nofollow``, ``X-Robots-Tag: haybale: nofollow``; ``otherbot: nofollow`` is not ours)."""
    for name, value in headers:
        if name.lower() != "x-robots-tag":
            continue
        head, sep, rest = value.partition(":")
        head = head.strip().lower()
        if sep and " " not in head and "," not in head and head not in _VALUED_DIRECTIVES:
            if head != agent.lower():
                continue  # addressed to another crawler
            value = rest
        if _says_nofollow(value):
            return True
    return False


def in_domains(url: str, domains: tuple[str, ...]) -> bool:
    """True if the URL's host is one of ``domains`` or a subdomain of one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains)
