"""Outgoing links of an HTML page (selectolax), resolved against the page URL or its ``<base href>``."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_SKIP_PREFIXES = ("javascript:", "mailto:", "tel:", "data:", "#")


def extract_links(html: bytes, page_url: str) -> list[str]:
    """Absolute http(s) URLs of ``<a href>`` links in document order, fragments dropped, duplicates kept once."""
    tree = LexborHTMLParser(html)
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        href = (base_node.attributes.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
    seen: set[str] = set()
    out: list[str] = []
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_PREFIXES):
            continue
        try:
            url = urljoin(base, href).split("#", 1)[0]
        except ValueError:
            continue
        if url[:5].lower() not in ("http:", "https") or url in seen:
            continue
        seen.add(url)
        out.append(url)
    return out


def in_domains(url: str, domains: tuple[str, ...]) -> bool:
    """True if the URL's host is one of ``domains`` or a subdomain of one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains)
