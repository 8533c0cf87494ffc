"""What class names, ids, tags and attributes say about an element (markup_hints)."""
from __future__ import annotations

import pytest

from dedup.clean.markup_hints import BOILERPLATE, CHROME, COMMENTS, HIDDEN, element_flags, words


def test_words_split_camel_case_and_separators() -> None:
    assert words("relatedPosts") == ["related", "posts"]
    assert words("related-posts related_posts") == ["related", "posts", "related", "posts"]
    assert words("ArticleBODY x2") == ["article", "body", "x", "2"]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"class": "related-posts clearfix"}, BOILERPLATE),
        ({"class": "sharedaddy sd-sharing-enabled"}, BOILERPLATE),
        ({"id": "commentlist"}, COMMENTS),
        ({"id": "disqus_thread"}, COMMENTS),
        ({"class": "news-letter-box"}, BOILERPLATE),  # read as one word too
        ({"class": "sr-only"}, BOILERPLATE),
        ({"class": "tag-links"}, BOILERPLATE),  # a box of tags
        ({"class": "post type-post tag-elections category-news"}, 0),  # labels on the article itself
        ({"class": "research-results"}, 0),  # whole words only: not "search"
        ({"class": "entry-content"}, 0),
        ({"class": "comments-open single"}, 0),  # a body class saying comments are allowed
        ({"class": "row", "role": "navigation"}, CHROME),
        ({"itemprop": "comment"}, COMMENTS),
        ({"hidden": ""}, HIDDEN),
        ({"aria-hidden": "true"}, HIDDEN),
        ({"style": "color: red; display :none"}, HIDDEN),
    ],
)
def test_element_flags(attributes: dict[str, str], expected: int) -> None:
    assert element_flags("div", attributes) == expected


def test_chrome_tags_are_flagged_whatever_their_attributes() -> None:
    for tag in ("nav", "footer", "aside", "header", "figure", "figcaption", "h1"):
        assert element_flags(tag, {}) & CHROME
    assert element_flags("footer", {"class": "comments"}) == CHROME | COMMENTS
    assert element_flags("section", {}) == 0
