"""Who may ask the service: a bearer token on every request but ``GET /healthz``, and optional TLS.

Token sources, first found wins: ``--token-file PATH`` (the file's first line), ``HAYBALE_TOKEN``,
``HAYBALE_TOKEN_FILE``. When none is set, ``haybale serve`` generates one and prints it once (an
operator copies it; a restart generates a new one). ``--no-auth`` serves without a token and says so
loudly on every start: for loopback experiments only.

A request without ``Authorization: Bearer <token>`` or with a wrong token gets 401, a
``WWW-Authenticate: Bearer`` header and a JSON error that says how to send the token, and no data. The
comparison is constant-time (:func:`hmac.compare_digest`).
"""
from __future__ import annotations

import hmac
import ssl
from typing import Awaitable, Callable

from aiohttp import web

from catalog.errors import CatalogError
from catalog.tokens import TOKEN_ENV, TOKEN_FILE_ENV

OPEN_PATHS = frozenset({"/healthz"})


def auth_middleware(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware refusing requests without ``Authorization: Bearer <token>`` (401)."""
    expected = token.encode("ascii")

    @web.middleware
    async def require_token(request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
            return await handler(request)
        why = "no Authorization header" if not header else "the token is not this service's"
        return web.json_response(
            {"error": {"type": "Unauthorized",
                       "message": f"{why}: send 'Authorization: Bearer <token>' (the token `haybale serve` "
                                  f"printed or was given; clients read {TOKEN_ENV} or {TOKEN_FILE_ENV})"}},
            status=401, headers={"WWW-Authenticate": 'Bearer realm="haybale"'})

    return require_token


def tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """A server TLS context for ``certfile``/``keyfile`` (None when neither is given); a clear
    :class:`CatalogError` when only one is given or they cannot be loaded."""
    if not certfile and not keyfile:
        return None
    if not certfile or not keyfile:
        raise CatalogError("TLS needs both --certfile and --keyfile (PEM files): give both, or neither for "
                           "plain HTTP")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise CatalogError(f"cannot load the TLS certificate {certfile} with key {keyfile} ({exc}): give a PEM "
                           "certificate and its matching private key") from exc
    return ctx
