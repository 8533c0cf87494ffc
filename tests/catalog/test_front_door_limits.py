"""The front door's limits and failure answers: a battery of bad requests (and seeded random ones) never
gets a 5xx, each named limit gets its 4xx; a backend that goes away gives 503 with Retry-After and the
service answers again when it is back; any CatalogReader can be served (paging without list_page)."""
from __future__ import annotations

import json
import random
import socket
import time
from typing import Any, Iterator

import pytest

from catalog.service import ServiceConfig
from catalog.service_api import pack_keys
from catalog.service_backend import ReaderBackend
from catalog.service_run import ServiceThread
from catalog.store import Store
from tests.catalog.service_helpers import build_root
from tests.catalog.test_front_door import TOKEN, call

MAX_BATCH = 20
MAX_LIST = 50
MAX_KEY = 512


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    root = str(tmp_path_factory.mktemp("limits") / "root")
    expected = build_root(root)
    config = ServiceConfig(root=root, port=0, refresh_seconds=0, max_batch=MAX_BATCH, token=TOKEN,
                           max_body=4096, max_list_limit=MAX_LIST, max_key_bytes=MAX_KEY)
    with ServiceThread(config) as svc:
        yield svc.url, expected


KEY = "https://example.com/section/1/page-1.html"
BAD = [  # method, path, body, headers, status, words the message must hold
    ("GET", "/v1/record", None, {}, 400, "missing query parameter 'key'"),
    ("GET", "/v1/record?key=", None, {}, 400, "'key' is empty"),
    ("GET", "/v1/record?key=" + "a" * 600, None, {}, 400, "over this service's limit of 512 bytes"),
    ("GET", "/v1/record?key=https%3A%2F%2F%2Fno-host", None, {}, 400, "no host"),
    ("GET", "/v1/record?key=%ff%fe", None, {}, 400, "not percent-encoded UTF-8"),
    ("GET", "/v1/record?key=a%00b", None, {}, 400, "NUL byte"),
    # the endpoints CatalogClient speaks check keys as the front door's do (they looked up "\ufffd" keys)
    ("GET", "/v1/get?key=https%3A%2F%2Fexample.com%2F%ff", None, {}, 400, "not percent-encoded UTF-8"),
    ("GET", "/v1/cat?key=https%3A%2F%2Fexample.com%2F%ff", None, {}, 400, "not percent-encoded UTF-8"),
    ("GET", "/v1/mark?key=https%3A%2F%2Fexample.com%2F%ff", None, {}, 400, "not percent-encoded UTF-8"),
    ("GET", "/v1/list?prefix=https%3A%2F%2Fexample.com%2F%ff", None, {}, 400, "'prefix' is not percent-encoded UTF-8"),
    ("GET", f"/v1/record?key={KEY}&key=https://example.com/", None, {}, 400, "'key' is given 2 times"),
    ("GET", "/v1/get?key=a&key=b&key=c", None, {}, 400, "'key' is given 3 times"),
    ("GET", "/v1/list?prefix=file:///data/&prefix=https://", None, {}, 400, "'prefix' is given 2 times"),
    ("GET", "/v1/record?key=file%3A%2F%2F%2Fno%2Fsuch", None, {}, 404, "'file:///no/such' is not in the catalog"),
    ("GET", "/v1/content?key=" + "b" * 600, None, {}, 400, "limit of 512 bytes"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=abc"}, 400, "is not one 'bytes=FIRST-LAST'"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "items=0-1"}, 400, "is not one"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=0-1,4-5"}, 400, "multi-part"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=5-2"}, 400, "ends before it starts"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=-"}, 400, "is not one"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=99999-"}, 416, "starts at byte 99999"),
    ("GET", f"/v1/content?key={KEY}", None, {"Range": "bytes=-0"}, 416, "last 0 bytes"),
    ("GET", f"/v1/content?key={KEY}&raw=maybe", None, {}, 400, "raw='maybe'"),
    ("GET", f"/v1/content?key={KEY}&max_decoded=-1", None, {}, 400, "max_decoded='-1'"),
    ("GET", "/v1/content?key=https://example.com/gz&max_decoded=3", None, {}, 413, "3 bytes"),
    ("POST", "/v1/lookup", b'["a", ', {}, 400, "not valid JSON"),
    ("POST", "/v1/lookup", b'{"key": 1}', {}, 400, "not a list"),
    ("POST", "/v1/lookup", b'["a", 7]', {}, 400, "key #1 of the batch is a JSON int"),
    ("POST", "/v1/lookup", b'["a", ""]', {}, 400, "key #1 of the batch: empty key"),
    ("POST", "/v1/lookup?format=packed", b'["a", "b", "https:///no-host"]', {}, 400, "key #2 of the batch: "),
    ("POST", "/v1/get_many", b'["a", "b", "c\\u0000d"]', {}, 400, "key #2 of the batch: "),
    ("POST", "/v1/exists_many", b'["", "a"]', {}, 400, "key #0 of the batch: empty key"),
    ("POST", "/v1/lookup", json.dumps(["k"] * (MAX_BATCH + 1)).encode(), {}, 413, f"limit of {MAX_BATCH} keys"),
    ("POST", "/v1/lookup", json.dumps(["c" * 600]).encode(), {}, 400, "over 512 bytes"),
    # the batch endpoints CatalogClient speaks hold keys to the same limit (they answered null)
    ("POST", "/v1/get_many", json.dumps(["a", "d" * 600]).encode(), {}, 400, "key #1 of the batch"),
    ("POST", "/v1/get_many?format=packed", json.dumps(["é" * 300]).encode(), {}, 400, "over 512 bytes"),
    ("POST", "/v1/exists_many", json.dumps(["a", "b", "e" * 600]).encode(), {}, 400, "key #2 of the batch"),
    ("POST", "/v1/lookup", b"[" + b'"x",' * 2000 + b'"x"]', {}, 413, "request body is over 4,096 bytes"),
    ("POST", "/v1/lookup?format=xml", b"[]", {}, 400, "format='xml'"),
    ("POST", "/v1/lookup", b"\x00", {"Content-Type": "application/x-haybale-keys"}, 400, "cut after 0 keys"),
    ("POST", "/v1/lookup", b"\x00\x05ab", {"Content-Type": "application/x-haybale-keys"}, 400, "claims 5 bytes"),
    ("POST", "/v1/lookup", b"\x00\x02\xff\xfe", {"Content-Type": "application/x-haybale-keys"}, 400, "not UTF-8"),
    ("POST", "/v1/lookup", pack_keys(["k"] * (MAX_BATCH + 1)), {"Content-Type": "application/x-haybale-keys"},
     413, f"more than {MAX_BATCH} keys"),
    ("GET", "/v1/list?limit=0", None, {}, 400, "limit='0'"),
    ("GET", f"/v1/list?limit={MAX_LIST + 1}", None, {}, 400, f"from 1 to {MAX_LIST}"),
    ("GET", "/v1/list?limit=ten", None, {}, 400, "limit='ten'"),
    ("GET", "/v1/list?cursor=%%%", None, {}, 400, "not a cursor this service returned"),
    ("GET", "/v1/list?cursor=AAAA", None, {}, 400, "not a cursor this service returned"),
    ("GET", "/v1/list?cursor=" + "z" * 3000, None, {}, 400, "not a cursor"),
    ("GET", "/v1/list?locations=sure", None, {}, 400, "locations='sure'"),
    ("GET", "/v1/list?prefix=" + "p" * 600, None, {}, 400, "longer than any key"),
    ("GET", "/v1/no-such-endpoint", None, {}, 404, "no endpoint GET /v1/no-such-endpoint"),
    ("GET", "/", None, {}, 404, "no endpoint GET /"),
    ("GET", "/v1/record/extra?key=a", None, {}, 404, "no endpoint"),
    ("DELETE", "/v1/record?key=a", None, {}, 405, "DELETE is not allowed"),
    ("GET", "/v1/lookup", None, {}, 405, "GET is not allowed"),
    ("PUT", "/healthz", b"x", {}, 405, "PUT is not allowed"),
]


