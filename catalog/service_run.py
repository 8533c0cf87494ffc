"""Starting and stopping the catalog service: in the foreground with signal handling (``haybale catalog
serve``), or on a background thread of this process (:class:`ServiceThread`, for tests and notebooks).

Shutdown (SIGTERM, SIGINT, :meth:`RunningService.stop`) stops accepting connections, lets requests in
flight finish (up to :data:`~catalog.service.SHUTDOWN_GRACE_SECONDS`), stops the refresh task, waits
for the read threads and closes the store (releasing RocksDB and volume file handles).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple

from aiohttp import web

from catalog.errors import ServiceError
from catalog.service import MAX_REQUEST_LINE, SHUTDOWN_GRACE_SECONDS, ServiceConfig, build_app, log
from catalog.service_auth import tls_context
from catalog.service_backend import MeteredBackend, ReaderBackend, RootBackend
from catalog.service_metrics import Metrics
from catalog.service_store import RefreshingStore
from catalog.tokens import TOKEN_ENV, generate_token

ORPHAN_CHECK_SECONDS = 0.5


def open_backend(config: ServiceConfig) -> Any:
    """The backend ``config`` names: another service (``upstream``), a reader from ``reader_factory``
    (called with ``address`` and ``root``: the shard owners' client plugs in here), else the root's
    catalog read-only. Blocking."""
    if config.upstream:
        from catalog.client import CatalogClient

        # only upstream_token goes upstream: never this service's own HAYBALE_TOKEN (env={}), which is
        # a credential of this service's clients, not of the service it relays to
        return ReaderBackend(CatalogClient(config.upstream, token=config.upstream_token, env={}),
                             f"catalog service at {config.upstream}")
    if config.reader_factory:
        module_name, _, function = config.reader_factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as exc:
            raise ServiceError(f"--reader-factory {config.reader_factory}: cannot import it ({exc}): give "
                               "MODULE:FUNCTION of an installed module returning a CatalogReader") from exc
        return ReaderBackend(factory(address=config.address, root=config.root),
                             f"{config.reader_factory} (address {config.address})")
    return RootBackend(RefreshingStore(config.root, config.catalog_dir))


class RunningService:
    """A started service; ``url`` is where it answers (the real port when the config asked for 0)."""

    def __init__(self, runner: web.AppRunner, backend: Any, pool: ThreadPoolExecutor,
                 refresher: asyncio.Task[None] | None, url: str, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.dumper = (asyncio.create_task(_share_metrics(metrics))
                       if metrics is not None and metrics.metrics_dir is not None else None)
        self.runner = runner
        self.backend = backend
        self.pool = pool
        self.refresher = refresher
        self.url = url

    async def stop(self) -> None:
        """Stop serving and close the store; idempotent."""
        if self.dumper is not None:
            self.dumper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.dumper
            self.dumper = None
        if self.refresher is not None:
            self.refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.refresher
            self.refresher = None
        await self.runner.cleanup()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.pool.shutdown)
        await loop.run_in_executor(None, self.backend.close)
        if self.metrics is not None:
            self.metrics.maybe_dump(every=0)  # the last counts, for the workers still serving


async def _share_metrics(metrics: Metrics) -> None:
    """Write this worker's counts for the other workers' scrapes every second (idle workers too)."""
    while True:
        await asyncio.sleep(1.0)
        metrics.maybe_dump(every=0)


async def _follow_writer(backend: Any, pool: ThreadPoolExecutor, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(seconds)
        try:
            await loop.run_in_executor(pool, backend.refresh, False)
        except Exception as exc:  # kept in backend.last_error; the old snapshot keeps serving
            log.warning("catalog service: reopening the catalog failed (will retry): %s", exc)


def _bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024, reuse_port=reuse_port)


async def start_service(config: ServiceConfig, backend: Any = None) -> RunningService:
    """Open the backend (:func:`open_backend`, unless one is given), bind, and start answering.
    Raises :class:`~catalog.errors.CatalogNotFoundError` if the root has no catalog,
    :class:`~catalog.errors.ServiceError` if it cannot listen on the address,
    :class:`~catalog.errors.CatalogError` for unusable TLS files."""
    loop = asyncio.get_running_loop()
    ssl_ctx = tls_context(config.certfile, config.keyfile)
    if backend is None:
        backend = await loop.run_in_executor(None, open_backend, config)
    follows_writer = isinstance(backend, RootBackend)  # other readers follow their writers themselves
    metrics = Metrics(config.metrics_dir)
    backend = MeteredBackend(backend, metrics)
    pool = ThreadPoolExecutor(config.threads, thread_name_prefix="catalog-service")
    try:
        sock = _bind(config.host, config.port, config.reuse_port)
    except OSError as exc:
        pool.shutdown()
        backend.close()
        raise ServiceError(f"cannot listen on {config.host}:{config.port} ({exc.strerror or exc}): is another "
                           "service using the port? pick another --port, or 0 for any free port") from exc
    runner = web.AppRunner(build_app(backend, pool, config, metrics), access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_GRACE_SECONDS, max_line_size=MAX_REQUEST_LINE,
                           max_field_size=MAX_REQUEST_LINE)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=ssl_ctx).start()
    refresher = (asyncio.create_task(_follow_writer(backend, pool, config.refresh_seconds))
                 if config.refresh_seconds > 0 and follows_writer else None)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_ctx is not None else "http"
    return RunningService(runner, backend, pool, refresher, f"{scheme}://{shown}:{port}", metrics)


async def _stop_when_orphaned(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once this process's parent is no longer ``parent`` (it died, even by SIGKILL)."""
    while os.getppid() == parent:
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
    log.warning("catalog service: its supervisor (pid %s) is gone: stopping", parent)
    stop.set()


def serve(config: ServiceConfig, announce: Callable[[RunningService], None] | None = None,
          parent: int | None = None) -> None:
    """Run the service in the foreground until SIGTERM or SIGINT, then shut down cleanly.

    ``announce`` is called once the service answers (the CLI prints the URL there). ``parent``: the
    supervisor's pid; the service also stops (cleanly) when it is no longer this process's parent, so a
    supervisor killed without its cleanup leaves no worker serving the port with its old token.
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watch = asyncio.create_task(_stop_when_orphaned(parent, stop)) if parent is not None else None
        service = await start_service(config)
        try:
            if announce is not None:
                announce(service)
            await stop.wait()
        finally:
            if watch is not None:
                watch.cancel()
            await service.stop()

    asyncio.run(main())


class ServiceThread:
    """The service on a background thread of this process. ``start()`` returns once it answers
    (or raises what starting raised); ``stop()`` shuts it down and joins the thread."""

    def __init__(self, config: ServiceConfig, backend: Any = None) -> None:
        self.config = config
        self.backend = backend
        self.url = ""
        self.service: RunningService | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> "ServiceThread":
        self._thread = threading.Thread(target=self._run, name="catalog-service", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.service = await start_service(self.config, self.backend)
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self.url = self.service.url
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.service.stop()

        asyncio.run(main())

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and self._error is None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> "ServiceThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Spawned(NamedTuple):
    """A service started by :func:`spawn_service`: its process, URL and bearer token."""

    process: "subprocess.Popen[str]"
    url: str
    token: str


def spawn_service(root: str, *args: str, env: dict[str, str] | None = None,
                  cwd: str | None = None, token: str | None = None) -> Spawned:
    """Start ``haybale serve --port 0 ARGS`` for ``root`` as a child process in its own session,
    with ``token`` (default: ``HAYBALE_TOKEN`` of ``env``, else a new one) as its bearer token;
    returns once it announced its URL. The caller stops it (SIGTERM to this pid) and gives clients the
    token. Raises :class:`ServiceError` with the child's output if it exits instead.
    """
    base = env if env is not None else os.environ
    token = token or base.get(TOKEN_ENV) or generate_token()
    child_env = {**base, "HAYBALE_ROOT": root, TOKEN_ENV: token}
    proc = subprocess.Popen([sys.executable, "-m", "haybale", "serve", "--port", "0", *args],
                            env=child_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"https?://[^\s:]+:\d+", line)
    if not found:
        proc.kill()
        rest = proc.stdout.read()
        proc.wait()
        raise ServiceError(f"`haybale serve` for root {root} did not start: {(line + rest).strip()}")
    return Spawned(proc, found.group(0), token)
