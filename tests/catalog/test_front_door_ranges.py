"""Byte ranges of ``GET /v1/content`` at the edges: empty content (an empty file is a real record) and
ranges past the end. A 416 names the content's length in ``Content-Range: bytes */N`` (RFC 9110), so
a client resuming a download knows where the content ends; before, a suffix range of empty content
was a 206 with the impossible ``Content-Range: bytes 0--1/0``. Also conditional requests
(``If-None-Match``)."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from catalog.store import Store
from catalog.warc_records import resource_record
from tests.catalog.test_front_door import TOKEN, call

EMPTY = "file:///data/empty.txt"
SIX = "file:///data/six.txt"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = str(tmp_path_factory.mktemp("ranges") / "root")
    with Store(root) as store:
        writer = store.writer()
        sealed = writer.append(EMPTY, resource_record(EMPTY, b"")) + writer.append(SIX, resource_record(SIX, b"abcdef"))
        for volume in sealed + writer.close():
            store.register_sealed(volume)
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, token=TOKEN)) as svc:
        yield svc.url


@pytest.mark.parametrize("spec", ["bytes=-1", "bytes=-5", "bytes=0-", "bytes=0-0"])
def test_any_range_of_empty_content_is_416_with_its_length(url: str, spec: str) -> None:
    status, headers, body = call(url, "GET", f"/v1/content?key={EMPTY}", headers={"Range": spec})
    assert status == 416, body
    assert headers["content-range"] == "bytes */0"
    assert "empty content (0 bytes)" in json.loads(body)["error"]["message"]
    status, headers, body = call(url, "GET", f"/v1/content?key={EMPTY}")
    assert status == 200 and body == b"" and headers["content-length"] == "0"


def test_ranges_at_the_last_byte_and_past_the_end(url: str) -> None:
    for spec, part, span in (("bytes=5-5", b"f", "5-5/6"), ("bytes=5-", b"f", "5-5/6"), ("bytes=-9", b"abcdef", "0-5/6"),
                             ("bytes=0-99", b"abcdef", "0-5/6"), ("bytes=0-0", b"a", "0-0/6")):
        status, headers, body = call(url, "GET", f"/v1/content?key={SIX}", headers={"Range": spec})
        assert (status, body, headers["content-range"]) == (206, part, f"bytes {span}"), spec
    for spec in ("bytes=6-", "bytes=6-6", "bytes=-0"):
        status, headers, body = call(url, "GET", f"/v1/content?key={SIX}", headers={"Range": spec})
        assert status == 416 and headers["content-range"] == "bytes */6", (spec, body)
        assert "0-5" in json.loads(body)["error"]["message"] or "last 0 bytes" in json.loads(body)["error"]["message"]



def test_if_none_match_compares_weakly_and_takes_a_star(url: str) -> None:
    """A tag weakened by a proxy (W/"...") or ``*`` got the whole body again instead of 304."""
    status, headers, _ = call(url, "GET", f"/v1/content?key={SIX}")
    etag = headers["etag"]
    for given in (f"W/{etag}", "*", f'"other", W/{etag}'):
        status, _, body = call(url, "GET", f"/v1/content?key={SIX}", headers={"If-None-Match": given})
        assert (status, body) == (304, b""), given
    status, _, body = call(url, "GET", f"/v1/content?key={SIX}", headers={"If-None-Match": 'W/"other"'})
    assert (status, body) == (200, b"abcdef")
