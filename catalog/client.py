"""A Python client of the catalog service (``haybale catalog serve``), mirroring the embedded API.

::

    with CatalogClient("http://127.0.0.1:7480") as cat:
        loc = cat.get("https://example.com/")          # Location, or KeyNotFoundError
        locs = cat.get_many(keys)                        # [Location | None], any number of keys
        for key in cat.list("https://example.com/"):     # SURT order, paged transparently
            ...
        body = cat.cat("https://example.com/")

Errors are the catalog's own (:mod:`catalog.errors`): :class:`KeyNotFoundError` for an unknown key,
:class:`InvalidKeyError` for a key the catalog refuses, :class:`CorruptRecordError` (with ``volume`` and
``offset``) for damaged record bytes, :class:`BadRequestError` for other rejected input,
:class:`ServiceUnavailableError` when nothing answers at the URL, :class:`ServiceError` otherwise.

One keep-alive connection per thread (``http.client``, no dependency); a client may be shared by
threads. Every request is a read, so a request that fails on a connection the server has closed in
the meantime is retried once on a new connection.
"""
from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlencode, urlsplit

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import (
    BadRequestError,
    CatalogError,
    CatalogNotFoundError,
    CorruptRecordError,
    InvalidKeyError,
    KeyNotFoundError,
    ServiceError,
    ServiceUnavailableError,
    VolumeError,
    VolumeNotFoundError,
)
from catalog.location import Location
from catalog.tokens import client_token
from catalog.wire import WARNINGS_HEADER, location_from_dict, location_from_row, unpack_locations

if TYPE_CHECKING:
    from catalog.warc_records import ParsedRecord

DEFAULT_URL = "http://127.0.0.1:7480"
LIST_PAGE = 5_000
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                     http.client.CannotSendRequest, http.client.BadStatusLine)


