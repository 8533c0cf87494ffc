"""Bodies whose declared encoding is false, and compressed inputs cut short.

ClueWeb stores records whose HTTP headers say ``Content-Encoding: gzip`` over plain bodies. Such a
WARC is built here from real pages (aeb-dev, the Cyrillic one transcoded to windows-1251
and one served as ISO-8859-1, as many non-UTF-8 sites are): every page must come out of the dedup WARC
input as its text, with one warning each; ``catalog cat`` gives the body as stored and warns.
A ``.warc.gz`` cut in the middle keeps every complete record before the cut (as warcio reads them)
and quarantines the rest with its offset.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from catalog.store import Store
from catalog.warc_reader import Quarantined, iter_records
from dedup.errors import RecordError, RecordSkipped, RecordWarning
from dedup.warc_source import WarcSource
from ingest.file_sources import FileRef, Split
from ingest.warc_indexing import IndexOptions, index_split
from ingest.warc_job import WarcJobSummary, register_split
from tests.conftest import shared_data
from tests.integrity.reference import http_response, warcio_records, write_warc

CYRILLIC_PAGE = "3c6d3381ef52ca26be2fbde19c1b0fe17d85682b726dfecf5e300c1ca34546b1.html.gz"


def _clueweb_like(path: Path) -> list[tuple[str, str]]:
    """Writes the WARC; returns (url, a sentence of the page's text) per record."""
    data = shared_data()
    files = [p for p in sorted((data / "aeb-dev" / "html").glob("*.html.gz")) if p.name != CYRILLIC_PAGE][:6]
    pages = [(p.name, gzip.decompress(p.read_bytes())) for p in files]
    cyrillic = gzip.decompress((data / "aeb-dev" / "html" / CYRILLIC_PAGE).read_bytes()).decode("utf-8")
    records, probes = [], []
    for n, (_, html) in enumerate(pages):
        url = f"http://clueweb.example/{n}"
        text = html.decode("utf-8")
        if n == 0:  # a page served in windows-1252 ("iso-8859-1" on the wire, as browsers read it)
            body, ctype = text.encode("cp1252", "replace"), "text/html; charset=iso-8859-1"
            text = body.decode("cp1252")
        else:
            body, ctype = html, "text/html; charset=utf-8"
        records.append(http_response(url, body, [("Content-Type", ctype), ("Content-Encoding", "gzip")],
                                     f"2009-0{n + 1}-01T00:00:00Z"))
        probes.append((url, _sentence(text)))
    body = re.sub(r'charset="?utf-8"?', "charset=windows-1251", cyrillic, flags=re.I).encode("cp1251", "replace")
    records.append(http_response("http://clueweb.example/ru", body, [("Content-Type", "text/html"),
                                                                     ("Content-Encoding", "gzip")],
                                 "2009-09-01T00:00:00Z"))
    probes.append(("http://clueweb.example/ru", _sentence(cyrillic, cyrillic=True)))
    write_warc(path, records)
    return probes


def _sentence(html: str, cyrillic: bool = False) -> str:
    """A run of plain words from the page's paragraphs, to look for in the extracted text."""
    pattern = r"<p[^>]*>([^<]{60,})" if not cyrillic else r">([\u0400-\u04ff][\u0400-\u04ff ,.\-]{40,})<"
    match = re.search(pattern, html)
    assert match, "no plain paragraph in the page"
    return " ".join(match.group(1).split())[:40]


def test_false_content_encoding_is_used_as_stored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "clueweb-like.warc.gz"
    probes = _clueweb_like(path)
    assert len(warcio_records(path)) == len(probes)  # warcio reads them all
    reports: list[RecordError] = []
    source = WarcSource([str(path)])
    rows = [r for split in source.splits() for b in source.read(split, reports.append) for r in b.to_pylist()]
    warnings = [r for r in reports if isinstance(r, RecordWarning)]
    assert [r for r in reports if not isinstance(r, RecordWarning)] == []
    assert len(rows) == len(probes) and len(warnings) == len(probes)
    assert all("declares Content-Encoding 'gzip' but is not gzip" in w.reason for w in warnings)
    by_url = {row["url"]: row for row in rows}
    for url, sentence in probes:
        html = " ".join(by_url[url]["html"].split())
        assert sentence in html, f"{url}: text garbled or lost"
        assert "warnings" in json.loads(by_url[url]["metadata"])

    root = str(tmp_path / "root")
    with Store(root) as store:
        split = Split(0, (FileRef(str(path), path.stat().st_size, str(path)),))
        register_split(store, index_split(split, store.volumes_url + "/t", root + "/i", IndexOptions()), "t",
                       WarcJobSummary("t"))
        warned: list[str] = []
        body = store.cat("http://clueweb.example/ru", warnings=warned)
        assert body.decode("cp1251").count("\u0430") > 100 and len(warned) == 1  # Cyrillic "a", many times


def test_truncated_warc_gz_keeps_every_complete_record(tmp_path: Path) -> None:
    data = (shared_data() / "warc" / "dolma-wget-sample-0000.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    reference = warcio_records(cut)  # warcio stops at the cut: what it read before is the reference
    complete = [r for r in reference if r.offset + 64 < len(data) // 2]
    items = list(iter_records(str(cut), read_block=1 << 30))
    records = [i for i in items if not isinstance(i, Quarantined)]
    cuts = [i for i in items if isinstance(i, Quarantined)]
    assert [r.record_id for r in records] == [r.record_id for r in complete][: len(records)]
    assert len(records) >= len(complete) - 1 and len(cuts) == 1
    assert cuts[0].offset == max(r.offset for r in reference) and "truncated" in cuts[0].reason

    reports: list[RecordError] = []
    source = WarcSource([str(cut)])
    rows = [r for split in source.splits() for b in source.read(split, reports.append) for r in b.to_pylist()]
    documents = [r for r in records if r.record_type in ("response", "resource", "conversion")]
    skipped = [r for r in reports if isinstance(r, RecordSkipped)]  # requests, warcinfo: not documents
    assert len(skipped) == len(records) - len(documents)
    bad = [r for r in reports if not isinstance(r, (RecordWarning, RecordSkipped))]
    assert len(rows) + len([b for b in bad if b.offset != cuts[0].offset]) == len(documents)
    assert any(b.offset == cuts[0].offset and "truncated" in b.reason for b in bad)
