"""The front door (``haybale serve``): its endpoints against the embedded catalog, the OpenAPI document
against the routes and real answers, Prometheus metrics, the bearer token, and TLS. Limits and an
unreachable backend: test_front_door_limits.py; several workers on one port: test_front_door_workers.py.
"""
from __future__ import annotations

import datetime
import http.client
import json
import ssl
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from catalog.client import CatalogClient
from catalog.errors import ServiceError
from catalog.service import ServiceConfig
from catalog.service_api import pack_keys
from catalog.service_openapi import SCHEMAS
from catalog.service_run import ServiceThread
from catalog.wire import unpack_locations
from tests.catalog.service_helpers import build_root

TOKEN = "front-door-test-token-0123456789abcdef"


def call(url: str, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN,
         headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    """One raw request; (status, headers with lower-case names, body)."""
    scheme, rest = url.split("://")
    host, port = rest.split(":")
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, int(port), timeout=30, context=context)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    root = str(tmp_path_factory.mktemp("front") / "root")
    expected = build_root(root)
    config = ServiceConfig(root=root, port=0, refresh_seconds=0, max_batch=100, token=TOKEN)
    with ServiceThread(config) as svc:
        yield svc.url, expected


def test_record_and_content_with_ranges_and_etag(served: Any) -> None:
    url, expected = served
    key = "https://example.com/section/1/page-1.html"
    status, _, body = call(url, "GET", f"/v1/record?key={key}")
    record = json.loads(body)
    jsonschema.validate(record, SCHEMAS["Record"])
    assert status == 200 and record["mark"] == {"status": "duplicate", "reason": "of page-5"}
    loc = expected["locations"][key]
    assert (record["volume"], record["offset"], record["digest"]) == (loc.volume, loc.offset, f"{loc.digest:016x}")

    content = expected["contents"][key]
    status, headers, body = call(url, "GET", f"/v1/content?key={key}")
    assert status == 200 and body == content and int(headers["content-length"]) == len(content)
    etag = headers["etag"]
    assert etag == f'"{loc.digest:016x}-content"'
    status, headers, body = call(url, "GET", f"/v1/content?key={key}", headers={"Range": "bytes=2-5"})
    assert status == 206 and body == content[2:6] and headers["content-range"] == f"bytes 2-5/{len(content)}"
    assert int(headers["content-length"]) == 4
    status, _, body = call(url, "GET", f"/v1/content?key={key}", headers={"Range": "bytes=-3"})
    assert status == 206 and body == content[-3:]
    status, _, body = call(url, "GET", f"/v1/content?key={key}", headers={"Range": "bytes=4-"})
    assert status == 206 and body == content[4:]
    status, _, body = call(url, "GET", f"/v1/content?key={key}", headers={"If-None-Match": etag})
    assert status == 304 and body == b""
    status, headers, raw = call(url, "GET", f"/v1/content?key={key}&raw=1")
    assert status == 200 and raw.startswith(b"WARC/1.") and headers["etag"] != etag


def test_lookup_json_and_packed_match_the_embedded_catalog(served: Any) -> None:
    url, expected = served
    keys = list(expected["locations"])[:60] + ["https://absent.example/", "file:///nope"]
    want = [expected["locations"].get(k) for k in keys]
    status, _, body = call(url, "POST", "/v1/lookup", json.dumps(keys).encode())
    answer = json.loads(body)
    jsonschema.validate(answer, SCHEMAS["Lookup"])
    rows = [(r[0], r[1], r[2], int(r[3], 16)) if r else None for r in answer["locations"]]
    assert status == 200 and rows == [(w.volume, w.offset, w.length, w.digest) if w else None for w in want]
    status, _, body = call(url, "POST", "/v1/lookup?format=packed", pack_keys(keys),
                           headers={"Content-Type": "application/x-haybale-keys"})
    assert status == 200 and unpack_locations(body, len(keys)) == want


