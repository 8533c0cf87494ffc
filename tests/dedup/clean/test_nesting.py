"""Deeply nested pages clean in time linear in their size; normal pages are not touched.

lexbor's tree builder is quadratic in the nesting depth of block elements: one crawl page of
100,000 nested <div>s took ~175 s to clean (16,000: 0.36 s, 50,000: 4.9 s), stalling a worker.
dedup/clean/nesting.py cuts the tags of elements nested past 512 levels before parsing (as
browsers bound the depth), keeping their text, and counts them in CleanResult.flattened_tags.
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from dedup.clean import clean_html
from dedup.clean.decode import decode_html
from dedup.clean.html_text import parse_html
from dedup.clean.nesting import MAX_DEPTH, bound_nesting


def _depth(html: str) -> int:
    """The deepest element of the parsed page, counted from <html>."""
    deepest, stack = 0, [(parse_html(html).root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        child = node.child
        while child is not None:
            if child.tag != "-text":
                stack.append((child, depth + 1))
            child = child.next
    return deepest


def _nested(n: int, inner: str = "<p>The one paragraph of text on this deeply nested page.</p>") -> str:
    return "<html><body>" + "<div>" * n + inner + "</div>" * n + "<p>After the nest.</p></body></html>"


def test_a_page_of_60000_nested_divs_cleans_in_seconds_and_keeps_its_text() -> None:
    html = _nested(60_000)
    started = time.perf_counter()
    result = clean_html(html)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"{elapsed:.1f} s (it took ~25 s before the bound, ~1 s after)"
    assert "The one paragraph of text on this deeply nested page." in result.text
    assert "After the nest." in result.text
    assert result.flattened_tags == 2 * (60_000 - MAX_DEPTH + 1)  # the <div>s and the <p> past the bound, both tags


def test_the_bound_cuts_only_tags_past_the_depth_and_keeps_the_structure_around_them() -> None:
    html = _nested(6_000)
    bounded, cut = bound_nesting(html)
    assert cut > 0 and _depth(bounded) <= MAX_DEPTH + 4  # html, body, the deepest div's <p>
    assert bounded.count("<div>") == bounded.count("</div>")  # every kept div keeps its end tag
    # the paragraph after the nest is still a child of body, not swallowed by a div
    tree = parse_html(bounded)
    assert [n.text() for n in tree.css("body > p")] == ["After the nest."]
    assert tree.body.text(separator=" ").split() == parse_html(html).body.text(separator=" ").split()


def test_tags_in_comments_and_scripts_are_not_counted() -> None:
    fake = "<div>" * 5_000
    html = f"<html><body><!-- {fake} --><script>var s = '{fake}';</script><p>Text.</p></body></html>"
    assert bound_nesting(html) == (html, 0)
    assert bound_nesting(html)[0] is html


def test_closed_siblings_and_unclosed_paragraphs_are_not_depth() -> None:
    siblings = "<html><body>" + "<div><span>x</span></div>" * 5_000 + "<p>a<p>b" * 3_000 + "</body></html>"
    assert bound_nesting(siblings)[1] == 0


def test_dev_pages_are_returned_unchanged(shared_data_dir: Path) -> None:
    pages = [p for name in ("aeb-dev", "tfeval-dev") for p in sorted((shared_data_dir / name / "html").glob("*"))]
    if not pages:
        pytest.skip("aeb-dev / tfeval-dev pages not found")
    for path in pages:
        data = path.read_bytes()
        html = decode_html(gzip.decompress(data) if path.name.endswith(".gz") else data)
        bounded, cut = bound_nesting(html)
        assert cut == 0 and bounded is html, path


def test_clean_html_dir_lists_a_flattened_page(tmp_path: Path) -> None:
    from dedup.clean import clean_html_dir
    from haybale.cli.dedup_commands import describe_clean_result

    src = tmp_path / "src"
    src.mkdir()
    (src / "deep.html").write_text(_nested(2_100))
    (src / "plain.html").write_text("<html><body><p>A plain page with a paragraph of its own.</p></body></html>")
    summary = clean_html_dir(str(src), str(tmp_path / "dst"), progress=None)
    assert summary["written"] == 2 and summary["errors"] == []
    assert [(Path(e["path"]).name, e["tags"]) for e in summary["flattened"]] == [("deep.html", 2 * (2_100 - MAX_DEPTH + 1))]
    assert "The one paragraph" in (tmp_path / "dst" / "deep.txt").read_text()
    assert "deep.html: 3,178 tags" in describe_clean_result(summary, "dst")
