"""Listing cursors are bound to the catalog and the prefix they were returned for. A cursor only names
a position in listing order, so before, one that was edited, came from a listing of another prefix or
from another root's service started the page somewhere else without a word: keys skipped, or an
empty last page as if the listing were done. Now each of those is a 400 naming the cursor."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from catalog.wire import encode_cursor
from tests.catalog.service_helpers import build_root
from tests.catalog.test_front_door import TOKEN, call

FILES = "file:///data/"
PAGES = "https://example.com/"


@pytest.fixture(scope="module")
def two_roots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Two services over two roots holding the same keys (two catalogs, two catalog ids)."""
    base = tmp_path_factory.mktemp("cursors")
    expected = build_root(str(base / "one"))
    build_root(str(base / "two"))
    with ServiceThread(ServiceConfig(root=str(base / "one"), port=0, refresh_seconds=0, token=TOKEN)) as one, \
            ServiceThread(ServiceConfig(root=str(base / "two"), port=0, refresh_seconds=0, token=TOKEN)) as two:
        yield one.url, two.url, expected


def page(url: str, prefix: str, cursor: str | None = None, limit: int = 3) -> tuple[int, dict[str, Any]]:
    from urllib.parse import urlencode

    query = {"prefix": prefix, "limit": limit, **({"cursor": cursor} if cursor else {})}
    status, _, body = call(url, "GET", "/v1/list?" + urlencode(query))
    return status, json.loads(body)


def refused(answer: dict[str, Any], prefix: str) -> bool:
    return f"is not a cursor this service returned for prefix {prefix!r}" in answer["error"]["message"]


def test_a_cursor_of_another_prefix_is_refused(two_roots: Any) -> None:
    url, _, _ = two_roots
    status, first = page(url, PAGES)
    assert status == 200 and first["next_cursor"]
    status, answer = page(url, FILES, first["next_cursor"])  # before: 200, no keys, "done"
    assert status == 400 and refused(answer, FILES), answer
    status, answer = page(url, "", first["next_cursor"])
    assert status == 400 and refused(answer, ""), answer


def test_a_cursor_of_another_root_is_refused(two_roots: Any) -> None:
    one, two, _ = two_roots
    status, first = page(one, FILES)
    assert status == 200 and first["next_cursor"]
    status, answer = page(two, FILES, first["next_cursor"])
    assert status == 400 and refused(answer, FILES), answer
    assert page(one, FILES, first["next_cursor"])[0] == 200


def test_an_edited_cursor_is_refused(two_roots: Any) -> None:
    url, _, expected = two_roots
    status, first = page(url, FILES)
    cursor = first["next_cursor"]
    later = [k for k in expected["keys"] if k.startswith(FILES)][-2]
    for edited in (cursor[:-1], cursor[:len(cursor) // 2], cursor.rpartition(".")[0],
                   encode_cursor(b"k" + later.encode()), cursor.replace(cursor[5], "A" if cursor[5] != "A" else "B", 1)):
        status, answer = page(url, FILES, edited)  # before, a cursor naming a later key skipped the keys between
        assert status == 400 and refused(answer, FILES), (edited, answer)
