"""The catalog as a query service (``haybale serve``, alias ``haybale catalog serve``): an HTTP API
over any catalog reader, with a bearer token, limits, metrics and an OpenAPI document.

What it serves from is a :class:`~catalog.service_backend.ServeBackend`: by default the deployment
root's catalog opened read-only and following a live writer (ingest jobs keep writing meanwhile);
or any :class:`~catalog.reader.CatalogReader` (the shard owners' client on a Ray cluster, another
service with ``--upstream``). Every backend call and the JSON work of batch answers runs in a thread
pool, never on the event loop (rocksdict releases the GIL only in batched multi-gets, so one process
uses about one core: run several workers on one port, :mod:`catalog.service_workers`).

Endpoints: the front door's (:mod:`catalog.service_api`: ``/v1/record``, ``/v1/content``,
``/v1/lookup``, ``/v1/list``, ``/v1/stats``, ``/healthz``, ``/metrics``, ``/openapi.json``) and the
earlier ones :class:`~catalog.client.CatalogClient` speaks (:mod:`catalog.service_legacy`:
``/v1/health``, ``/v1/get``, ``/v1/get_many``, ``/v1/exists_many``, ``/v1/cat``, ``/v1/mark``,
``/v1/refresh``). Errors are ``{"error": {"type", "message", ...}}``.

Status codes: 400 bad input (the message names the parameter and the fix), 401 no or wrong token,
404 unknown key or endpoint, 405 wrong method, 413 batch, body or decoded content too large, 416 a
range outside the content, 500 corrupt or missing volume data (naming volume and offset), 503 the
owners or store cannot be reached now (with ``Retry-After``) or the service is shutting down. Client
input never gets a 5xx.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from catalog import service_api, service_legacy
from catalog.errors import CatalogError
from catalog.keys import MAX_KEY_BYTES
from catalog.service_auth import auth_middleware
from catalog.service_common import (
    BACKEND,
    CONFIG,
    MAX_BODY,
    METRICS,
    POOL,
    error_answer,
    error_response,
    log,
    parse_key_batch,
)
from catalog.service_metrics import Metrics

__all__ = ["ServiceConfig", "build_app", "log", "parse_key_batch", "error_answer"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7480
DEFAULT_REFRESH_SECONDS = 2.0
DEFAULT_MAX_BATCH = 10_000
MAX_LIST_LIMIT = 10_000
DEFAULT_THREADS = 4
# a percent-encoded key of MAX_KEY_BYTES can triple in a request line; aiohttp's default is 8 KiB
MAX_REQUEST_LINE = 4 * MAX_KEY_BYTES + 1024
SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServiceConfig:
    """How to run the service.

    ``root``/``catalog_dir``: the deployment root to serve (read-only, following writers), unless
    ``upstream`` (another service's URL, with ``upstream_token``) or ``reader_factory``
    (``"module:function"`` called with ``address`` and ``root``, returning a CatalogReader: how the
    shard owners' client plugs in) names another reader. ``port`` 0 picks a free port;
    ``refresh_seconds`` 0 turns periodic refresh off. Limits: ``max_batch`` keys per lookup,
    ``max_body`` request bytes (0: derived from ``max_batch``), ``max_list_limit`` keys per page,
    ``max_key_bytes`` per key. ``token`` None serves without authentication (``--no-auth``; the CLI
    never does that silently). ``certfile``/``keyfile``: serve HTTPS. ``metrics_dir``: where workers
    share their counts (:mod:`catalog.service_metrics`).
    """

    root: str | None = None
    catalog_dir: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    max_batch: int = DEFAULT_MAX_BATCH
    threads: int = DEFAULT_THREADS
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr, log or traceback
    certfile: str | None = None
    keyfile: str | None = None
    max_body: int = 0
    max_list_limit: int = MAX_LIST_LIMIT
    max_key_bytes: int = MAX_KEY_BYTES
    upstream: str | None = None
    upstream_token: str | None = field(default=None, repr=False)
    address: str | None = None
    reader_factory: str | None = None
    metrics_dir: str | None = None
    reuse_port: bool = False

    def __post_init__(self) -> None:
        if self.refresh_seconds < 0:
            raise CatalogError(f"refresh_seconds={self.refresh_seconds}: give 0 (off) or a positive number")
        if self.max_batch < 1:
            raise CatalogError(f"max_batch={self.max_batch}: give a positive number of keys")
        if self.threads < 1:
            raise CatalogError(f"threads={self.threads}: give at least 1")
        if not 0 <= self.port <= 65535:
            raise CatalogError(f"port={self.port}: give 0 (any free port) to 65535")
        if not 1 <= self.max_list_limit <= MAX_LIST_LIMIT:
            raise CatalogError(f"max_list_limit={self.max_list_limit}: give 1 to {MAX_LIST_LIMIT:,}")
        if not 1 <= self.max_key_bytes <= MAX_KEY_BYTES:
            raise CatalogError(f"max_key_bytes={self.max_key_bytes}: give 1 to {MAX_KEY_BYTES:,} (the catalog's own limit)")
        if self.max_body < 0:
            raise CatalogError(f"max_body={self.max_body}: give a positive number of bytes, or 0 for the default")
        if self.address and not self.reader_factory:
            raise CatalogError(f"--address {self.address}: serving the shard owners of a Ray cluster needs their "
                               "client (issue 10), named with --reader-factory MODULE:FUNCTION; until it is "
                               "installed serve a root (--root) or another service (--upstream)")

    @property
    def body_limit(self) -> int:
        """The largest request body accepted (413 beyond)."""
        return self.max_body or max(1 << 20, self.max_batch * (self.max_key_bytes + 64))


def _endpoint_of(request: web.Request) -> str:
    route = request.match_info.route
    return route.name or ("unknown" if route.resource is None else route.resource.canonical)


@web.middleware
async def _metered(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Count every request (outermost, so 401s and unknown paths count too)."""
    metrics = request.app[METRICS]
    start = time.perf_counter()
    metrics.started()
    status = 500
    try:
        answer = await handler(request)
        status = answer.status
        return answer
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.finished()
        metrics.request(_endpoint_of(request), request.method, status, time.perf_counter() - start)


@web.middleware
async def _errors_as_json(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(404, "NotFound", f"no endpoint {request.method} {request.path}: "
                                  "the endpoints are listed by GET /openapi.json",
                                  endpoints=service_legacy.ENDPOINTS)
        if exc.status == 405:
            return error_response(405, "MethodNotAllowed", f"{request.method} is not allowed on "
                                  f"{request.path}: see the endpoints in GET /openapi.json")
        if exc.status == 413:
            return error_response(413, "BadRequestError", f"request body is over "
                                  f"{request.app[MAX_BODY]:,} bytes, this service's limit (--max-body): send fewer "
                                  "keys per request, "
                                  f"at most {request.app[CONFIG].max_batch:,} and within that size "  # type: ignore[attr-defined]
                                  "(CatalogClient splits batches by both)")
        return error_response(exc.status, type(exc).__name__, exc.text or exc.reason)
    except Exception as exc:
        return error_answer(exc)


def build_app(backend: Any, pool: ThreadPoolExecutor, config: ServiceConfig,
              metrics: Metrics | None = None) -> web.Application:
    """The aiohttp application serving ``backend`` (a ServeBackend); blocking calls go to ``pool``."""
    metrics = metrics or Metrics(config.metrics_dir)
    middlewares: list[Any] = [_metered]
    if config.token is not None:
        middlewares.append(auth_middleware(config.token))
    middlewares.append(_errors_as_json)
    app = web.Application(middlewares=middlewares, client_max_size=config.body_limit)
    app[BACKEND], app[POOL], app[CONFIG], app[MAX_BODY], app[METRICS] = (
        backend, pool, config, config.body_limit, metrics)
    service_api.add_routes(app)
    service_legacy.add_routes(app)
    return app
