"""The endpoints :class:`~catalog.client.CatalogClient` and the ``--url`` commands speak (issue 9's
API), served over any backend beside the front door's (:mod:`catalog.service_api`).

==========================  ==================================================================
``GET  /v1/health``         status, backend (snapshot generation and age for a root), limits
``GET  /v1/get?key=K``      K's location and volume URL; 404 KeyNotFoundError naming K
``POST /v1/get_many``       body: JSON list of keys → ``{"fields", "locations": [row|null]}``
                            (``?format=packed``: binary, see :mod:`catalog.wire`)
``POST /v1/exists_many``    body: JSON list of keys → ``{"exists": [bool]}``
``GET  /v1/cat?key=K``      the record's content (``raw=1``, ``max_decoded=N``), octet-stream
``GET  /v1/mark?key=K``     ``{"key", "mark": {"status", "reason"} | null}``
``POST /v1/refresh``        reopen now if the catalog changed (``force=1``: reopen anyway)
==========================  ==================================================================
"""
from __future__ import annotations

import json
import os

from aiohttp import web

from catalog.errors import BadRequestError, KeyNotFoundError
from catalog.service_backend import location_rows
from catalog.service_common import (
    BACKEND,
    CONFIG,
    batch_call,
    blocking,
    flag_param,
    json_answer,
    json_bytes,
    key_param,
    max_decoded_param,
    parse_key_batch,
)
from catalog.wire import LOCATION_FIELDS, WARNINGS_HEADER

ENDPOINTS = ["GET /v1/record?key=", "GET /v1/content?key=&raw=", "POST /v1/lookup?format=json|packed",
             "GET /v1/list?prefix=&limit=&cursor=&locations=", "GET /v1/stats", "GET /healthz", "GET /metrics",
             "GET /openapi.json", "GET /v1/health", "GET /v1/get?key=", "POST /v1/get_many?format=json|packed",
             "POST /v1/exists_many", "GET /v1/cat?key=&raw=&max_decoded=", "GET /v1/mark?key=",
             "POST /v1/refresh?force="]


async def health(request: web.Request) -> web.Response:
    backend, config = request.app[BACKEND], request.app[CONFIG]
    return web.json_response({
        "status": "ok", "worker_pid": os.getpid(), **backend.status(), "refresh_seconds": config.refresh_seconds,
        "max_batch": config.max_batch, "max_list_limit": config.max_list_limit,
        "max_key_bytes": config.max_key_bytes, "max_body_bytes": config.body_limit, "endpoints": ENDPOINTS})


async def get_one(request: web.Request) -> web.Response:
    key = key_param(request)
    try:
        found = await blocking(request, request.app[BACKEND].record, key)
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]  # named in the JSON error
        raise
    found.pop("mark", None)
    return web.json_response(found)


def _format_param(request: web.Request) -> str:
    value = request.query.get("format", "json")
    if value not in ("json", "packed"):
        raise BadRequestError(f"format={value[:40]!r} is not a batch answer format: give json (default) "
                              "or packed", 400)
    return value


async def get_many(request: web.Request) -> web.Response:
    body = await request.read()
    backend, config = request.app[BACKEND], request.app[CONFIG]
    packed = _format_param(request) == "packed"

    def work() -> bytes:
        keys = parse_key_batch(body, config.max_batch, config.max_key_bytes)
        if packed:
            return batch_call(keys, backend.packed)  # type: ignore[no-any-return]
        return json_bytes({"fields": LOCATION_FIELDS, "locations": location_rows(batch_call(keys, backend.locations))})

    answer = await blocking(request, work)
    return web.Response(body=answer, content_type="application/octet-stream") if packed else json_answer(answer)


async def exists_many(request: web.Request) -> web.Response:
    body = await request.read()
    backend, config = request.app[BACKEND], request.app[CONFIG]

    def work() -> bytes:
        keys = parse_key_batch(body, config.max_batch, config.max_key_bytes)
        return json_bytes({"exists": [loc is not None for loc in batch_call(keys, backend.locations)]})

    return json_answer(await blocking(request, work))


async def cat(request: web.Request) -> web.Response:
    key = key_param(request)
    raw = flag_param(request, "raw")
    max_decoded = max_decoded_param(request)
    warnings: list[str] = []
    try:
        data, _ = await blocking(request, request.app[BACKEND].content, key, raw, max_decoded, warnings)
    except KeyNotFoundError as exc:
        exc.key = key  # type: ignore[attr-defined]
        raise
    headers = {WARNINGS_HEADER: json.dumps(warnings)} if warnings else None
    return web.Response(body=data, content_type="application/octet-stream", headers=headers)


async def mark_of(request: web.Request) -> web.Response:
    key = key_param(request)
    found = await blocking(request, request.app[BACKEND].mark, key)
    return web.json_response({"key": key, "mark": found})


async def refresh(request: web.Request) -> web.Response:
    force = flag_param(request, "force")
    backend = request.app[BACKEND]
    reopened = await blocking(request, backend.refresh, force)
    return web.json_response({"reopened": reopened, **backend.status()})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/health", health, name="health")
    app.router.add_get("/v1/get", get_one, name="get")
    app.router.add_post("/v1/get_many", get_many, name="get_many")
    app.router.add_post("/v1/exists_many", exists_many, name="exists_many")
    app.router.add_get("/v1/cat", cat, name="cat")
    app.router.add_get("/v1/mark", mark_of, name="mark")
    app.router.add_post("/v1/refresh", refresh, name="refresh")
