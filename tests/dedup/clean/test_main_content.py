"""The main-content decision on small pages, one rule at a time (see dedup/clean/main_content.py)."""
from __future__ import annotations

from dedup.clean import CleanConfig, clean_html

PROSE = ("The council approved the new budget on Tuesday after a long debate about school funding, "
         "road repairs and the future of the public library in the old town. ")


def _article(paragraphs: int = 6, word: str = "Part") -> str:
    return "".join(f"<p>{PROSE}{word} {i}.</p>" for i in range(paragraphs))


def _removed(html: str) -> dict[str, int]:
    return dict(clean_html(html).removals)


def test_named_boilerplate_goes_and_says_why() -> None:
    html = (f"<body><article>{_article()}</article>"
            "<div class='related-posts'><p>Ten other stories about budgets you may enjoy reading today.</p></div>"
            "<div id='comments'><p>I disagree with every word of this article, and here is why at length.</p></div>"
            "</body>")
    result = clean_html(html)
    assert result.text.count("The council approved") == 6
    assert "other stories" not in result.text and "I disagree" not in result.text
    assert {"boilerplate_markup", "comments"} <= dict(result.removals).keys()


def test_keep_comments_keeps_them() -> None:
    html = (f"<body><article>{_article()}</article>"
            "<div id='comments'><p>I disagree with every word of this article, and here is why at length.</p></div></body>")
    assert "I disagree" in clean_html(html, config=CleanConfig(keep_comments=True, container_share=1.0)).text


def test_a_flag_on_the_element_holding_the_page_is_not_believed() -> None:
    # A live ticker made of "comment" boxes is the page's content.
    ticker = "".join(f"<div class='live-comment'><p>{PROSE}Minute {i}.</p></div>" for i in range(8))
    html = f"<body><nav><a href='/'>Home</a></nav><div class='live-comments'>{ticker}</div></body>"
    assert clean_html(html).text.count("The council approved") == 8
    # Likewise a body whose class mentions a sidebar, and a wrapper classed "widget area".
    html = f"<body class='has-sidebar'><div class='widget-area'><article>{_article()}</article></div></body>"
    assert clean_html(html).text.count("The council approved") == 6


def test_an_article_header_holding_prose_is_kept_and_a_site_header_is_not() -> None:
    standfirst = "Residents will pay less for water next year, the council said, while bus fares stay as they are."
    html = (f"<body><header class='site'><a href='/'>Daily News</a><a href='/s'>Sports</a></header>"
            f"<article><header><h1>Budget passed</h1><p>{standfirst}</p></header>{_article()}</article></body>")
    result = clean_html(html)
    assert standfirst in result.text
    assert "Daily News" not in result.text and "Budget passed" not in result.text  # the title is chrome


def test_labels_of_removed_lists_and_empty_sections_go() -> None:
    links = "".join(f"<li><a href='/s{i}'>Story number {i} about something</a></li>" for i in range(5))
    html = (f"<body><article><h2>Background</h2>{_article()}<h2>Related articles</h2><ul>{links}</ul>"
            "<h2>Upcoming events</h2><h2>Contact</h2><p>Write to the desk at any time of the day or night.</p>"
            "</article></body>")
    result = clean_html(html)
    assert "Background" in result.text  # introduces kept text
    assert "Related articles" not in result.text and "Upcoming events" not in result.text
    assert "orphan_label" in dict(result.removals)


def test_a_short_blurb_between_link_lists_goes() -> None:
    teaser = ("<div><ul>" + "".join(f"<li><a href='/t{i}'>Teaser headline {i}</a></li>" for i in range(4)) + "</ul>"
              "<p>A short blurb on another story.</p><ul>"
              + "".join(f"<li><a href='/u{i}'>More headline {i}</a></li>" for i in range(4)) + "</ul></div>")
    html = f"<body><article>{_article()}{teaser}</article></body>"
    result = clean_html(html)
    assert "A short blurb" not in result.text
    assert "isolated_short" in dict(result.removals)


def test_the_lead_paragraph_beside_the_body_is_kept() -> None:
    lead = "In short: the budget passed, taxes stay flat, and the library will stay open on Sundays."
    html = (f"<body><div class='top'><div class='intro'><p class='lead'>{lead}</p></div></div>"
            f"<div class='article-body'>{_article(12)}</div><div class='more'><p>{PROSE}Elsewhere.</p></div></body>")
    assert lead in clean_html(html).text


def test_link_density_removes_menus_but_not_linked_sentences() -> None:
    menu = "<ul>" + "".join(f"<li><a href='/m{i}'>Menu item {i}</a></li>" for i in range(6)) + "</ul>"
    linked = ("<p><a href='/w/A'>Escopete</a> is a <a href='/w/M'>municipality</a> in the <a href='/w/P'>province "
              "of Guadalajara</a>, <a href='/w/C'>Castile-La Mancha</a>, <a href='/w/S'>Spain</a>.</p>")
    result = clean_html(f"<body><article>{_article(3)}{linked}{_article(3)}{menu}</article></body>")
    assert "Escopete is a municipality" in result.text
    assert "Menu item" not in result.text and "link_dense" in dict(result.removals)


def test_a_page_whose_main_content_would_vanish_falls_back() -> None:
    # Every paragraph sits in a box whose class says "sidebar widget": believed, as each holds little.
    boxes = "".join(f"<div class='sidebar-box'><p>{PROSE}Box {i}.</p></div>" for i in range(3))
    menu = "<ul>" + "".join(f"<li><a href='/m{i}'>Menu item {i}</a></li>" for i in range(6)) + "</ul>"
    result = clean_html(f"<body>{menu}{boxes}</body>")
    assert result.fallback == "visible_text"
    assert result.text.count("The council approved") == 3
    assert "Menu item" not in result.text  # never back to link lists
    # A page with enough main content needs no fallback.
    assert clean_html(f"<body>{menu}<article>{_article()}</article></body>").fallback is None


def test_a_page_of_links_only_stays_empty_and_says_why() -> None:
    menu = "<ul>" + "".join(f"<li><a href='/m{i}'>Menu item {i}</a></li>" for i in range(6)) + "</ul>"
    result = clean_html(f"<body>{menu}</body>")
    assert result.text == "" and dict(result.removals)["link_dense"] > 0