@pytest.mark.parametrize("method,path,body,headers,status,needle", BAD, ids=[f"{b[0]} {b[1][:40]} {b[3]}" for b in BAD])
def test_each_bad_request_gets_its_4xx_naming_the_input(served: Any, method: str, path: str, body: bytes | None,
                                                        headers: dict[str, str], status: int, needle: str) -> None:
    got, _, answer = call(served[0], method, path, body, headers=headers)
    assert got == status, answer[:300]
    assert needle in json.loads(answer)["error"]["message"]


def test_random_bad_requests_never_get_a_5xx(served: Any) -> None:
    rng = random.Random(11)
    paths = ["/v1/record", "/v1/content", "/v1/lookup", "/v1/list", "/v1/stats", "/v1/get", "/v1/cat",
             "/v1/get_many", "/v1/exists_many", "/v1/mark", "/v1/refresh", "/healthz", "/metrics", "/v1/x"]
    params = ["key", "prefix", "limit", "cursor", "raw", "locations", "format", "max_decoded", "force"]
    alphabet = "aZ09%&=+/:;,.~_-\x7f é€\\\"'<>"
    statuses = []
    for _ in range(400):
        query = "&".join(f"{rng.choice(params)}={''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))}"
                         for _ in range(rng.randint(0, 3)))
        from urllib.parse import quote
        path = rng.choice(paths) + ("?" + quote(query, safe="=&%") if query else "")
        method = rng.choice(["GET", "POST", "GET", "POST", "HEAD", "PATCH"])
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))) if method == "POST" else None
        headers = rng.choice([{}, {"Range": "bytes=" + "".join(rng.choice("0123456789-,x ") for _ in range(6))},
                              {"Content-Type": "application/x-haybale-keys"}, {"Content-Type": "text/plain"}])
        status, _, answer = call(served[0], method, path, body, headers=headers)
        assert status < 500, (method, path, body, headers, answer[:300])
        statuses.append(status)
    assert any(s >= 400 for s in statuses) and any(s == 200 for s in statuses)


