"""``dedup run`` counts and names the HTML pages whose nesting was flattened, as clean-html does.

A page nested deeper than 512 levels has the tags past that depth cut out before it is parsed
(dedup/clean/nesting.py), its text kept. ``haybale dedup clean-html`` lists such pages; ``dedup run``
cleaned them the same way and said nothing, so a changed page went unreported. Its summary now counts
them (``flattened_count``) and names the first ``LISTED_FLATTENED`` in input order (``flattened``:
id, url, tags cut); the command's text output says so. The input is real WARC files written with warcio.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dedup import job, split_stage
from dedup.clean.nesting import bound_nesting
from dedup.warc_source import WarcSource
from haybale.cli.dedup_commands import describe_dedup_summary
from tests.dedup.inline_job import run_inline

DEPTH = 2_100


def _page(words: str, depth: int = 0) -> str:
    return "<html><body>" + "<div>" * depth + f"<p>{words} {words} {words}</p>" + "</div>" * depth + "</body></html>"


CUT = bound_nesting(_page("alpha deep nest words", DEPTH))[1]  # tags past the bound, start and end


def _warc(path: Path, pages: list[tuple[str, str]]) -> str:
    """A WARC of one HTML response record per (url, html); its path."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for url, html in pages:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html.encode()),
                                                      http_headers=http))
    path.write_bytes(out.getvalue())
    return str(path)


def _ids(path: str) -> list[str]:
    source = WarcSource([path])
    return [i for batch in source.read(source.splits()[0]) for i in batch.column("id").to_pylist()]


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    return [_warc(tmp_path / "a.warc.gz", [("https://a.example/deep", _page("alpha deep nest words", DEPTH)),
                                          ("https://a.example/plain", _page("a plain page of its own"))]),
            _warc(tmp_path / "b.warc.gz", [("https://b.example/deep", _page("beta other deep words", DEPTH))])]


def test_a_run_counts_and_names_flattened_pages(inputs: list[str], tmp_path: Path) -> None:
    assert CUT > 2_000 and CUT == bound_nesting(_page("beta other deep words", DEPTH))[1]
    summary = run_inline(WarcSource(inputs), str(tmp_path / "out"), "r", inputs)
    deep_a, deep_b = _ids(inputs[0])[0], _ids(inputs[1])[0]
    assert summary["documents"]["input"] == summary["documents"]["kept"] == 3
    assert summary["flattened_count"] == 2
    assert summary["flattened"] == [{"id": deep_a, "url": "https://a.example/deep", "tags": CUT},
                                    {"id": deep_b, "url": "https://b.example/deep", "tags": CUT}]
    text = describe_dedup_summary(summary, "out")
    assert "2 HTML pages nest deeper than 512 levels" in text
    assert f"flattened: {deep_a} (https://a.example/deep): {CUT:,} tags" in text


def test_the_summary_names_only_the_first_pages_past_the_cap_and_counts_all(
        inputs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (job, split_stage):
        monkeypatch.setattr(module, "LISTED_FLATTENED", 1)
    summary: dict[str, Any] = run_inline(WarcSource(inputs), str(tmp_path / "out"), "r", inputs)
    assert summary["flattened_count"] == 2
    assert [page["url"] for page in summary["flattened"]] == ["https://a.example/deep"]  # the first, in input order
