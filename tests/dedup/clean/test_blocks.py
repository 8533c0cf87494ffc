"""The page walk: text as blocks, each owned by a recorded element, links counted."""
from __future__ import annotations

from dedup.clean.blocks import page_blocks
from dedup.clean.html_text import parse_html, remove_non_text
from dedup.clean.markup_hints import BOILERPLATE


def _walk(html: str):
    tree = parse_html(html)
    remove_non_text(tree)
    assert tree.body is not None
    return page_blocks(tree.body)


def test_block_elements_and_breaks_make_lines_and_inline_text_joins() -> None:
    page = _walk("<body><p>One <b>bold</b>  word<br>next line</p><ul><li>a</li><li>b<i>c</i></li></ul>"
                 "<div>own text<p>child</p>tail</div></body>")
    assert [b.text for b in page.blocks] == ["One bold word", "next line", "a", "bc", "own text", "child", "tail"]
    assert [b.tag for b in page.blocks] == ["p", "p", "li", "li", "div", "p", "div"]


def test_link_characters_are_counted_but_a_link_showing_its_url_is_not() -> None:
    page = _walk('<body><p>Read <a href="/x">the full report</a> now.</p>'
                 '<p><a href="https://e.org/a">https://e.org/a</a></p></body>')
    report, url = page.blocks
    assert report.link_chars == len("the full report") and 0 < report.link_density < 1
    assert url.link_chars == 0


def test_hidden_and_non_text_elements_show_nothing() -> None:
    page = _walk('<body><p>seen</p><div hidden>a</div><div style="display:none">b</div><div aria-hidden="true">c</div>'
                 '<script>var x = 1;</script><button>Click</button><select><option>o</option></select></body>')
    assert [b.text for b in page.blocks] == ["seen"]


def test_a_flagged_inline_element_is_a_block_of_its_own() -> None:
    page = _walk('<body><p>Story text <span class="share-links">Share on X</span> more text</p></body>')
    assert [b.text for b in page.blocks] == ["Story text", "Share on X", "more text"]
    span = page.blocks[1].owner
    assert page.flags[span] & BOILERPLATE and page.tag[span] == "span"
    assert page.parent[span] == page.blocks[0].owner


def test_parents_come_before_children_and_nodes_match() -> None:
    page = _walk("<body><div><section><p>x</p></section><p>y</p></div></body>")
    assert page.parent[0] == -1
    assert all(page.parent[i] < i for i in range(1, len(page.parent)))
    assert [page.nodes[i].tag for i in range(len(page.nodes))] == page.tag


def test_very_deep_nesting_does_not_exhaust_the_stack() -> None:
    depth = 20000
    page = _walk("<body>" + "<div>" * depth + "deep text" + "</div>" * depth + "</body>")
    assert [b.text for b in page.blocks] == ["deep text"]
