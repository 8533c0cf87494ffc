"""The catalog as a query service: an HTTP JSON API over a deployment root's catalog (``haybale
catalog serve``), so users and jobs can look keys up without opening RocksDB themselves.

The service opens the root read-only (ingest jobs keep writing meanwhile) through
:class:`~catalog.service_store.RefreshingStore`, which reopens it when the writer changed the catalog:
checked every ``refresh_seconds`` and on ``POST /v1/refresh``.

Every RocksDB or volume read, and the JSON work of batch answers, runs in a thread pool, never on the
event loop. rocksdict releases the GIL only inside RocksDB's batched multi-get (``Rdict.get(list)``),
not for single gets, key canonicalization or building result lists, and volume reads release it in
``pread``. So threads do not add CPU parallelism for lookups (one service process uses about one
core); what the pool buys is that a 10,000-key batch (tens of ms) no longer blocks other clients'
requests for its whole duration: the loop gets the GIL back every switch interval. Measured in
bench/catalog_service_bench.py (single gets beside back-to-back 10k batches: p50 barely moves, p99
grows to a few switch intervals). Answering a single get on the loop itself would save ~90 µs of
thread hand-off (measured: p50 230 vs 320 µs), at the price of stalling everyone on a cold disk read;
we keep the pool.

Endpoints (all answers JSON except ``cat``; errors are ``{"error": {"type", "message", ...}}``):

==========================  ==================================================================
``GET  /v1/health``         status, snapshot generation and age, limits
``GET  /v1/get?key=K``      K's location and volume URL; 404 KeyNotFoundError naming K
``POST /v1/get_many``       body: JSON list of keys → ``{"fields", "locations": [row|null]}``
                            (``?format=packed``: binary, see :mod:`catalog.wire`)
``POST /v1/exists_many``    body: JSON list of keys → ``{"exists": [bool]}``
``GET  /v1/list``           ``prefix``, ``limit`` (≤ 10,000), ``cursor``, ``locations=1``
``GET  /v1/cat?key=K``      the record's content (``raw=1``: whole WARC record; ``max_decoded=N``:
                            the decoded-size cap), octet-stream; warnings in a header (catalog.wire)
``GET  /v1/stats``          ``Catalog.stats()``
``GET  /v1/mark?key=K``     ``{"key", "mark": {"status", "reason"} | null}``
``POST /v1/refresh``        reopen now if the catalog changed (``force=1``: reopen anyway)
==========================  ==================================================================

Status codes: 400 bad input (the message names the parameter and the fix), 404 unknown key or
endpoint, 405 wrong method, 413 batch or body too large, 500 corrupt or missing volume data (the
message names volume and offset), 503 shutting down or no catalog.
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from catalog import service_reads as reads
from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import (
    BadRequestError,
    CatalogError,
    CatalogNotFoundError,
    CorruptRecordError,
    InvalidKeyError,
    KeyNotFoundError,
    ServiceError,
    VolumeError,
)
from catalog.keys import MAX_KEY_BYTES
from catalog.service_store import RefreshingStore
from catalog.wire import WARNINGS_HEADER

log = logging.getLogger("haybale.catalog.service")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7480
DEFAULT_REFRESH_SECONDS = 2.0
DEFAULT_MAX_BATCH = 10_000
DEFAULT_LIST_LIMIT = 1_000
MAX_LIST_LIMIT = 10_000
DEFAULT_THREADS = 4
# a percent-encoded key of MAX_KEY_BYTES can triple in a request line; aiohttp's default is 8 KiB
MAX_REQUEST_LINE = 4 * MAX_KEY_BYTES + 1024
SHUTDOWN_GRACE_SECONDS = 5.0
ENDPOINTS = ["GET /v1/health", "GET /v1/get?key=", "POST /v1/get_many?format=json|packed", "POST /v1/exists_many",
             "GET /v1/list?prefix=&limit=&cursor=&locations=", "GET /v1/cat?key=&raw=&max_decoded=",
             "GET /v1/stats", "GET /v1/mark?key=", "POST /v1/refresh?force="]


@dataclass(frozen=True)
class ServiceConfig:
    """How to run the service. ``port`` 0 picks a free port; ``refresh_seconds`` 0 turns periodic
    refresh off (reopen only on ``POST /v1/refresh``); ``max_batch`` caps keys per batch request."""

    root: str | None = None
    catalog_dir: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    max_batch: int = DEFAULT_MAX_BATCH
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if self.refresh_seconds < 0:
            raise CatalogError(f"refresh_seconds={self.refresh_seconds}: give 0 (off) or a positive number")
        if self.max_batch < 1:
            raise CatalogError(f"max_batch={self.max_batch}: give a positive number of keys")
        if self.threads < 1:
            raise CatalogError(f"threads={self.threads}: give at least 1")
        if not 0 <= self.port <= 65535:
            raise CatalogError(f"port={self.port}: give 0 (any free port) to 65535")


# -- errors as HTTP answers ------------------------------------------------------------------------
def _error_response(status: int, kind: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"type": kind, "message": message, **extra}}
    return web.json_response(body, status=status)


def error_answer(exc: BaseException) -> web.Response:
    """The HTTP answer for an exception raised while serving a request."""
    if isinstance(exc, KeyNotFoundError):
        return _error_response(404, "KeyNotFoundError", str(exc), key=getattr(exc, "key", None))
    if isinstance(exc, BadRequestError):
        return _error_response(exc.status or 400, "BadRequestError", str(exc))
    if isinstance(exc, ServiceError):
        return _error_response(exc.status or 500, type(exc).__name__, str(exc))
    if isinstance(exc, InvalidKeyError):
        return _error_response(400, "InvalidKeyError", str(exc))
    if isinstance(exc, CorruptRecordError):
        return _error_response(500, "CorruptRecordError", str(exc), volume=exc.volume, offset=exc.offset)
    if isinstance(exc, VolumeError):
        return _error_response(500, type(exc).__name__, str(exc))
    if isinstance(exc, CatalogNotFoundError):
        return _error_response(503, "CatalogNotFoundError", str(exc))
    if isinstance(exc, CatalogError):
        return _error_response(500, type(exc).__name__, str(exc))
    log.exception("unexpected error serving a catalog request", exc_info=exc)
    return _error_response(500, "InternalError", f"{type(exc).__name__}: {exc}")


@web.middleware
async def _errors_as_json(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return _error_response(404, "NotFound", f"no endpoint {request.method} {request.path}: "
                                   "the endpoints are listed by GET /v1/health", endpoints=ENDPOINTS)
        if exc.status == 405:
            return _error_response(405, "MethodNotAllowed", f"{request.method} is not allowed on "
                                   f"{request.path}: see the endpoints listed by GET /v1/health")
        if exc.status == 413:
            return _error_response(413, "BadRequestError", f"request body is over "
                                   f"{request.app[_MAX_BODY]:,} bytes: send at most "
                                   f"{request.app[_CONFIG].max_batch:,} keys per request")
        return _error_response(exc.status, type(exc).__name__, exc.text or exc.reason)
    except Exception as exc:
        return error_answer(exc)


# -- request parsing -------------------------------------------------------------------------------
def _key_param(request: web.Request) -> str:
    key = request.query.get("key")
    if key is None:
        raise BadRequestError(f"missing query parameter 'key': call {request.method} "
                              f"{request.path}?key=<URL-encoded key>", 400)
    return key


def _flag_param(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "0").lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise BadRequestError(f"query parameter {name}={value[:40]!r} is not a flag: give 1 or 0", 400)


def _format_param(request: web.Request) -> str:
    value = request.query.get("format", "json")
    if value not in ("json", "packed"):
        raise BadRequestError(f"format={value[:40]!r} is not a batch answer format: give json (default) "
                              "or packed", 400)
    return value


def _limit_param(request: web.Request) -> int:
    text = request.query.get("limit", str(DEFAULT_LIST_LIMIT))
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise BadRequestError(f"limit={text[:40]!r} is not a whole number from 1 to {MAX_LIST_LIMIT:,}: "
                              "page through longer listings with 'cursor'", 400)
    return limit


def parse_key_batch(body: bytes, max_batch: int) -> list[str]:
    """The keys of a batch request body: a JSON list of strings, or ``{"keys": [...]}``.

    Raises :class:`BadRequestError` (400 bad JSON or element, 413 over ``max_batch``).
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"request body is not valid JSON ({exc}): send a JSON list of key "
                              'strings, e.g. ["https://example.com/", "file:///data/a.txt"]', 400) from None
    if isinstance(data, dict) and "keys" in data:
        data = data["keys"]
    if not isinstance(data, list):
        raise BadRequestError(f"request body is a JSON {type(data).__name__}, not a list: send a JSON "
                              'list of key strings, e.g. ["https://example.com/"]', 400)
    if len(data) > max_batch:
        raise BadRequestError(f"batch of {len(data):,} keys is over this service's limit of "
                              f"{max_batch:,} keys per request: split it (CatalogClient does)", 413)
    for i, key in enumerate(data):
        if not isinstance(key, str):
            raise BadRequestError(f"key #{i} of the batch is a JSON {type(key).__name__} ({str(key)[:40]}), "
                                  "not a string: send every key as a string", 400)
    return data


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json", charset="utf-8")


