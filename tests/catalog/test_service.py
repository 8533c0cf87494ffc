"""The catalog query service (catalog.service) and its client, against a real store on 127.0.0.1.

Every endpoint is exercised through CatalogClient and through raw HTTP, answers are compared with the
embedded catalog (Store / Catalog), and error answers are checked for status, type and a message
naming the bad input. Also: concurrent clients, corrupt records, restarts, snapshot leases.
Live writers and the ``haybale catalog serve`` command: test_service_processes.py.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from catalog.client import CatalogClient
from catalog.errors import (
    BadRequestError,
    CatalogError,
    CatalogNotFoundError,
    CorruptRecordError,
    InvalidKeyError,
    KeyNotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from catalog.location import Location
from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from catalog.service_store import RefreshingStore
from catalog.store import Store
from catalog.warc_records import resource_record
from tests.catalog.service_helpers import HTML, build_root, raw_http

MAX_BATCH = 50


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(service URL, root, expected answers) for a module-wide service with a small batch limit."""
    root = str(tmp_path_factory.mktemp("svc") / "root")
    expected = build_root(root)
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, max_batch=MAX_BATCH)) as svc:
        yield svc.url, root, expected


@pytest.fixture
def client(served: tuple[str, str, dict[str, Any]]) -> Iterator[CatalogClient]:
    with CatalogClient(served[0]) as c:
        yield c


# -- every endpoint, through the client and raw HTTP, against the embedded answers ----------------
def test_get_and_mark_match_the_embedded_catalog(client: CatalogClient, served: Any) -> None:
    url, _, expected = served
    for key, loc in expected["locations"].items():
        assert client.get(key) == loc
    described = client.describe("https://EXAMPLE.com:443/section/0/page-0.html")
    assert described["canonical_key"] == "https://example.com/section/0/page-0.html"
    assert Path(described["volume_url"]).is_file()
    assert client.mark_of("https://example.com/section/1/page-1.html") == ("duplicate", "of page-5")
    assert client.mark_of("file:///data/dir1/doc-001.txt") is None
    status, answer, _ = raw_http(url, "GET", "/v1/get?key=file%3A%2F%2F%2Fdata%2Fdir1%2Fdoc-004.txt")
    loc = expected["locations"]["file:///data/dir1/doc-004.txt"]
    assert status == 200 and answer["offset"] == loc.offset and answer["digest"] == f"{loc.digest:016x}"
    status, answer, _ = raw_http(url, "GET", "/v1/mark?key=file%3A%2F%2F%2Fdata%2Fdir0%2Fdoc-000.txt")
    assert status == 200 and answer["mark"] == {"status": "removed", "reason": "boilerplate"}


def test_get_many_and_exists_many_keep_order_and_split_big_batches(client: CatalogClient, served: Any) -> None:
    url, _, expected = served
    keys = expected["keys"]
    mixed = [k if i % 3 else f"https://absent.example/{i}" for i, k in enumerate(keys)] * 2
    assert len(mixed) > 2 * MAX_BATCH  # the client must split it
    want = [expected["locations"].get(k) for k in mixed]
    assert client.get_many(mixed) == want
    assert client.exists_many(mixed) == [w is not None for w in want]
    assert client.get_many([]) == [] and client.exists("https://example.com/gz")
    status, answer, _ = raw_http(url, "POST", "/v1/get_many", json.dumps(keys[:3] + ["nope"]).encode())
    assert status == 200 and answer["fields"] == ["volume", "offset", "length", "digest"]
    assert answer["locations"][3] is None
    assert Location(*answer["locations"][0][:3], int(answer["locations"][0][3], 16)) == expected["locations"][keys[0]]
    status, _, packed = raw_http(url, "POST", "/v1/get_many?format=packed", json.dumps(keys[:2] + ["nope"]).encode())
    assert status == 200 and packed[:3] == b"\x01\x01\x00" and len(packed) == 3 + 3 * 22
    assert Location.unpack(packed[3 + 22:3 + 44]) == expected["locations"][keys[1]]
    status, answer, _ = raw_http(url, "POST", "/v1/exists_many", json.dumps({"keys": ["nope", keys[5]]}).encode())
    assert status == 200 and answer == {"exists": [False, True]}


