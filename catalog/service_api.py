"""The front door's endpoints (``haybale serve``): records, content with ranges, batched lookups,
listings, stats, health, metrics and the OpenAPI document. Request checks live here too: every bad
input is a 4xx whose message names the input and the fix (the limits are in
:class:`~catalog.service.ServiceConfig`).

==============================  ==============================================================
``GET  /v1/record?key=K``       location, volume URL and dedup mark of K (JSON)
``GET  /v1/content?key=K``      the content (``raw=1``: the whole WARC record), honouring one
                                ``Range: bytes=a-b``; ``ETag`` from the record digest,
                                ``If-None-Match`` → 304
``POST /v1/lookup``             keys as a JSON list, or packed (``application/x-haybale-keys``:
                                per key a 2-byte big-endian length and the UTF-8 key) →
                                JSON rows, or packed locations with ``?format=packed``
``GET  /v1/list``               ``prefix``, ``limit``, ``cursor``, ``locations=1``
``GET  /v1/stats``              the catalog's statistics
``GET  /healthz``               ``{"status": "ok"}``, no token needed, no data
``GET  /metrics``               Prometheus text (requests, latencies, errors, backend calls)
``GET  /openapi.json``          this API as OpenAPI 3.1
==============================  ==============================================================
"""
from __future__ import annotations

import json
import re
import struct
from typing import Any

from aiohttp import web

from catalog.errors import BadRequestError, KeyNotFoundError
from catalog.service_backend import location_rows
from catalog.service_common import (
    BACKEND,
    CONFIG,
    METRICS,
    batch_call,
    blocking,
    error_response,
    flag_param,
    json_answer,
    json_bytes,
    key_param,
    limit_param,
    max_decoded_param,
    parse_key_batch,
    utf8_param,
)
from catalog.service_cursors import open_cursor, seal_cursor
from catalog.service_openapi import openapi_document
from catalog.wire import LOCATION_FIELDS, WARNINGS_HEADER

