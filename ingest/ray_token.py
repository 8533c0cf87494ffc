"""Ray's cluster token for the embedded default's local head, created when this machine has none.

haybale runs Ray with token authentication (``RAY_AUTH_MODE=token``, Ray 2.60's default for local
clusters). Ray's ``ray.init()`` creates its token (``~/.ray/auth_token``) the first time it starts a
local cluster, but a head started as ``ray start --head`` — or as :mod:`ingest.ray_head_process`, which
does what that command does — refuses to start without one ("Token authentication is enabled but no
authentication token was found"). On a machine where nothing had run ``ray.init()`` before, the
first ``haybale`` command (``make demo`` on a fresh machine) failed that way.

:func:`ensure_local_token` gives the local head the token Ray's own loader will find, in Ray's order:
``RAY_AUTH_TOKEN`` (used as is), else the file ``RAY_AUTH_TOKEN_PATH`` names (must exist: the user
chose it), else ``~/.ray/auth_token``, created — 256 random bits as hex, mode 0600, as Ray writes it —
when missing. Creating it is safe with several commands starting heads at once: the file appears whole
(hard link of a finished temporary file) and a second writer uses the first one's token.

Which authentication a haybale process asks Ray for (:func:`set_auth_mode`, before Ray is imported:
Ray reads ``RAY_AUTH_MODE`` once): token authentication for the embedded default's local head
(haybale starts it with tokens, whatever the environment says); for a cluster given by ``--address`` /
``RAY_ADDRESS``, the user's ``RAY_AUTH_MODE`` when set, else token authentication when this machine has a
Ray token and none when it has not — Ray's own rule for a cluster it finds by itself. Forcing tokens there made every command
fail against a cluster started without them ("no authentication token was found") on a machine
that had no token.

Without importing Ray (the head's supervisor stays light).
"""
from __future__ import annotations

import os
from pathlib import Path

from ingest.errors import IngestJobError

TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
MODE_ENV = "RAY_AUTH_MODE"


def default_token_path() -> Path:
    """Where Ray looks for its token when neither variable is set: ``~/.ray/auth_token``."""
    return Path.home() / ".ray" / "auth_token"


def configured_token_file(environ: dict[str, str] | None = None) -> Path | None:
    """The file Ray reads its token from, in Ray's order: None when ``RAY_AUTH_TOKEN`` carries the
    token, else the file ``RAY_AUTH_TOKEN_PATH`` names, else ``~/.ray/auth_token`` (it may not exist)."""
    env = os.environ if environ is None else environ
    if env.get(TOKEN_ENV, "").strip():
        return None
    chosen = env.get(TOKEN_PATH_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else default_token_path()


def ensure_local_token() -> Path | None:
    """Make sure Ray will find a cluster token; return the token file (None when ``RAY_AUTH_TOKEN``
    carries it). Creates ``~/.ray/auth_token`` when no token is configured and the file is missing.

    Raises :class:`IngestJobError` naming the file when ``RAY_AUTH_TOKEN_PATH`` names a missing or
    empty file, or when the default file is empty or cannot be written.
    """
    path = configured_token_file()
    if path is None or _has_token(path):
        return path
    if path != default_token_path():  # the user's choice (RAY_AUTH_TOKEN_PATH): never made up for them
        raise IngestJobError(f"{TOKEN_PATH_ENV}={os.environ[TOKEN_PATH_ENV]}: no Ray token in that file; write "
                             f"one there (`ray get-auth-token --generate` writes {default_token_path()}), or "
                             "unset the variable to let haybale create its own")
    if path.exists():
        if _has_token(path):  # another command created it since the first look (it is written whole)
            return path
        raise IngestJobError(f"Ray's token file {path} is empty: delete it (haybale then creates a new one) "
                             "or write the cluster's token into it")
    try:
        _create(path)
    except OSError as exc:
        raise IngestJobError(f"could not create Ray's token file {path} ({exc.strerror or exc}): make "
                             f"{path.parent} writable, or set {TOKEN_ENV} or {TOKEN_PATH_ENV}") from exc
    return path


def token_available(environ: dict[str, str] | None = None) -> bool:
    """Whether Ray would find a token here: ``RAY_AUTH_TOKEN``, or a non-empty file at
    ``RAY_AUTH_TOKEN_PATH`` (when set) or else at ``~/.ray/auth_token``."""
    path = configured_token_file(environ)
    return path is None or _has_token(path)


def set_auth_mode(address: str | None, environ: dict[str, str] | None = None) -> str | None:
    """Set ``RAY_AUTH_MODE`` in ``environ`` (default: this process's) for a connection to ``address``
    (None: the root's local head, always tokens); for a cluster, unless the user set it. Returns the
    mode in effect (None: Ray's default, no authentication). See the module docstring for the rule."""
    env = os.environ if environ is None else environ
    if address and env.get(MODE_ENV):
        return env[MODE_ENV]
    if not address or token_available(env):
        env[MODE_ENV] = "token"
        return "token"
    return None


def reread_auth_settings() -> None:
    """Make a Ray imported before :func:`set_auth_mode` ran read ``RAY_AUTH_MODE`` and its token again.

    Ray reads them when it is first imported; a program that imported Ray before calling haybale (a
    notebook, a script that imports ``ray`` at its top) kept "no authentication" and could not join
    the root's local head ("InvalidAuthToken", then "the local Ray head … did not answer"). Ray's own
    tests reset the same two caches (``ray._private.authentication_test_utils``). Call it only while
    this process is not connected to a Ray cluster."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without these caches reads the environment when it connects
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def token_advice(sending_one: bool = False) -> str:
    """What to do when a cluster wants a token this machine does not have, or (``sending_one``) a token
    other than the one this machine sends (for error messages)."""
    if sending_one:
        return (f"if the cluster uses token authentication, the token this machine sends ({TOKEN_ENV}, "
                f"{TOKEN_PATH_ENV} or {default_token_path()}) must be the cluster's: `ray get-auth-token` on "
                "the cluster's head prints it")
    return (f"a Ray cluster with token authentication needs its token here: copy it (`ray get-auth-token` "
            f"on the cluster's head prints it) to {default_token_path()}, or set {TOKEN_ENV} or "
            f"{TOKEN_PATH_ENV}")


def is_ray_authentication_error(exc: BaseException) -> bool:
    """Whether ``exc`` is Ray's ``AuthenticationError`` (checked by name: no Ray import needed)."""
    return type(exc).__name__ == "AuthenticationError" and type(exc).__module__.startswith("ray")


def _has_token(path: Path) -> bool:
    try:
        return bool(path.read_text().strip())
    except OSError:
        return False


def _create(path: Path) -> None:
    """Write a new token to ``path`` whole, unless another process got there first (its token stays)."""
    import secrets  # here: every command imports this module, few create a token
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".auth_token-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if the file exists: never replaces a token a running cluster uses
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