@pytest.mark.parametrize("prefix", ["", "https://example.com/", "https://example.com/section/1/",
                                    "com,example)", "file:///data/dir2/", "https://nothing.example/"])
def test_list_pages_through_in_surt_order(client: CatalogClient, served: Any, prefix: str) -> None:
    url, root, expected = served
    with Store(root, read_only=True, create=False) as store:
        want = list(store.catalog.list(prefix))
        want_items = list(store.catalog.items(prefix))
    assert list(client.list(prefix)) == want
    assert list(client.list(prefix, limit=4)) == want[:4]
    assert list(client.items(prefix)) == want_items
    pages, cursor = [], None
    while True:  # raw HTTP paging with a page size that does not divide the count
        query = f"/v1/list?prefix={prefix}&limit=7" + (f"&cursor={cursor}" if cursor else "")
        status, answer, _ = raw_http(url, "GET", query)
        assert status == 200 and len(answer["keys"]) <= 7
        pages += answer["keys"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == want
    if prefix == "https://example.com/":
        # www.example.org and sub.example.com are other hosts; SURT order lists by path
        assert want and all(k.startswith("https://example.com/") for k in want)


def test_cat_matches_store_cat(client: CatalogClient, served: Any) -> None:
    url, root, expected = served
    for key, content in expected["contents"].items():
        assert client.cat(key) == content
    assert client.cat("https://example.com/gz") == HTML
    raw = client.cat("https://example.com/gz", raw=True)
    assert raw.startswith(b"WARC/1.0\r\n") and b"WARC-Type: response" in raw and b"Content-Encoding: gzip" in raw
    status, _, body = raw_http(url, "GET", "/v1/cat?key=https%3A%2F%2Fexample.com%2Fgz")
    assert status == 200 and body == HTML


def test_stats_and_health(client: CatalogClient, served: Any) -> None:
    url, _, expected = served
    stats = client.stats()
    for field in ("records", "volumes", "volume_bytes", "shards", "slots", "schema_version"):
        assert stats[field] == expected["stats"][field]
    assert stats["records"] == len(expected["keys"])
    health = client.health()
    assert health["status"] == "ok" and health["max_batch"] == MAX_BATCH and health["generation"] >= 1
    status, answer, _ = raw_http(url, "GET", "/v1/stats")
    assert status == 200 and answer["records"] == stats["records"]


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body,status,needle", [
    ("GET", "/v1/get", None, 400, "missing query parameter 'key'"),
    ("GET", "/v1/cat", None, 400, "missing query parameter 'key'"),
    ("GET", "/v1/mark", None, 400, "missing query parameter 'key'"),
    ("GET", "/v1/get?key=", None, 400, "empty key"),
    ("GET", "/v1/get?key=" + "a" * 5000, None, 400, "over the 4096-byte limit"),
    ("GET", "/v1/get?key=https%3A%2F%2F%2Fno-host", None, 400, "no host"),
    ("GET", "/v1/get?key=file%3A%2F%2F%2Fno%2Fsuch", None, 404, "'file:///no/such' is not in the catalog"),
    ("GET", "/v1/cat?key=nope", None, 404, "'nope' is not in the catalog"),
    ("POST", "/v1/get_many", b"[\"a\", ", 400, "not valid JSON"),
    ("POST", "/v1/get_many", b"{\"key\": 1}", 400, "not a list"),
    ("POST", "/v1/exists_many", b"[\"a\", 7]", 400, "key #1 of the batch is a JSON int"),
    ("POST", "/v1/get_many", b"[\"a\", \"\"]", 400, "empty key"),
    ("POST", "/v1/get_many", json.dumps(["k"] * (MAX_BATCH + 1)).encode(), 413, f"limit of {MAX_BATCH} keys"),
    ("POST", "/v1/get_many", b"[" + b"\"x\"," * 600_000 + b"\"x\"]", 413, "request body is over"),
    ("POST", "/v1/get_many?format=xml", b"[]", 400, "format='xml'"),
    ("GET", "/v1/list?limit=0", None, 400, "limit='0'"),
    ("GET", "/v1/list?limit=ten", None, 400, "limit='ten'"),
    ("GET", "/v1/list?cursor=%%%", None, 400, "cursor"),
    ("GET", "/v1/cat?key=nope&raw=maybe", None, 400, "raw='maybe'"),
    ("GET", "/v1/no-such-endpoint", None, 404, "no endpoint GET /v1/no-such-endpoint"),
    ("GET", "/v1/get_many", None, 405, "GET is not allowed"),
])
def test_bad_requests_get_a_json_error_naming_the_input(served: Any, method: str, path: str,
                                                         body: bytes | None, status: int, needle: str) -> None:
    got, answer, raw = raw_http(served[0], method, path, body)
    assert got == status, raw[:300]
    assert needle in answer["error"]["message"], answer
    if status == 404 and "key=" in path:
        assert answer["error"]["type"] == "KeyNotFoundError" and answer["error"]["key"]
    assert served[1] not in raw.decode("utf-8", "replace")  # no server paths in answers