# -- handlers --------------------------------------------------------------------------------------
_BACKEND = web.AppKey("backend", RefreshingStore)
_POOL = web.AppKey("pool", ThreadPoolExecutor)
_CONFIG = web.AppKey("config", ServiceConfig)
_MAX_BODY = web.AppKey("max_body", int)


async def _blocking(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in the service's thread pool (never on the event loop)."""
    return await asyncio.get_running_loop().run_in_executor(request.app[_POOL], fn, *args)


async def health(request: web.Request) -> web.Response:
    backend, config = request.app[_BACKEND], request.app[_CONFIG]
    return web.json_response({
        "status": "ok", "root": backend.root, "catalog": str(backend.catalog_dir),
        **backend.status(), "refresh_seconds": config.refresh_seconds, "max_batch": config.max_batch,
        "max_list_limit": MAX_LIST_LIMIT, "max_key_bytes": MAX_KEY_BYTES, "endpoints": ENDPOINTS})


async def get_one(request: web.Request) -> web.Response:
    key = _key_param(request)
    backend = request.app[_BACKEND]
    try:
        found = await _blocking(request, backend.run, lambda s: reads.describe(s, key))
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]  # named in the JSON error
        raise
    return web.json_response(found)


async def get_many(request: web.Request) -> web.Response:
    body = await request.read()
    backend, config = request.app[_BACKEND], request.app[_CONFIG]

    packed = _format_param(request) == "packed"

    def work() -> bytes:
        keys = parse_key_batch(body, config.max_batch)
        if packed:
            return backend.run(lambda s: reads.packed_locations(s, keys))  # type: ignore[no-any-return]
        rows = backend.run(lambda s: reads.location_rows(s, keys))
        return _json_bytes({"fields": reads.LOCATION_FIELDS, "locations": rows})

    answer = await _blocking(request, work)
    return web.Response(body=answer, content_type="application/octet-stream") if packed else _json_answer(answer)