def test_malformed_http_and_oversized_lines_get_a_4xx(served: Any) -> None:
    host, port = served[0].split("://")[1].split(":")
    for raw in (b"NOT HTTP AT ALL\r\n\r\n", b"GET /v1/stats?" + b"q" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 40_000 + b"\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            first = sock.recv(200)
        status = int(first.split(b" ")[1])
        assert 400 <= status < 500, first


def test_an_upstream_that_goes_away_gives_503_with_retry_after_then_recovers(tmp_path: Any) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    upstream_token = "upstream-token-0123456789abcdef"
    key = expected["keys"][5]
    upstream = ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, token=upstream_token)).start()
    port = int(upstream.url.rsplit(":", 1)[1])
    front_config = ServiceConfig(port=0, token=TOKEN, upstream=upstream.url, upstream_token=upstream_token)
    with ServiceThread(front_config) as front:
        try:
            assert json.loads(call(front.url, "GET", f"/v1/record?key={key}")[2])["offset"] == \
                expected["locations"][key].offset
            upstream.stop()
            for method, path, body in (("GET", f"/v1/record?key={key}", None), ("GET", f"/v1/content?key={key}", None),
                                       ("POST", "/v1/lookup", json.dumps([key]).encode()), ("GET", "/v1/list", None),
                                       ("GET", "/v1/stats", None)):
                status, headers, answer = call(front.url, method, path, body)
                assert status == 503 and headers["retry-after"] == "5", answer
                assert "cannot be reached now" in json.loads(answer)["error"]["message"]
            assert call(front.url, "GET", "/healthz", token=None)[0] == 200  # alive, just waiting for its backend
            metrics = call(front.url, "GET", "/metrics")[2].decode()
            assert 'haybale_backend_calls_total{call="record",outcome="unavailable"}' in metrics
            upstream = ServiceThread(ServiceConfig(root=root, port=port, refresh_seconds=0, token=upstream_token)).start()
            deadline = time.monotonic() + 20
            while call(front.url, "GET", f"/v1/record?key={key}")[0] != 200:
                assert time.monotonic() < deadline, "the front door did not recover"
                time.sleep(0.2)
            status, _, body = call(front.url, "GET", f"/v1/content?key={key}")
            assert status == 200 and body == expected["contents"][key]
        finally:
            upstream.stop()