def test_client_raises_the_catalogs_own_errors(client: CatalogClient, served: Any) -> None:
    with pytest.raises(KeyNotFoundError, match="'https://absent.example/x' is not in the catalog") as err:
        client.get("https://absent.example/x")
    assert isinstance(err.value, KeyError) and served[1] not in str(err.value)
    with pytest.raises(KeyNotFoundError):
        client.cat("absent")
    with pytest.raises(InvalidKeyError, match="empty key"):
        client.get("")
    with pytest.raises(InvalidKeyError, match="empty key"):
        client.get_many(["ok", ""])
    with pytest.raises(BadRequestError, match="limit"):
        client.list_page("", limit=0)
    # a page bigger than the service allows is asked at the service's limit (a cursor gives the rest)
    assert len(client.list_page("", limit=10**6)["keys"]) <= client.health()["max_list_limit"]
    with pytest.raises(BadRequestError, match="not http://HOST:PORT"):
        CatalogClient("ftp://somewhere")
    with CatalogClient("http://127.0.0.1:9") as nowhere:  # the discard port: nothing listens
        with pytest.raises(ServiceUnavailableError, match="no catalog service answers at http://127.0.0.1:9"):
            nowhere.health()


def test_start_failures_are_clear_errors(tmp_path: Path, served: Any) -> None:
    with pytest.raises(CatalogNotFoundError, match="no catalog"):
        ServiceThread(ServiceConfig(root=str(tmp_path / "empty"), port=0)).start()
    with pytest.raises(CatalogError, match="max_batch"):
        ServiceConfig(max_batch=0)
    taken = int(served[0].rsplit(":", 1)[1])
    with pytest.raises(ServiceError, match=f"cannot listen on 127.0.0.1:{taken}"):
        ServiceThread(ServiceConfig(root=served[1], port=taken)).start()


def test_client_reconnects_after_a_service_restart(served: Any) -> None:
    _, root, expected = served
    key = expected["keys"][0]
    first = ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0)).start()
    port = int(first.url.rsplit(":", 1)[1])
    with CatalogClient(first.url) as c:
        assert c.get(key) == expected["locations"][key]  # opens a keep-alive connection
        first.stop()  # closes it on the server side
        with ServiceThread(ServiceConfig(root=root, port=port, refresh_seconds=0)):
            assert c.get(key) == expected["locations"][key]  # retried once on a new connection
            assert c.get_many([key]) == [expected["locations"][key]]
        with pytest.raises(ServiceUnavailableError, match="no catalog service answers"):
            c.get(key)


