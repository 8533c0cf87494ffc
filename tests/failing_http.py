"""An HTTP file server on 127.0.0.1 whose reads of a file fail on demand, as a web server or an object
store's gateway does when it is overloaded or its connection drops: real sockets, so Ray workers and
CLI subprocesses see it like the test's own process.

Files are served from :attr:`FailingFileServer.files` (name -> bytes) at ``/NAME``, with HEAD (size)
and ``Range: bytes=A-B`` GETs (206), as object stores serve them. :meth:`FailingFileServer.fail` makes
the next ``times`` GETs of a file (``times=None``: every one until :meth:`heal`) fail: ``"503"``
answers *503 Service Unavailable*; ``"reset"`` sends the status line, a full ``Content-Length`` and
half the body, then drops the connection. HEAD requests never fail (the size check of the planner
passes: the failure is mid-job), unless ``head=True``. ``gets`` counts the GETs of each file.
"""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

from aiohttp import web


class FailingFileServer:
    """Start with :meth:`start` (returns the base URL), stop with :meth:`stop`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gets: Counter[str] = Counter()
        # name -> (mode, GETs to let through first, GETs to fail (None: all), HEADs too)
        self._failing: dict[str, tuple[str, int, int | None, bool]] = {}
        self._lock = threading.Lock()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="failing-http")
        self._runner: web.AppRunner | None = None

    def start(self) -> str:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def put(self, name: str, data: bytes) -> str:
        """Serve ``data`` at ``/name``; its URL."""
        self.files[name] = data
        return f"{self.url}/{name}"

    def fail(self, name: str, mode: str, times: int | None = None, after: int = 0, head: bool = False) -> None:
        """Let ``after`` GETs of ``name`` through, then fail the next ``times`` (None: all, until
        :meth:`heal`) with ``mode`` (``"503"`` or ``"reset"``); HEADs too if ``head``."""
        assert mode in ("503", "reset")
        with self._lock:
            self._failing[name] = (mode, after, times, head)

    def heal(self) -> None:
        """Every file is served again; the GET counts are reset."""
        with self._lock:
            self._failing.clear()
            self.gets.clear()

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{name:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def _failure(self, name: str, method: str) -> str | None:
        with self._lock:
            if method == "GET":
                self.gets[name] += 1
            mode, after, times, head = self._failing.get(name, ("", 0, 0, False))
            if not mode or (method == "HEAD" and not head) or times == 0:
                return None
            if after > 0:
                self._failing[name] = (mode, after - 1, times, head)
                return None
            if times is not None:
                self._failing[name] = (mode, 0, times - 1, head)
            return mode

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        data = self.files.get(name)
        if data is None:
            return web.Response(status=404, text="not found")
        mode = self._failure(name, request.method)
        if mode == "503":
            return web.Response(status=503, text="unavailable, try again later")
        start, stop, status = 0, len(data), 200
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes="):
            first, _, last = wanted[len("bytes="):].partition("-")
            start, stop, status = int(first), min(int(last) + 1 if last else len(data), len(data)), 206
        headers = {"Content-Length": str(stop - start), "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return web.Response(status=200, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        body = data[start:stop]
        if mode == "reset":  # half the body, then the connection drops
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(body)
        await response.write_eof()
        return response