PACKED_KEYS_TYPE = "application/x-haybale-keys"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_packed_keys(body: bytes, max_batch: int, max_key_bytes: int) -> list[str]:
    """Keys of a packed lookup body (per key: 2-byte big-endian length, then that many UTF-8 bytes).
    :class:`BadRequestError` for a cut body, bad UTF-8, an oversized key or too many keys."""
    keys: list[str] = []
    pos, end = 0, len(body)
    while pos < end:
        if pos + 2 > end:
            raise BadRequestError(f"packed key list is cut after {len(keys)} keys (a 2-byte length needs "
                                  f"2 bytes at offset {pos}): send per key a 2-byte big-endian length and the key", 400)
        (size,) = struct.unpack_from(">H", body, pos)
        pos += 2
        if size > max_key_bytes or pos + size > end:
            raise BadRequestError(f"packed key #{len(keys)} claims {size} bytes at offset {pos}: keys are at most "
                                  f"{max_key_bytes} bytes and must lie inside the body", 400)
        try:
            keys.append(body[pos:pos + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequestError(f"packed key #{len(keys)} at offset {pos} is not UTF-8: send keys as UTF-8",
                                  400) from None
        pos += size
        if len(keys) > max_batch:
            raise BadRequestError(f"more than {max_batch:,} keys in one lookup: split the batch (CatalogClient "
                                  "does)", 413)
    return keys


def pack_keys(keys: list[str]) -> bytes:
    """The packed request form of ``keys`` (the inverse of :func:`parse_packed_keys`)."""
    parts = []
    for key in keys:
        data = key.encode("utf-8")
        parts.append(struct.pack(">H", len(data)) + data)
    return b"".join(parts)


def check_key(request: web.Request, key: str) -> str:
    """``key`` if it is a usable key: not empty and within ``max_key_bytes``."""
    limit = request.app[CONFIG].max_key_bytes
    size = len(key.encode("utf-8", "surrogatepass"))
    if size == 0:
        raise BadRequestError("query parameter 'key' is empty: give the key (a URL, a file:// URI or an id)", 400)
    if size > limit:
        raise BadRequestError(f"key of {size:,} bytes ({key[:60]!r}...) is over this service's limit of "
                              f"{limit:,} bytes: catalog keys are at most {limit:,} bytes", 400)
    return key


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of one ``bytes=`` range over ``size`` bytes; None for no header.
    400 for a malformed or multi-part range, 416 for one outside the content (every range of empty
    content is: RFC 9110 has no byte to point at, so no ``Content-Range`` of a 206 could describe it)."""
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if not found or (not found.group(1) and not found.group(2)):
        raise BadRequestError(f"Range {header[:80]!r} is not one 'bytes=FIRST-LAST', 'bytes=FIRST-' or "
                              "'bytes=-SUFFIX' range (multi-part ranges are not served)", 400)
    first, last = found.group(1), found.group(2)
    if first and last and int(last) < int(first):
        raise BadRequestError(f"Range {header!r} ends before it starts: give FIRST <= LAST", 400)
    if size == 0:
        raise BadRequestError(f"Range {header[:80]!r} asks for bytes of an empty content (0 bytes): read it "
                              "without a Range header", 416)
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise BadRequestError(f"Range {header!r} asks for the last 0 bytes: ask for at least one", 416)
        return max(0, size - n), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size:
        raise BadRequestError(f"Range {header!r} starts at byte {start} but the content has {size} bytes: ask "
                              f"for a range inside 0-{max(size - 1, 0)}", 416)
    return start, end


def _none_match(header: str, etag: str) -> bool:
    """True if ``If-None-Match: header`` matches ``etag`` (RFC 9110 13.1.2: ``*``, or any listed tag by
    weak comparison, so a cache or proxy that weakened the tag to ``W/"..."`` still gets its 304)."""
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or etag in tags or f"W/{etag}" in tags


async def record(request: web.Request) -> web.Response:
    key = check_key(request, key_param(request))
    try:
        found = await blocking(request, request.app[BACKEND].record, key)
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]
        raise
    return web.json_response(found)


async def content(request: web.Request) -> web.StreamResponse:
    key = check_key(request, key_param(request))
    raw = flag_param(request, "raw")
    max_decoded = max_decoded_param(request)
    warnings: list[str] = []
    try:
        data, loc = await blocking(request, request.app[BACKEND].content, key, raw, max_decoded, warnings)
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]
        raise
    etag = f'"{loc.digest:016x}-{"raw" if raw else "content"}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes"}
    if warnings:
        headers[WARNINGS_HEADER] = json.dumps(warnings)
    if _none_match(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    try:
        span = parse_range(request.headers.get("Range", ""), len(data))
    except BadRequestError as exc:
        if exc.status != 416:
            raise
        # RFC 9110 15.5.17: a 416 says how long the content is, so the client can ask again
        return error_response(416, "BadRequestError", str(exc),
                              headers={**headers, "Content-Range": f"bytes */{len(data)}"})
    if span is None:
        return web.Response(body=data, content_type="application/octet-stream", headers=headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
    return web.Response(status=206, body=data[start:end], content_type="application/octet-stream", headers=headers)


async def lookup(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "packed"):
        raise BadRequestError(f"format={fmt[:40]!r} is not a lookup answer format: give json (default) or packed", 400)
    body = await request.read()
    packed_in = request.content_type == PACKED_KEYS_TYPE
    backend = request.app[BACKEND]

    def work() -> bytes:
        keys = (parse_packed_keys(body, config.max_batch, config.max_key_bytes) if packed_in
                else parse_key_batch(body, config.max_batch, config.max_key_bytes))
        if fmt == "packed":
            return batch_call(keys, backend.packed)  # type: ignore[no-any-return]
        return json_bytes({"fields": LOCATION_FIELDS, "locations": location_rows(batch_call(keys, backend.locations))})

    answer = await blocking(request, work)
    if fmt == "packed":
        return web.Response(body=answer, content_type="application/octet-stream")
    return json_answer(answer)


async def list_keys(request: web.Request) -> web.Response:
    prefix = utf8_param(request, "prefix", "") or ""
    if len(prefix.encode("utf-8", "surrogatepass")) > request.app[CONFIG].max_key_bytes:
        raise BadRequestError(f"prefix of {len(prefix):,} characters is longer than any key "
                              f"({request.app[CONFIG].max_key_bytes:,} bytes): give a shorter prefix", 400)
    limit = limit_param(request)
    cursor = request.query.get("cursor") or None
    with_locations = flag_param(request, "locations")
    backend = request.app[BACKEND]

    def work() -> bytes:
        scope = backend.cursor_scope()
        inner = open_cursor(cursor, scope, prefix) if cursor else None
        keys, next_inner, rows = backend.list_page(prefix, limit, inner)
        next_cursor = seal_cursor(next_inner, scope, prefix) if next_inner else None
        out: dict[str, Any] = {"keys": keys, "next_cursor": next_cursor}
        if with_locations:
            out["fields"] = LOCATION_FIELDS
            out["locations"] = rows if rows is not None else location_rows(backend.locations(keys))
        return json_bytes(out)

    return json_answer(await blocking(request, work))


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await blocking(request, request.app[BACKEND].stats))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    text = await blocking(request, request.app[METRICS].render)
    return web.Response(text=text, content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[CONFIG]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/record", record, name="record")
    app.router.add_get("/v1/content", content, name="content")
    app.router.add_post("/v1/lookup", lookup, name="lookup")
    app.router.add_get("/v1/list", list_keys, name="list")
    app.router.add_get("/v1/stats", stats, name="stats")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/openapi.json", openapi, name="openapi")
