"""Cheap screening of EasyList's generic complex selectors against one page.

EasyList has ~500 generic element-hiding selectors that are not plain ``.class`` / ``#id`` rules
(``div[id^="div-gpt-"]``, ``a[href^="https://ad.host/"]``, ``amp-ad``, ``[data-ad-unit]``). Querying
all of them on every page costs milliseconds. Each selector has a *key* that any element it matches
must show in the page's HTML; a page's features (its class words, ids, tag names, ``data-*``
attribute names, URLs) are extracted once with a few fast regexes, and only selectors whose key is
present are queried. Screening only ever lets extra selectors through (they then simply match
nothing); it never drops a selector that could match, except that HTML-escaped attribute values
(``&amp;`` in a URL) are compared as written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_CLASS_ATTR_RE = re.compile(r"""class=["']([^"']+)""")
_ID_ATTR_RE = re.compile(r"""id=["']([^"']+)""")
_TAG_OPEN_RE = re.compile(r"<([A-Za-z][\w-]*)")
_DATA_ATTR_RE = re.compile(r"""(data-[\w-]+)=["']([^"']*)""")
_URL_RE = re.compile(r"""//([^"'\s>/?#]+)([^"'\s>]*)""")

_QUOTED_PART_RE = re.compile(r"""\[([\w-]+)([\^*$|~]?)=(?:"([^"]*)"|'([^']*)')\]""")
_BARE_ATTR_RE = re.compile(r"\[([\w-]+)\]")
_CLASS_WORD_RE = re.compile(r"\.([\w-]+)")
_ID_WORD_RE = re.compile(r"#([\w-]+)")
_TAG_RE = re.compile(r"^([A-Za-z][\w-]*)")


@dataclass
class PageFeatures:
    """What of a page's HTML the screening keys are compared with."""

    classes: set[str]
    ids: set[str]
    class_id_text: str  # "\n" + class words and ids, one per line, for prefix/substring tests
    tags: set[str]
    data_attrs: set[str]
    data_value_text: str  # data-* attribute values, one per line, for substring tests
    url_text: str  # the page's "//host/path" URLs, one per line, for substring tests
    urls: dict[str, list[str]]  # host -> "//host/path..." strings

    @classmethod
    def of(cls, html: str) -> PageFeatures:
        class_words = {w for value in _CLASS_ATTR_RE.findall(html) for w in value.split()}
        ids = set(_ID_ATTR_RE.findall(html))
        urls: dict[str, list[str]] = {}
        for host, rest in _URL_RE.findall(html):
            urls.setdefault(host.lower(), []).append(f"//{host}{rest}")
        data = _DATA_ATTR_RE.findall(html)
        return cls(
            classes=class_words,
            ids=ids,
            class_id_text="\n" + "\n".join(class_words | ids),
            tags={t.lower() for t in _TAG_OPEN_RE.findall(html)},
            data_attrs={name for name, _ in data},
            data_value_text="\n".join(value for _, value in data),
            url_text="\n".join(u for found in urls.values() for u in found),
            urls=urls,
        )


@dataclass
class GenericSelectorIndex:
    """Generic complex selectors grouped by the kind of key that screens them."""

    by_class: dict[str, list[str]] = field(default_factory=dict)
    by_id: dict[str, list[str]] = field(default_factory=dict)
    by_tag: dict[str, list[str]] = field(default_factory=dict)
    by_data_attr: dict[str, list[str]] = field(default_factory=dict)
    by_url_host: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # host -> (prefix, sel)
    class_id_prefix: list[tuple[str, str]] = field(default_factory=list)
    class_id_substring: list[tuple[str, str]] = field(default_factory=list)
    data_value_substring: list[tuple[str, str]] = field(default_factory=list)
    url_substring: list[tuple[str, str]] = field(default_factory=list)
    always: list[str] = field(default_factory=list)

    def add(self, selector: str) -> None:
        """File ``selector`` under the most selective key it has."""
        if ":not(" in selector or " i]" in selector or "," in selector:
            self.always.append(selector)
            return
        # "target" and "style" values ("_blank") say nothing about ads; prefer any other part.
        parts = [(attr, op, dq or sq) for attr, op, dq, sq in _QUOTED_PART_RE.findall(selector)]
        quoted = [q for q in parts if q[0] not in ("target", "style")] or parts
        if quoted:
            attr, op, value = max(quoted, key=lambda q: len(q[2]))
            prefix_like = op in ("", "^", "|")
            if "//" in value and prefix_like:
                url = value[value.index("//"):]
                host = url[2:].split("/", 1)[0].split("?", 1)[0].lower()
                self.by_url_host.setdefault(host, []).append((url, selector))
            elif attr in ("class", "id") and len(value) >= 2:
                (self.class_id_prefix if prefix_like else self.class_id_substring).append((value, selector))
            elif len(value) >= 3 and attr.startswith("data-"):
                self.data_value_substring.append((value, selector))
            elif len(value) >= 3 and attr in ("href", "src"):
                self.url_substring.append((value, selector))
            else:
                # A handful (name=, onclick=, aria-label=, style=): one more part in the combined
                # query costs less than a substring scan of the page.
                self.always.append(selector)
            return
        classes = _CLASS_WORD_RE.findall(selector)
        ids = _ID_WORD_RE.findall(selector)
        attrs = [a for a in _BARE_ATTR_RE.findall(selector) if a.startswith("data-")]
        tag = _TAG_RE.match(selector)
        if classes:
            self.by_class.setdefault(max(classes, key=len), []).append(selector)
        elif ids:
            self.by_id.setdefault(max(ids, key=len), []).append(selector)
        elif attrs:
            self.by_data_attr.setdefault(max(attrs, key=len), []).append(selector)
        elif tag:
            self.by_tag.setdefault(tag.group(1).lower(), []).append(selector)
        else:
            self.always.append(selector)

    def candidates(self, page: PageFeatures) -> list[str]:
        """Selectors whose key occurs in ``page`` (a superset of those that match)."""
        out: list[str] = list(self.always)
        for keys, index in ((page.classes, self.by_class), (page.ids, self.by_id),
                            (page.tags, self.by_tag), (page.data_attrs, self.by_data_attr)):
            small, large = (keys, index) if len(keys) < len(index) else (index, keys)
            for key in small:
                if key in large:
                    out.extend(index[key])
        for host, found in page.urls.items():
            for prefix, selector in self.by_url_host.get(host, ()):
                if any(url.startswith(prefix) for url in found):
                    out.append(selector)
        out.extend(sel for value, sel in self.class_id_prefix if "\n" + value in page.class_id_text)
        out.extend(sel for value, sel in self.class_id_substring if value in page.class_id_text)
        out.extend(sel for value, sel in self.data_value_substring if value in page.data_value_text)
        out.extend(sel for value, sel in self.url_substring if value in page.url_text)
        return out
