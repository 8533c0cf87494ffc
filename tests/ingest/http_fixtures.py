"""A deliberately misbehaving HTTP server for crawler tests, run on 127.0.0.1 in a background thread.

Host names (sent in the Host header; map them to 127.0.0.1 with ``CrawlConfig.static_hosts``) pick the
robots.txt: ``polite.test`` disallows ``/private`` and asks ``Crawl-delay: 1``; ``nobots.test`` answers
404; ``brokenbots.test`` answers 503 (RFC 9309: disallow all); every other host allows everything.

Paths: ``/page/<n>`` small HTML; ``/hang`` never answers; ``/drip`` sends headers then a byte every
0.2 s forever; ``/endless`` streams forever; ``/loop/a`` <-> ``/loop/b`` redirect loop; ``/hops/<n>``
redirects n times then serves a page; ``/flaky/<key>?fail=N`` 500 for the first N hits then 200;
``/limited/<key>`` 429 + ``Retry-After: 1`` once then 200; ``/bomb/gzip`` and ``/bomb/br`` compression
bombs (64 MiB of zeros); ``/gzip`` a small gzip-encoded page; ``/image`` a PNG; ``/always500``;
``/links`` a page linking to ``/page/*``, an external host, ``mailto:`` and itself; ``/nofollow/rel``
links ``/page/3`` plainly and ``/page/4``, ``/page/5`` with ``rel`` nofollow; ``/nofollow/meta`` and
``/nofollow/header`` (robots meta tag, ``X-Robots-Tag: haybale: nofollow``) link ``/page/6`` and
``/page/7``; ``/nofollow/otherbot`` (``X-Robots-Tag: otherbot: nofollow``) links ``/page/8``.
"""
from __future__ import annotations

import asyncio
import gzip
import threading
from collections import Counter

import brotli
from aiohttp import web

BOMB_SIZE = 64 << 20
PAGE = "<html><head><title>p{n}</title></head><body><p>page {n} " + "lorem ipsum " * 20 + "</p></body></html>"


def _nofollow_page(kind: str) -> web.Response:
    """Pages asking crawlers not to follow some or all of their links (see the module docstring)."""
    if kind == "rel":
        body = ('<a href="/page/3">3</a><a rel="nofollow" href="/page/4">4</a>'
                '<a rel="Sponsored NoFollow" href="/page/5">5</a><a rel="nofollow" href="/page/4">4 again</a>'
                '<a rel="nofollow" href="/page/3">3 again</a>')
        return web.Response(text=f"<html><body>{body}</body></html>", content_type="text/html")
    if kind == "meta":
        return web.Response(text='<html><head><meta name="ROBOTS" content="noindex, NoFollow"></head>'
                                 '<body><a href="/page/6">6</a></body></html>', content_type="text/html")
    agent = "haybale" if kind == "header" else "otherbot"
    link = "/page/7" if kind == "header" else "/page/8"
    return web.Response(text=f'<html><body><a href="{link}">x</a></body></html>', content_type="text/html",
                        headers={"X-Robots-Tag": f"{agent}: nofollow"})


def _robots(host: str) -> web.Response:
    name = host.split(":", 1)[0]
    if name == "polite.test":
        return web.Response(text="User-agent: *\nDisallow: /private\nCrawl-delay: 1\n", content_type="text/plain")
    if name == "nobots.test":
        return web.Response(status=404, text="none")
    if name == "brokenbots.test":
        return web.Response(status=503, text="down")
    return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")


class MisbehavingServer:
    """Start with :meth:`start` (returns the port), stop with :meth:`stop`; ``hits`` counts requests per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.hit_times: dict[str, list[float]] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="misbehaving-http")
        self._runner: web.AppRunner | None = None
        self._gzip_bomb = gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9)
        self._br_bomb = brotli.compress(b"\0" * BOMB_SIZE, quality=5)

    def start(self) -> int:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.port

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        # Handlers still sleeping (/hang, /drip) are cancelled so the loop stops clean.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        key = f"{request.host.split(':', 1)[0]}{path}"
        self.hits[key] += 1
        self.hit_times.setdefault(key, []).append(self._loop.time())
        if path == "/robots.txt":
            return _robots(request.host)
        if path.startswith("/page/") or path.startswith("/private"):
            return web.Response(text=PAGE.format(n=path.rsplit("/", 1)[-1]), content_type="text/html")
        if path == "/hang":
            await asyncio.sleep(3600)
        if path == "/drip" or path == "/endless":
            resp = web.StreamResponse(headers={"Content-Type": "text/html"})
            await resp.prepare(request)
            block = b"x" * (65536 if path == "/endless" else 1)
            while True:
                await resp.write(block)
                await asyncio.sleep(0.2 if path == "/drip" else 0)
        if path.startswith("/loop/"):
            raise web.HTTPFound("/loop/b" if path.endswith("/a") else "/loop/a")
        if path.startswith("/hops/"):
            n = int(path.rsplit("/", 1)[-1])
            if n > 0:
                raise web.HTTPMovedPermanently(f"/hops/{n - 1}")
            return web.Response(text=PAGE.format(n="hops"), content_type="text/html")
        if path.startswith("/flaky/"):
            if self.hits[key] <= int(request.query.get("fail", "2")):
                return web.Response(status=500, text="try again")
            return web.Response(text=PAGE.format(n="flaky"), content_type="text/html")
        if path.startswith("/limited/"):
            if self.hits[key] == 1:
                return web.Response(status=429, text="slow down", headers={"Retry-After": "1"})
            return web.Response(text=PAGE.format(n="limited"), content_type="text/html")
        if path == "/bomb/gzip":
            return web.Response(body=self._gzip_bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
        if path == "/bomb/br":
            return web.Response(body=self._br_bomb, headers={"Content-Type": "text/html", "Content-Encoding": "br"})
        if path == "/gzip":
            return web.Response(body=gzip.compress(PAGE.format(n="gz").encode()),
                                headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
        if path == "/image":
            return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"\0" * 5000, content_type="image/png")
        if path == "/always500":
            return web.Response(status=500, text="broken")
        if path == "/links":
            body = ('<html><body><a href="/page/1">1</a><a href="page/2#frag">2</a>'
                    '<a href="http://elsewhere.test/page/9">x</a><a href="mailto:a@b">m</a>'
                    '<a href="/links">self</a></body></html>')
            return web.Response(text=body, content_type="text/html")
        if path.startswith("/nofollow/"):
            return _nofollow_page(path.rsplit("/", 1)[-1])
        return web.Response(status=404, text="not found")