class CatalogClient:
    """Talks to the catalog service at ``url`` (``http://host:port``).

    ``batch_size`` caps keys per batch request (default: the service's own limit, asked once); a batch
    is also split so that its body stays within the service's ``--max-body`` (asked once as well).
    ``timeout`` is per request, in seconds. ``token`` is sent as ``Authorization: Bearer`` (default:
    ``HAYBALE_TOKEN``, else the file named by ``HAYBALE_TOKEN_FILE``, looked up in ``env``, default
    ``os.environ``; ``env={}`` sends no token unless one is given; none found: no header). For
    ``https://`` URLs, ``cafile`` (default: ``HAYBALE_CA_FILE``) is the certificate authority to trust
    beside the system's (a self-signed service certificate).
    """

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 30.0, batch_size: int | None = None,
                 token: str | None = None, cafile: str | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequestError(f"catalog service URL {url!r} is not http://HOST:PORT: give e.g. {DEFAULT_URL}")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self.timeout = timeout
        self._batch_size = batch_size
        self._max_body: int | None = None  # the service's request body limit, 0 if it names none
        self._max_list: int | None = None  # the most keys the service sends in one listing page
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._conns_lock = threading.Lock()
        self._token = client_token(token, env)
        self._auth = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=cafile or os.environ.get("HAYBALE_CA_FILE") or None)

    # -- transport ---------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _request(self, method: str, endpoint: str, params: dict[str, Any] | None = None,
                 body: bytes | None = None, headers_out: dict[str, str] | None = None) -> tuple[int, bytes]:
        path = f"{self._base}/v1/{endpoint}" + (f"?{urlencode(params)}" if params else "")
        headers = {**self._auth, **({"Content-Type": "application/json"} if body is not None else {})}
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except _STALE_CONNECTION as exc:
                self._drop_connection()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: one retry
                raise ServiceUnavailableError(f"catalog service at {self.url} closed the connection "
                                              f"({exc!r}): is it shutting down?", 0, self.url + path) from exc
            except OSError as exc:  # refused, unreachable, timed out
                self._drop_connection()
                raise ServiceUnavailableError(f"no catalog service answers at {self.url} ({exc}): start "
                                              "one with `haybale catalog serve`, or check --url",
                                              0, self.url + path) from exc
            if resp.status >= 400:
                raise _error_from_answer(resp.status, data, self.url + path)
            if headers_out is not None:
                headers_out.update(resp.getheaders())
            return resp.status, data
        raise AssertionError("unreachable")

    def _json(self, method: str, endpoint: str, params: dict[str, Any] | None = None,
              payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        _, data = self._request(method, endpoint, params, body)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ServiceError(f"catalog service at {self.url} answered {endpoint} with something that "
                               f"is not JSON ({data[:80]!r}): is the URL a haybale catalog service?",
                               200, self.url) from exc

    # -- the embedded API, over HTTP -------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Service status: snapshot generation and age, limits, endpoints."""
        return self._json("GET", "health")  # type: ignore[no-any-return]

    def describe(self, key: str) -> dict[str, Any]:
        """``key``'s location fields, canonical key and ``volume_url`` (what ``catalog get`` prints)."""
        return self._json("GET", "get", {"key": key})  # type: ignore[no-any-return]

    def get(self, key: str) -> Location:
        """Location of ``key``; raises :class:`KeyNotFoundError` (a ``KeyError``) if absent."""
        return location_from_dict(self.describe(key))

    def _limits(self) -> None:
        """Ask the service once for its limits (keys per batch, body bytes, keys per page)."""
        if self._batch_size is None or self._max_body is None or self._max_list is None:
            health = self.health()
            if self._batch_size is None:
                self._batch_size = int(health["max_batch"])
            self._max_body = int(health.get("max_body_bytes") or 0)
            self._max_list = int(health.get("max_list_limit") or LIST_PAGE)

    def batch_size(self) -> int:
        self._limits()
        assert self._batch_size is not None
        return self._batch_size

    def _bodies(self, keys: Sequence[str]) -> Iterator[tuple[list[str], bytes]]:
        """(keys, JSON body) of the batch requests for ``keys``: at most :meth:`batch_size` keys each,
        halved until the body fits the service's body limit (a lone key over it is sent, and refused
        with the service's 413 naming the limit)."""
        size = self.batch_size()
        for start in range(0, len(keys), size):
            yield from self._fitted(list(keys[start:start + size]))

    def _fitted(self, chunk: list[str]) -> Iterator[tuple[list[str], bytes]]:
        body = json.dumps(chunk, ensure_ascii=False).encode("utf-8")
        if not self._max_body or len(body) <= self._max_body or len(chunk) == 1:
            yield chunk, body
            return
        half = len(chunk) // 2
        yield from self._fitted(chunk[:half])
        yield from self._fitted(chunk[half:])

    def _batched(self, endpoint: str, field: str, keys: Sequence[str]) -> list[Any]:
        out: list[Any] = []
        for _, body in self._bodies(keys):
            _, data = self._request("POST", endpoint, None, body)
            try:
                out += json.loads(data)[field]
            except (ValueError, KeyError, TypeError) as exc:
                raise ServiceError(f"catalog service at {self.url} sent a malformed {endpoint} answer "
                                   f"({data[:80]!r}): is the URL a haybale catalog service?", 200, self.url) from exc
        return out

    def get_many(self, keys: Sequence[str]) -> list[Location | None]:
        """Locations of ``keys`` in input order, None for keys not registered (any number of keys:
        sent in batches within the service's key and body limits)."""
        out: list[Location | None] = []
        for chunk, body in self._bodies(keys):
            _, data = self._request("POST", "get_many", {"format": "packed"}, body)
            try:
                out += unpack_locations(data, len(chunk))
            except ValueError as exc:
                raise ServiceError(f"catalog service at {self.url} sent a malformed get_many answer: {exc}",
                                   200, self.url) from exc
        return out

    def exists(self, key: str) -> bool:
        return self.exists_many([key])[0]

    def exists_many(self, keys: Sequence[str]) -> list[bool]:
        return [bool(x) for x in self._batched("exists_many", "exists", keys)]

    def list_page(self, prefix: str = "", limit: int = LIST_PAGE, cursor: str | None = None,
                  locations: bool = False) -> dict[str, Any]:
        """One page: ``{"keys", "next_cursor"}`` (+ ``"locations"`` rows when asked); pass
        ``next_cursor`` back to get the next page; it is None after the last page. A page holds at most
        the service's page limit: fewer keys than ``limit``, with a cursor, when the service allows fewer
        (a front door over an upstream with a smaller limit answered 400)."""
        self._limits()
        if self._max_list:
            limit = min(limit, self._max_list)
        params: dict[str, Any] = {"prefix": prefix, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        if locations:
            params["locations"] = 1
        return self._json("GET", "list", params)  # type: ignore[no-any-return]

    def _pages(self, prefix: str, limit: int | None, locations: bool) -> Iterator[dict[str, Any]]:
        self._limits()
        page_size = min(LIST_PAGE, self._max_list or LIST_PAGE)  # a service may allow fewer per page
        cursor: str | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            page = self.list_page(prefix, size, cursor, locations)
            if remaining is not None:
                remaining -= len(page["keys"])
            yield page
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]:
        """Canonical keys starting with ``prefix`` (URL, SURT or plain prefix), as ``Catalog.list``."""
        for page in self._pages(prefix, limit, locations=False):
            yield from page["keys"]

    def items(self, prefix: str = "", limit: int | None = None) -> Iterator[tuple[str, Location]]:
        """(canonical key, location) under ``prefix`` in listing order, as ``Catalog.items``."""
        for page in self._pages(prefix, limit, locations=True):
            for key, row in zip(page["keys"], page["locations"]):
                if row is not None:  # deleted between listing and lookup
                    yield key, location_from_row(row)

    def cat(self, key: str, *, raw: bool = False, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
            warnings: list[str] | None = None) -> bytes:
        """The record's content as ``Store.cat`` gives it (``raw``: the whole WARC record); a body over
        ``max_decoded`` bytes is refused by the service (a :class:`ServiceError` naming the key and the
        cap); the service's warnings about the body are appended to ``warnings``."""
        headers: dict[str, str] = {}
        _, data = self._request("GET", "cat", {"key": key, "raw": int(raw), "max_decoded": max_decoded},
                                headers_out=headers)
        if warnings is not None:
            found = next((v for k, v in headers.items() if k.lower() == WARNINGS_HEADER.lower()), "")
            warnings.extend(json.loads(found) if found else [])
        return data

    def cat_whole(self, key: str, write: Callable[[bytes], Any], warnings: list[str] | None = None) -> int:
        """Stream the body :meth:`cat` gives to ``write``, whatever its decoded size, in pieces of at
        most 1 MiB, as ``Store.cat_whole`` does: the service sends the record as stored (``cat?raw=1``,
        whose size is the stored block's, e.g. a gzip body still compressed) and the transfer and
        content encodings are undone here, streamed, so memory stays bounded on both sides."""
        from catalog.record_body import iter_record_body

        record = _parse_raw_record(self.cat(key, raw=True), f"{key} (cat?raw=1 from {self.url})")
        warn = warnings.append if warnings is not None else (lambda _: None)
        written = 0
        for piece in iter_record_body(record.record_type, record.header("Content-Type"),
                                      record.header("WARC-Target-URI"), record.block,
                                      source=f"{key} (record from the catalog service at {self.url})", warn=warn,
                                      truncated=record.header("WARC-Truncated")):
            write(piece)
            written += len(piece)
        return written

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "stats")  # type: ignore[no-any-return]

    def mark_of(self, key: str) -> tuple[str, str] | None:
        """The (status, reason) mark of a key, or None."""
        mark = self._json("GET", "mark", {"key": key})["mark"]
        return (mark["status"], mark["reason"]) if mark else None

    def refresh(self, *, force: bool = False) -> dict[str, Any]:
        """Ask the service to reopen the catalog now if a writer changed it (``force``: anyway), so
        that everything registered before this call is visible to later requests."""
        return self._json("POST", "refresh", {"force": int(force)})  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> "CatalogClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ERRORS: dict[str, type[CatalogError]] = {
    "KeyNotFoundError": KeyNotFoundError, "InvalidKeyError": InvalidKeyError,
    "VolumeNotFoundError": VolumeNotFoundError, "VolumeError": VolumeError,
    "CatalogNotFoundError": CatalogNotFoundError,
}


