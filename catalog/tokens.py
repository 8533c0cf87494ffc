"""Bearer tokens of the catalog service: where the service and its clients find them (no HTTP here,
so the client does not import the server's dependencies).

Sources, first found wins: an explicit token or ``--token-file PATH`` (the file's first line), then
``HAYBALE_TOKEN``, then the file named by ``HAYBALE_TOKEN_FILE``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Mapping

from catalog.errors import CatalogError

TOKEN_ENV = "HAYBALE_TOKEN"
TOKEN_FILE_ENV = "HAYBALE_TOKEN_FILE"
MIN_TOKEN_CHARS = 16


def read_token_file(path: str) -> str:
    """The token in ``path`` (its first line, stripped); :class:`CatalogError` naming the file if it
    cannot be read or holds no token."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"token file {path}: cannot read it ({exc.strerror or exc}): give a readable "
                           f"file holding the token on its first line, or set {TOKEN_ENV}") from exc
    token = text.splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise CatalogError(f"token file {path} is empty: put the token on its first line")
    return token


def check_token(token: str, source: str) -> str:
    """``token`` if it is long enough and printable ASCII; else :class:`CatalogError` naming ``source``."""
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
        raise CatalogError(f"the token from {source} is not usable: give at least {MIN_TOKEN_CHARS} printable "
                           "ASCII characters without spaces (e.g. `python -c 'import secrets; "
                           "print(secrets.token_urlsafe(32))'`)")
    return token


def find_token(token_file: str | None, env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """(token, where it came from) from ``--token-file``, ``HAYBALE_TOKEN`` or ``HAYBALE_TOKEN_FILE``;
    (None, "") when none is set."""
    env = os.environ if env is None else env
    if token_file:
        return check_token(read_token_file(token_file), f"--token-file {token_file}"), f"--token-file {token_file}"
    if env.get(TOKEN_ENV):
        return check_token(env[TOKEN_ENV].strip(), TOKEN_ENV), TOKEN_ENV
    if env.get(TOKEN_FILE_ENV):
        path = env[TOKEN_FILE_ENV]
        return check_token(read_token_file(path), f"{TOKEN_FILE_ENV}={path}"), f"{TOKEN_FILE_ENV}={path}"
    return None, ""


def generate_token() -> str:
    return secrets.token_urlsafe(32)


def client_token(token: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The token a client sends: ``token`` if given, else ``HAYBALE_TOKEN``, else the file named by
    ``HAYBALE_TOKEN_FILE``; None if none is set."""
    if token:
        return token
    found, _ = find_token(None, env)
    return found
