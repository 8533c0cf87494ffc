"""robots.txt group selection and RFC 9309 matching."""
from __future__ import annotations

import pytest

from ingest.crawl.robots import path_of
from ingest.crawl.robots_rules import parse_rules

ROBOTS = """
# comment
User-agent: googlebot
Disallow: /

User-agent: haybale
User-agent: other
Disallow: /private
Allow: /private/open
Disallow: /*.pdf$
Disallow: /search?q=
Crawl-delay: 2.5

User-agent: *
Disallow: /everyone-else
"""


@pytest.mark.parametrize("path,allowed", [
    ("/", True), ("/private", False), ("/private/x", False), ("/private/open/page", True),
    ("/doc.pdf", False), ("/doc.pdf?x=1", True), ("/search?q=hay", False), ("/search", True),
    ("/everyone-else", True), ("/robots.txt", True)])
def test_our_group_longest_match(path: str, allowed: bool) -> None:
    rules = parse_rules(ROBOTS, "haybale")
    assert rules.can_fetch(path) is allowed
    assert rules.crawl_delay == 2.5


def test_star_group_when_no_group_names_us() -> None:
    rules = parse_rules(ROBOTS, "somebot")
    assert not rules.can_fetch("/everyone-else/x") and rules.can_fetch("/private")
    assert rules.crawl_delay is None


def test_allow_wins_ties_and_empty_disallow_allows_all() -> None:
    assert parse_rules("User-agent: *\nDisallow: /a\nAllow: /a\n", "x").can_fetch("/a")
    assert parse_rules("User-agent: *\nDisallow:\n", "x").can_fetch("/anything")
    assert not parse_rules("User-agent: *\nDisallow: /\n", "x").can_fetch("/anything")
    assert parse_rules("", "x").can_fetch("/anything")


def test_percent_encoding_compared_canonically() -> None:
    rules = parse_rules("User-agent: *\nDisallow: /caf%c3%a9\nDisallow: /naïve\n", "x")
    assert not rules.can_fetch("/caf%C3%A9/menu")
    assert not rules.can_fetch("/na%C3%AFve")


def test_path_of() -> None:
    assert path_of("http://a.com/x/y?q=1") == "/x/y?q=1"
    assert path_of("http://a.com") == "/" and path_of("http://a.com?q") == "/?q"