async def exists_many(request: web.Request) -> web.Response:
    body = await request.read()
    backend, config = request.app[_BACKEND], request.app[_CONFIG]

    def work() -> bytes:
        keys = parse_key_batch(body, config.max_batch)
        return _json_bytes({"exists": backend.run(lambda s: s.catalog.exists_many(keys))})

    return _json_answer(await _blocking(request, work))


async def list_keys(request: web.Request) -> web.Response:
    prefix = request.query.get("prefix", "")
    limit = _limit_param(request)
    cursor = request.query.get("cursor") or None
    with_locations = _flag_param(request, "locations")
    backend = request.app[_BACKEND]

    def work() -> bytes:
        def page(store: Any) -> dict[str, Any]:
            keys, next_cursor = reads.list_page(store.catalog, prefix, limit, cursor)
            out: dict[str, Any] = {"keys": keys, "next_cursor": next_cursor}
            if with_locations:
                out["fields"] = reads.LOCATION_FIELDS
                out["locations"] = reads.location_rows(store, keys)
            return out

        return _json_bytes(backend.run(page))

    return _json_answer(await _blocking(request, work))


async def cat(request: web.Request) -> web.Response:
    key = _key_param(request)
    raw = _flag_param(request, "raw")
    max_decoded = _max_decoded_param(request)
    backend = request.app[_BACKEND]
    warnings: list[str] = []
    try:
        data = await _blocking(request, backend.run,
                               lambda s: s.cat(key, raw=raw, max_decoded=max_decoded, warnings=warnings))
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]
        raise
    headers = {WARNINGS_HEADER: json.dumps(warnings)} if warnings else None
    return web.Response(body=data, content_type="application/octet-stream", headers=headers)


def _max_decoded_param(request: web.Request) -> int:
    text = request.query.get("max_decoded", str(DEFAULT_MAX_DECODED_BYTES))
    if not text.isdigit() or int(text) < 1:
        raise BadRequestError(f"max_decoded={text[:40]!r} is not a positive whole number of bytes", 400)
    return int(text)


async def stats(request: web.Request) -> web.Response:
    backend = request.app[_BACKEND]
    return web.json_response(await _blocking(request, backend.run, lambda s: s.catalog.stats()))


async def mark_of(request: web.Request) -> web.Response:
    key = _key_param(request)
    backend = request.app[_BACKEND]
    found = await _blocking(request, backend.run, lambda s: reads.mark(s, key))
    return web.json_response({"key": key, "mark": found})


async def refresh(request: web.Request) -> web.Response:
    force = _flag_param(request, "force")
    backend = request.app[_BACKEND]
    reopened = await _blocking(request, lambda: backend.refresh(force=force))
    return web.json_response({"reopened": reopened, **backend.status()})


def build_app(backend: RefreshingStore, pool: ThreadPoolExecutor, config: ServiceConfig) -> web.Application:
    """The aiohttp application serving ``backend``; blocking reads go to ``pool``."""
    max_body = max(1 << 20, config.max_batch * (MAX_KEY_BYTES + 64))
    app = web.Application(middlewares=[_errors_as_json], client_max_size=max_body)
    app[_BACKEND], app[_POOL], app[_CONFIG], app[_MAX_BODY] = backend, pool, config, max_body
    app.router.add_get("/v1/health", health)
    app.router.add_get("/v1/get", get_one)
    app.router.add_post("/v1/get_many", get_many)
    app.router.add_post("/v1/exists_many", exists_many)
    app.router.add_get("/v1/list", list_keys)
    app.router.add_get("/v1/cat", cat)
    app.router.add_get("/v1/stats", stats)
    app.router.add_get("/v1/mark", mark_of)
    app.router.add_post("/v1/refresh", refresh)
    return app
