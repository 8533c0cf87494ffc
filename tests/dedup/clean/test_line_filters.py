"""Line filters: each named rule removes its kind of line and reports it; article lines stay."""
from __future__ import annotations

import pytest

from dedup.clean import CleanConfig, clean_text
from dedup.clean.config import DEFAULT_LINE_FILTERS
from dedup.clean.line_filters import ALL_LINE_FILTERS

ARTICLE = ("The council voted on Tuesday to expand the bus network, adding four routes that will "
           "connect the northern suburbs with the hospital district by next spring.")


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("Advertisement", "ad_label"),
        ("Story continues below advertisement", "ad_label"),
        ("Sponsored: Try the one weird trick doctors hate", "sponsored_block"),
        ("This website uses cookies. Read RT Privacy policy to find out more.", "cookie_notice"),
        ("Accept cookies", "cookie_notice"),
        ("By using this site you agree to our Terms of Use.", "c4_policy"),
        ("This slideshow requires JavaScript.", "c4_javascript"),
        ("Get the latest updates right in your inbox. Subscribe to NJ.com\u2019s newsletters.", "newsletter_prompt"),
        ("Like this story? Share it with a friend!", "share_prompt"),
        ("Photo: Damian Dovarganes, AP", "media_credit"),
        ("Image 1 of 23", "media_credit"),
        ("A cyclist rides next to a blocked plant, November 19, 2019. \u00a9  Reuters / David Mercado", "media_credit"),
        ("October 9, 2018 at 4:02 pm", "date_line"),
        ("By Eric Song, IGN Staff", "byline"),
        ("written by Regan", "byline"),
        ("Read more: Tencent profit falls as Alibaba threat and economic woes weigh", "related_link"),
        ("Also on rt.com Journalists threatened with sedition arrests", "related_link"),
        ("Sharing is caring!", "share_prompt"),
        ("You may also like...", "ui_label"),
        ("Read More", "ui_label"),
    ],
)
def test_boilerplate_line_is_removed_and_named(line: str, name: str) -> None:
    result = clean_text(f"{ARTICLE}\n{line}\n{ARTICLE[:60]} and more text follows here.")
    assert line not in result.text
    assert ARTICLE in result.text
    assert [n for n, _ in result.removals] == [name]
    assert dict(result.removals)[name] == len(line.replace(" ", ""))


@pytest.mark.parametrize(
    "line",
    [
        ARTICLE,
        "An Alibaba spokesperson declined to comment on the pricing to Reuters.",
        "She said the newsletter industry had changed, and that sharing was now the norm.",
        "Power and Performance",  # a subheading: C4's unpunctuated-line rule is not on by default
        "1 tsp cinnamon",
        "By the end of the year, the company said, it expects to have hired more than 300 engineers.",
        "Read the full report, which the agency published on Monday, for the detailed figures.",
    ],
)
def test_article_lines_survive_the_default_filters(line: str) -> None:
    result = clean_text(line)
    assert result.text == line
    assert result.removals == ()


def test_optional_c4_and_duplicate_rules_only_when_asked() -> None:
    text = "Menu Home\n" + ARTICLE + "\n" + ARTICLE
    assert clean_text(text).text == text
    strict = clean_text(text, CleanConfig(line_filters=ALL_LINE_FILTERS))
    assert strict.text == ARTICLE
    assert dict(strict.removals).keys() == {"c4_short_unpunctuated", "duplicate_line"}


def test_blank_runs_collapse_and_edges_are_trimmed() -> None:
    assert clean_text("\n\n  a line.  \n\n\n\nAdvertisement\n\nnext line.\n\n").text == "a line.\n\nnext line."


def test_no_filters_keeps_every_line() -> None:
    assert clean_text("Advertisement\nRead More", CleanConfig(line_filters=())).text == "Advertisement\nRead More"


def test_unknown_filter_name_is_an_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="no_such_rule"):
        clean_text("x", CleanConfig(line_filters=("no_such_rule",)))


def test_defaults_are_known_filters_and_leave_out_the_two_costly_ones() -> None:
    assert set(DEFAULT_LINE_FILTERS) == set(ALL_LINE_FILTERS) - {"c4_short_unpunctuated", "duplicate_line"}
    assert CleanConfig().line_filters == DEFAULT_LINE_FILTERS
