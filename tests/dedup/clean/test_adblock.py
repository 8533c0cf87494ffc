"""EasyList rules (real list) remove ad elements from real pages, and say so."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bench.aeb_metric import BenchmarkPage
from dedup.clean import AdblockListError, CleanConfig, clean_html
from dedup.clean.adblock_filter import load_rules

AD_TEXT = "Huge savings on luxury watches today only at our partner store"


def _with_inserted(page: BenchmarkPage, marker: str, snippet: str) -> str:
    """The page with ``snippet`` inserted right after the first article paragraph opening ``marker``."""
    html = page.html.decode("utf-8")
    at = html.index(marker, html.index("</head>"))
    end = html.index("</p>", at) + len("</p>")
    return html[:end] + snippet + html[end:]


@pytest.fixture
def cbs_page(aeb_pages: dict[str, BenchmarkPage]) -> BenchmarkPage:
    return aeb_pages["2c46804d"]  # cbsnews.com article


def test_generic_element_hiding_rule_removes_ad_inside_article(cbs_page: BenchmarkPage, adblock_config: CleanConfig) -> None:
    first_words = cbs_page.truth.split("\n")[0][:40]
    html = _with_inserted(cbs_page, first_words[:30], f'<div id="div-gpt-mrec"><p>{AD_TEXT}.</p></div>')
    without_rules = clean_html(html, cbs_page.url, CleanConfig())
    assert AD_TEXT in without_rules.text  # the ad would be kept by everything else (no ad word in its id)

    result = clean_html(html, cbs_page.url, adblock_config)
    assert AD_TEXT not in result.text
    assert first_words in result.text
    assert dict(result.removals)["adblock_cosmetic"] >= len(AD_TEXT.replace(" ", ""))


def test_class_rule_from_easylist_removes_banner(cbs_page: BenchmarkPage, adblock_config: CleanConfig) -> None:
    first_words = cbs_page.truth.split("\n")[0][:30]
    html = _with_inserted(cbs_page, first_words, f'<div class="zergmod"><p>{AD_TEXT}.</p></div>')
    assert AD_TEXT in clean_html(html, cbs_page.url, CleanConfig()).text
    result = clean_html(html, cbs_page.url, adblock_config)
    assert AD_TEXT not in result.text
    assert "adblock_cosmetic" in dict(result.removals)


def test_network_rule_removes_sponsored_teaser_link_but_not_inline_links(
    cbs_page: BenchmarkPage, adblock_config: CleanConfig
) -> None:
    first_words = cbs_page.truth.split("\n")[0][:30]
    # A URL EasyList blocks by a network rule (||googlesyndication.com^) and no element-hiding rule.
    teaser = f'<p><a href="https://pagead2.googlesyndication.com/pagead/aclk?sa=L">{AD_TEXT}</a></p>'
    html = _with_inserted(cbs_page, first_words, teaser)
    # A link-only paragraph goes as link_dense anyway; with the list it is named for what it is.
    assert "adblock_network" not in dict(clean_html(html, cbs_page.url, CleanConfig()).removals)
    result = clean_html(html, cbs_page.url, adblock_config)
    assert AD_TEXT not in result.text
    assert dict(result.removals)["adblock_network"] >= len(AD_TEXT.replace(" ", ""))

    inline = (f'<p>Prices start at $5, {AD_TEXT.lower()} '
              '<a href="https://pagead2.googlesyndication.com/pagead/aclk">here</a> says the firm.</p>')
    kept = clean_html(_with_inserted(cbs_page, first_words, inline), cbs_page.url, adblock_config)
    assert "here says the firm" in kept.text


def test_rule_matching_the_article_wrapper_does_not_empty_the_page(
    cbs_page: BenchmarkPage, adblock_config: CleanConfig
) -> None:
    html = cbs_page.html.decode("utf-8")
    first_words = cbs_page.truth.split("\n")[0][:30]
    at = html.index(first_words, html.index("</head>"))
    p_start = html.rindex("<p", 0, at)
    wrapped = html[:p_start] + '<div class="zergmod">' + html[p_start:]  # an EasyList class rule
    assert first_words in clean_html(wrapped, cbs_page.url, adblock_config).text


def test_real_page_ads_removed_and_reported(aeb_pages: dict[str, BenchmarkPage], adblock_config: CleanConfig) -> None:
    page = aeb_pages["04a6711c"]  # nytimes.com: ad slots inside the article body
    assert page.html.count(b">Advertisement<") >= 2
    result = clean_html(page.html, page.url, adblock_config)
    assert "Advertisement" not in result.text
    # The slots are named by their markup ("ad" classes) or by their context before EasyList sees them.
    assert {"boilerplate_markup", "isolated_short"} <= dict(result.removals).keys()


def test_engine_is_compiled_once_per_process_and_list(easylist_path: str) -> None:
    assert load_rules(easylist_path) is load_rules(easylist_path)


def test_plain_txt_list_loads(tmp_path: Path, easylist_path: str) -> None:
    txt = tmp_path / "easylist.txt"
    txt.write_bytes(gzip.decompress(Path(easylist_path).read_bytes()))
    rules = load_rules(str(txt))
    assert rules.engine.check_network_urls("https://ad.doubleclick.net/x", "https://example.com/", "script").matched


def test_missing_or_empty_list_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AdblockListError, match="cannot read adblock list"):
        clean_html("<p>x</p>", None, CleanConfig(adblock_list=str(tmp_path / "missing.txt")))
    empty = tmp_path / "empty.txt"
    empty.write_text("! only a comment\n")
    with pytest.raises(AdblockListError, match="holds no rules"):
        load_rules(str(empty))