def test_list_pages_with_cursor_cover_every_key_once(served: Any) -> None:
    url, expected = served
    seen: list[str] = []
    cursor = ""
    while True:
        status, _, body = call(url, "GET", "/v1/list?limit=7&locations=1" + (f"&cursor={cursor}" if cursor else ""))
        page = json.loads(body)
        jsonschema.validate(page, SCHEMAS["ListPage"])
        assert status == 200 and len(page["keys"]) <= 7 and len(page["locations"]) == len(page["keys"])
        seen += page["keys"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == expected["keys"]
    status, _, body = call(url, "GET", "/v1/stats")
    jsonschema.validate(json.loads(body), SCHEMAS["Stats"])
    assert status == 200 and json.loads(body)["records"] == expected["stats"]["records"]


def test_openapi_documents_exactly_the_routes_served(served: Any, tmp_path: Path) -> None:
    url, _ = served
    status, _, body = call(url, "GET", "/openapi.json")
    doc = json.loads(body)
    assert status == 200 and doc["openapi"] == "3.1.0" and doc["security"] == [{"bearer": []}]
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    from catalog.service import build_app

    app = build_app(None, None, ServiceConfig(token=TOKEN))  # type: ignore[arg-type]
    served_routes = {(r.resource.canonical, r.method) for r in app.router.routes() if r.method != "HEAD"}
    assert documented == served_routes
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and "200" in op["responses"]
            assert "401" in op["responses"] or op.get("security") == []
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_metrics_count_requests_errors_and_backend_calls(served: Any) -> None:
    url, expected = served
    key = expected["keys"][0]
    for _ in range(3):
        assert call(url, "GET", f"/v1/record?key={key}")[0] == 200
    assert call(url, "GET", "/v1/record?key=https://absent.example/")[0] == 404
    assert call(url, "GET", "/v1/stats", token="wrong-token-wrong-token")[0] == 401
    status, headers, body = call(url, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("haybale_http_requests_total",
                    (("endpoint", "record"), ("method", "GET"), ("status", "200")))] >= 3
    assert samples[("haybale_http_errors_total", (("endpoint", "record"), ("status", "404")))] >= 1
    assert samples[("haybale_http_errors_total", (("endpoint", "stats"), ("status", "401")))] >= 1
    assert samples[("haybale_backend_calls_total", (("call", "record"), ("outcome", "ok")))] >= 3
    assert samples[("haybale_backend_calls_total", (("call", "record"), ("outcome", "KeyNotFoundError")))] >= 1
    assert samples[("haybale_http_request_seconds_count", (("endpoint", "record"),))] >= 4
    assert ("haybale_backend_call_seconds_bucket", (("call", "record"), ("le", "+Inf"))) in samples


def test_every_endpoint_but_healthz_wants_the_token(served: Any) -> None:
    url, expected = served
    key = expected["keys"][0]
    requests = [("GET", f"/v1/record?key={key}"), ("GET", f"/v1/content?key={key}"), ("POST", "/v1/lookup"),
                ("GET", "/v1/list"), ("GET", "/v1/stats"), ("GET", "/metrics"), ("GET", "/openapi.json"),
                ("GET", "/v1/health"), ("GET", f"/v1/get?key={key}"), ("POST", "/v1/get_many"),
                ("GET", f"/v1/cat?key={key}"), ("POST", "/v1/refresh"), ("GET", "/v1/no-such-endpoint")]
    for token in (None, "not-the-token-not-the-token", TOKEN + "x", ""):
        for method, path in requests:
            body = json.dumps([key]).encode() if method == "POST" else None
            status, headers, answer = call(url, method, path, body, token=token)
            assert status == 401, (token, path)
            assert headers["www-authenticate"].startswith("Bearer")
            assert key.encode() not in answer and b"Bearer <token>" in answer
    assert call(url, "GET", "/healthz", token=None)[:3:2] == (200, b'{"status": "ok"}')
    with CatalogClient(url, token=TOKEN) as client:
        assert client.get(key) == expected["locations"][key]
    with CatalogClient(url, token="wrong-token-wrong-token") as client, pytest.raises(ServiceError) as err:
        client.get(key)
    assert err.value.status == 401 and "Bearer" in str(err.value)


def self_signed(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files), made with ``cryptography``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "haybale test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    expected = build_root(root)
    certfile, keyfile = self_signed(tmp_path)
    config = ServiceConfig(root=root, port=0, refresh_seconds=0, token=TOKEN, certfile=certfile, keyfile=keyfile)
    with ServiceThread(config) as svc:
        assert svc.url.startswith("https://127.0.0.1:")
        key = expected["keys"][3]
        with CatalogClient(svc.url, token=TOKEN, cafile=certfile) as client:
            assert client.get(key) == expected["locations"][key]
            assert client.cat(key) == expected["contents"][key]
        with CatalogClient(svc.url, token=TOKEN) as untrusting, pytest.raises(ServiceError):
            untrusting.get(key)  # the system's authorities do not vouch for a self-signed certificate
        plain = "http://" + svc.url.split("://")[1]
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            call(plain, "GET", "/healthz")
    with pytest.raises(Exception, match="both --certfile and --keyfile"):
        ServiceThread(ServiceConfig(root=root, port=0, certfile=certfile)).start()


def test_the_config_never_shows_its_tokens() -> None:
    """A ServiceConfig's repr (in a log line, a traceback with locals, a failed assertion) showed the
    bearer token and the upstream token."""
    config = ServiceConfig(root="/nowhere", token=TOKEN, upstream_token=TOKEN[::-1])
    assert TOKEN not in repr(config) and TOKEN[::-1] not in repr(config) and "/nowhere" in repr(config)
    assert config.token == TOKEN  # still there for the service