def test_corrupt_record_is_a_clear_error_naming_volume_and_offset(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    with Store(root) as store:
        writer = store.writer()
        for i in range(10):
            writer.append(f"doc-{i}", resource_record(f"doc-{i}", os.urandom(3000)))
        for volume in writer.close():
            store.register_sealed(volume)
        loc = store.catalog.get("doc-4")
        volume_url = store.volume_url(loc.volume)
        good = store.cat("doc-5")
    with open(volume_url, "r+b") as fh:
        fh.seek(loc.offset + loc.length // 2)
        byte = fh.read(1)
        fh.seek(loc.offset + loc.length // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0)) as svc, CatalogClient(svc.url) as c:
        with pytest.raises(CorruptRecordError) as err:
            c.cat("doc-4")
        assert err.value.volume == volume_url and err.value.offset == loc.offset
        assert volume_url in str(err.value) and f"offset {loc.offset}" in str(err.value)
        assert c.cat("doc-5") == good  # the service goes on
        status, answer, _ = raw_http(svc.url, "GET", "/v1/cat?key=doc-4&raw=1")
        assert status == 500 and answer["error"]["type"] == "CorruptRecordError"
        assert answer["error"]["volume"] == volume_url and answer["error"]["offset"] == loc.offset


def test_a_reopen_never_closes_a_snapshot_a_read_still_uses(served: Any) -> None:
    _, root, expected = served
    key = expected["keys"][3]
    backend = RefreshingStore(root)
    try:
        assert backend.refresh() is False and backend.status()["generation"] == 1  # nothing changed
        with backend.lease() as old:
            assert backend.refresh(force=True) is True and backend.status()["generation"] == 2
            assert old.catalog.get(key) == expected["locations"][key]  # still open while leased
            with backend.lease() as new:
                assert new is not old and new.cat(key) == expected["contents"][key]
        assert old.catalog.closed  # closed when its last lease ended
        assert backend.run(lambda store: store.catalog.get(key)) == expected["locations"][key]
    finally:
        backend.close()
    with pytest.raises(ServiceUnavailableError, match="shutting down"):
        with backend.lease():
            pass


# -- concurrency ------------------------------------------------------------------------------------
def test_concurrent_clients_get_correct_answers(served: Any) -> None:
    url, _, expected = served
    keys = expected["keys"]
    shared = CatalogClient(url)
    failures: list[str] = []

    def worker(n: int) -> None:
        own = CatalogClient(url)
        try:
            for i in range(60):
                c = shared if i % 2 else own
                key = keys[(n * 7 + i) % len(keys)]
                if c.get(key) != expected["locations"][key]:
                    failures.append(f"get {key}")
                batch = keys[i % 10:i % 10 + MAX_BATCH]
                if c.get_many(batch) != [expected["locations"][k] for k in batch]:
                    failures.append("get_many")
                if i % 10 == 0 and c.cat(key) != expected["contents"][key]:
                    failures.append(f"cat {key}")
                if i % 20 == 0 and list(c.list("https://example.com/")) != [
                        k for k in keys if k.startswith("https://example.com/")]:
                    failures.append("list")
        except Exception as exc:  # collected: an exception in a thread would otherwise vanish
            failures.append(repr(exc))
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    shared.close()
    assert not failures, failures[:5]


def test_client_batches_fit_the_services_body_limit(served: Any) -> None:
    """With ``--max-body`` below what --max-batch keys take, get_many and exists_many of fewer keys than
    the batch limit were refused (413 "send at most N keys", which they did): the client split batches
    by key count only. It now also keeps each body within the limit the service names in /v1/health."""
    _, root, expected = served
    keys = list(expected["locations"]) + [f"https://absent.example/{i}" for i in range(20)]
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, max_batch=MAX_BATCH, max_body=600)) as svc, \
            CatalogClient(svc.url) as client:
        assert client.get_many(keys) == [expected["locations"].get(k) for k in keys]
        assert client.exists_many(keys) == [k in expected["locations"] for k in keys]
        with pytest.raises(BadRequestError, match="request body is over 600 bytes, this service's limit"):
            client.get_many(["https://example.com/" + "x" * 700])


def test_client_pages_fit_the_services_list_limit(served: Any) -> None:
    """Against a service started with --max-list-limit below the client's page of 5,000, list() and
    items() (so `haybale catalog ls --url`) failed on their first page with 400 limit='5000'."""
    _, root, expected = served
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, max_list_limit=7)) as svc, \
            CatalogClient(svc.url) as client:
        assert list(client.list()) == expected["keys"]
        assert [k for k, _ in client.items(limit=10)] == expected["keys"][:10]
