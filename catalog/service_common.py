"""What the service's handlers share: the application's keys, running blocking reads off the event
loop, request parameter checks, JSON answers, and errors as HTTP answers."""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import (
    BadRequestError,
    CatalogError,
    CorruptRecordError,
    DecodedSizeError,
    InvalidKeyError,
    KeyNotFoundError,
    ServiceError,
    VolumeError,
)
from catalog.service_backend import is_unavailable
from catalog.service_metrics import Metrics

log = logging.getLogger("haybale.catalog.service")
T = TypeVar("T")

DEFAULT_LIST_LIMIT = 1_000
RETRY_AFTER_SECONDS = 5

BACKEND = web.AppKey("backend", object)
POOL = web.AppKey("pool", ThreadPoolExecutor)
CONFIG = web.AppKey("config", object)
METRICS = web.AppKey("metrics", Metrics)
MAX_BODY = web.AppKey("max_body", int)


async def blocking(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in the service's thread pool (never on the event loop)."""
    return await asyncio.get_running_loop().run_in_executor(request.app[POOL], fn, *args)


# -- request parameters ----------------------------------------------------------------------------
def utf8_param(request: web.Request, name: str, default: str | None = None) -> str | None:
    """Query parameter ``name`` (``default`` when absent); 400 if it is given more than once or is not
    percent-encoded UTF-8 (aiohttp would hand invalid bytes over as U+FFFD, and a key or prefix would
    be looked up as another)."""
    given = request.query.getall(name, [])
    if len(given) > 1:  # which one was meant? answering for the first would be a silent guess
        raise BadRequestError(f"query parameter {name!r} is given {len(given)} times ({given[0][:40]!r}, "
                              f"{given[1][:40]!r}, ...): give it once (one request per key; batches: POST "
                              "/v1/lookup)", 400)
    value = given[0] if given else default
    if value is not None and "\ufffd" in value:
        try:
            parse_qsl(request.query_string, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BadRequestError(f"query parameter {name!r} is not percent-encoded UTF-8: encode its UTF-8 "
                                  f"bytes (e.g. curl -G --data-urlencode {name}=...)", 400) from None
    return value


def key_param(request: web.Request) -> str:
    """The ``key`` query parameter; 400 if it is missing or not percent-encoded UTF-8 (every endpoint
    taking a key checks that the same way)."""
    key = utf8_param(request, "key")
    if key is None:
        raise BadRequestError(f"missing query parameter 'key': call {request.method} "
                              f"{request.path}?key=<URL-encoded key>", 400)
    return key


def flag_param(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "0").lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise BadRequestError(f"query parameter {name}={value[:40]!r} is not a flag: give 1 or 0", 400)


def max_decoded_param(request: web.Request) -> int:
    """``max_decoded``: the decoded-size cap of a content read (default 64 MiB); 400 unless a positive
    whole number of bytes."""
    text = request.query.get("max_decoded", str(DEFAULT_MAX_DECODED_BYTES))
    if not text.isdigit() or int(text) < 1:
        raise BadRequestError(f"max_decoded={text[:40]!r} is not a positive whole number of bytes", 400)
    return int(text)


def limit_param(request: web.Request) -> int:
    most = request.app[CONFIG].max_list_limit  # type: ignore[attr-defined]
    text = request.query.get("limit", str(min(DEFAULT_LIST_LIMIT, most)))
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise BadRequestError(f"limit={text[:40]!r} is not a whole number from 1 to {most:,}: "
                              "page through longer listings with 'cursor'", 400)
    return limit


def parse_key_batch(body: bytes, max_batch: int, max_key_bytes: int) -> list[str]:
    """The keys of a batch request body: a JSON list of strings, or ``{"keys": [...]}``.

    Raises :class:`BadRequestError` (400 bad JSON or element, or a key over ``max_key_bytes`` in
    UTF-8, naming its position; 413 over ``max_batch``).
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
        check_key_size(key, i, max_key_bytes)
    return data


def check_key_size(key: str, position: int, max_key_bytes: int) -> None:
    """Raise a 400 naming key #``position`` of a batch when it is over ``max_key_bytes`` in UTF-8: no
    catalog key is that long, so answering "not found" would hide a client's mistake."""
    if len(key) > max_key_bytes // 4 and len(key.encode("utf-8", "surrogatepass")) > max_key_bytes:
        raise BadRequestError(f"key #{position} of the batch ({key[:60]!r}...) is over {max_key_bytes:,} bytes: "
                              "catalog keys are at most that long", 400)


def batch_call(keys: Sequence[str], fn: Callable[[Sequence[str]], T]) -> T:
    """``fn(keys)``; an :class:`InvalidKeyError` it raises names the batch position of the first key
    the catalog refuses ("key #7 of the batch: empty key ''..."), so a client can find it in 10,000."""
    try:
        return fn(keys)
    except InvalidKeyError as exc:
        from catalog.keys import canonical_key

        for i, key in enumerate(keys):
            try:
                canonical_key(key)
            except InvalidKeyError as bad:
                raise InvalidKeyError(f"key #{i} of the batch: {bad}") from exc
        raise


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json", charset="utf-8")


# -- errors as HTTP answers ------------------------------------------------------------------------
def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, **extra}}, status=status,
                             headers=headers)


def error_answer(exc: BaseException) -> web.Response:
    """The HTTP answer for an exception raised while serving a request. A backend that cannot be
    reached is 503 with ``Retry-After`` (the client should retry), never 500."""
    if isinstance(exc, KeyNotFoundError):
        key = getattr(exc, "key", None)
        message = (f"key {key!r} is not in the catalog: check the spelling, or list nearby keys "
                   "(GET /v1/ls?prefix=...)") if key is not None else str(exc)
        return error_response(404, "KeyNotFoundError", message, key=key)
    if isinstance(exc, BadRequestError):
        return error_response(exc.status or 400, "BadRequestError", str(exc))
    if is_unavailable(exc):
        return error_response(503, "ServiceUnavailableError",
                              f"the catalog's owners or store cannot be reached now ({type(exc).__name__}: "
                              f"{str(exc)[:300]}): retry in {RETRY_AFTER_SECONDS} s",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, ServiceError) and exc.status in (401, 403):
        # the upstream service refused this service's token: the caller's own token was accepted, so
        # relaying "the token is not this service's" would send them looking at the wrong token
        base = exc.url.split("/v1/", 1)[0]
        return error_response(502, "UpstreamAuthError",
                              f"the catalog service this one relays to ({base}) refused this service's token "
                              f"(HTTP {exc.status}); your token was accepted: the operator must set "
                              "HAYBALE_UPSTREAM_TOKEN to the upstream service's token and restart this service")
    if isinstance(exc, ServiceError):
        return error_response(exc.status or 500, type(exc).__name__, str(exc))
    if isinstance(exc, InvalidKeyError):
        return error_response(400, "InvalidKeyError", str(exc))
    if isinstance(exc, DecodedSizeError):
        return error_response(413, "DecodedSizeError", str(exc))
    if isinstance(exc, CorruptRecordError):
        return error_response(500, "CorruptRecordError", str(exc), volume=exc.volume, offset=exc.offset)
    if isinstance(exc, VolumeError):
        return error_response(500, type(exc).__name__, str(exc))
    if isinstance(exc, CatalogError):
        return error_response(500, type(exc).__name__, str(exc))
    log.exception("unexpected error serving a catalog request", exc_info=exc)
    return error_response(500, "InternalError", f"{type(exc).__name__}: {exc}")