def test_the_front_door_never_sends_its_own_token_upstream(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HAYBALE_UPSTREAM_TOKEN the front door sent its own HAYBALE_TOKEN (its clients' credential)
    to whatever --upstream names, and an upstream 401 reached the client, whose token was fine, as
    "the token is not this service's"."""
    root = str(tmp_path / "root")
    expected = build_root(root)
    key = expected["keys"][5]
    monkeypatch.setenv("HAYBALE_TOKEN", TOKEN)  # the front door's own token, as `haybale serve` reads it
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, token=TOKEN)) as upstream, \
            ServiceThread(ServiceConfig(port=0, token=TOKEN, upstream=upstream.url)) as front:
        status, _, answer = call(front.url, "GET", f"/v1/record?key={key}")
        error = json.loads(answer)["error"]
        assert status == 502 and error["type"] == "UpstreamAuthError", answer
        assert upstream.url in error["message"] and "HAYBALE_UPSTREAM_TOKEN" in error["message"]
        assert TOKEN not in answer.decode()
        assert call(front.url, "GET", "/v1/list")[0] == 502


def test_any_reader_is_served_and_pages_without_list_page(tmp_path: Any) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    reader = Store(root, read_only=True, create=False)
    with ServiceThread(ServiceConfig(port=0, token=TOKEN), backend=ReaderBackend(reader, "a Store")) as svc:
        seen: list[str] = []
        cursor = ""
        while True:
            page = json.loads(call(svc.url, "GET", "/v1/list?limit=9&prefix=https://example.com/"
                                   + (f"&cursor={cursor}" if cursor else ""))[2])
            seen += page["keys"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [k for k in expected["keys"] if k.startswith("https://example.com/")] and len(seen) > 9
        key = seen[3]
        status, headers, body = call(svc.url, "GET", f"/v1/content?key={key}", headers={"Range": "bytes=1-3"})
        assert status == 206 and body == expected["contents"][key][1:4]


def open_store_reader(address: str, root: str) -> Store:
    """A reader factory as ``--reader-factory`` names one (the shard owners' client will be another)."""
    assert address == "ray://owners.example:10001"
    return Store(root, read_only=True, create=False)


def test_a_reader_factory_plugs_a_reader_in_by_name(tmp_path: Any) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    config = ServiceConfig(root=root, port=0, token=TOKEN, address="ray://owners.example:10001",
                           reader_factory="tests.catalog.test_front_door_limits:open_store_reader")
    with ServiceThread(config) as svc:
        key = expected["keys"][2]
        assert json.loads(call(svc.url, "GET", f"/v1/record?key={key}")[2])["offset"] == expected["locations"][key].offset
        health = json.loads(call(svc.url, "GET", "/v1/health")[2])
        assert health["backend"] == "reader" and "open_store_reader" in health["reader"]
    with pytest.raises(Exception, match="--reader-factory no.such.module:f: cannot import it"):
        ServiceThread(ServiceConfig(root=root, port=0, address="x", reader_factory="no.such.module:f")).start()
    with pytest.raises(Exception, match="needs their client"):
        ServiceConfig(root=root, address="ray://x:10001")


def test_a_front_door_pages_within_a_smaller_upstream_limit(tmp_path: Any) -> None:
    """A front door allowing bigger pages than its --upstream answered a page it allows with the
    upstream's 400 ("limit ... from 1 to 7"); it now asks the upstream for what it allows and pages on."""
    root = str(tmp_path / "root")
    expected = build_root(root)
    upstream_token = "upstream-token-0123456789abcdef"
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, token=upstream_token,
                                     max_list_limit=7)) as upstream, \
            ServiceThread(ServiceConfig(port=0, token=TOKEN, upstream=upstream.url, upstream_token=upstream_token,
                                        max_list_limit=MAX_LIST)) as front:
        seen: list[str] = []
        cursor = ""
        while True:
            status, _, answer = call(front.url, "GET", f"/v1/list?limit={MAX_LIST}" + (f"&cursor={cursor}" if cursor else ""))
            assert status == 200, answer[:300]
            page = json.loads(answer)
            assert 0 < len(page["keys"]) <= 7
            seen += page["keys"]
            cursor = page["next_cursor"] or ""
            if not cursor:
                break
    assert len(seen) == len(set(seen)) == len(expected["keys"]) and set(seen) == set(expected["keys"])