def _error_from_answer(status: int, data: bytes, url: str) -> CatalogError:
    """The catalog error an error answer stands for (the service's message, unchanged)."""
    try:
        err = json.loads(data)["error"]
        kind, message = str(err["type"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        return ServiceError(f"catalog service answered HTTP {status} for {url}: {data[:200]!r}", status, url)
    if kind == "CorruptRecordError":
        return CorruptRecordError(message, str(err.get("volume", "")), int(err.get("offset", -1)))
    if kind in _ERRORS:
        return _ERRORS[kind](message)
    if status in (400, 413) or kind == "BadRequestError":
        return BadRequestError(message, status, url)
    if status == 503:
        return ServiceUnavailableError(message, status, url)
    return ServiceError(f"{kind}: {message}", status, url)


def _parse_raw_record(raw: bytes, source: str) -> "ParsedRecord":
    """The WARC record the service's ``cat?raw=1`` sends (``Store.cat(raw=True)``: a version line, the
    headers, a blank line, the block, then ``\\r\\n\\r\\n``), parsed back."""
    from catalog.warc_records import ParsedRecord

    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"WARC/") or not rest.endswith(b"\r\n\r\n"):
        raise ServiceError(f"{source}: the service did not send a whole WARC record ({len(raw):,} bytes): is it "
                           "a haybale catalog service of the same version? Read with --root instead")
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
    return ParsedRecord(headers, rest[:-4], lines[0], head)
