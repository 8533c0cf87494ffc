"""An owner sized for serving reads its location index into its block cache when it starts.

An owner given a block cache big enough for its location index (``HAYBALE_OWNER_CACHE_MB``,
:mod:`catalog.owner_cache`) meets the single-get p99 target only once that index is in the cache
(deploy/SCALING.md). Left to itself, it fills the cache one get at a time: the first get into each
16 KiB block reads and decompresses it, so a freshly started or restored owner of 10^8 entries serves
cold gets (p99 0.26-2.7 ms at 10^8 in the growth bench, against ~11 µs warm) until ~280,000 distinct
blocks have been touched. This reads the index into the cache in a background thread instead
(:meth:`Catalog.warm_cache`: seeks at evenly spaced ids reach every location block, then one probe
per SST file brings its filter block). Measured on the growth bench's 10^8-entry owner (7 GiB cache,
quiet): done in 22 s; gets served meanwhile had per-round p99 falling from ~400 µs (what a cold owner
serves throughout) to 13 µs, and after it 9–11 µs with no file read.

Contract:
- ``HAYBALE_OWNER_WARM``: ``1`` always, ``0`` never, unset (``auto``): when the owner's cache is at
  least :data:`WARM_FROM_CACHE_MB` (an owner sized for serving; the default 256 MiB is not);
- the walk runs beside the owner's calls and changes nothing stored; a get that comes first is
  served as before (RocksDB reads are safe alongside iterators), waiting at most ~1 ms for the GIL
  (:meth:`Shard.warm_blocks` lets go of it every 16 seeks);
- :meth:`CacheWarmer.stop` ends it within 4,096 seeks and waits for it, so the store can close; what
  fits in the cache stays, the rest is not read again;
- :meth:`CacheWarmer.status` says how far it got (for ``OwnedCatalog.owner_memory()``).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from catalog.owner_cache import CACHE_ENV, owner_cache_bytes

WARM_ENV = "HAYBALE_OWNER_WARM"
WARM_FROM_CACHE_MB = 1024  # the size from which an owner is taken to be sized for serving


def warm_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an owner started with ``environ`` (default ``os.environ``) warms its cache. A value other
    than ``0``, ``1`` or ``auto`` is reported on stderr, naming the setting, and ``auto`` is used."""
    env = os.environ if environ is None else environ
    mode = env.get(WARM_ENV, "auto").strip().lower() or "auto"
    if mode not in ("0", "1", "auto"):
        print(f"{WARM_ENV}={mode!r} is not 0, 1 or auto: using auto (warm when {CACHE_ENV} "
              f"is at least {WARM_FROM_CACHE_MB})", file=sys.stderr)
        mode = "auto"
    if mode != "auto":
        return mode == "1"
    return owner_cache_bytes(env) >= WARM_FROM_CACHE_MB << 20


class CacheWarmer:
    """One background walk of ``catalog``'s location index into its block cache (see the module)."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._state = "running"
        self._seeks = 0
        self._seconds: float | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="owner-cache-warm", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._seeks = self._catalog.warm_cache(stop=self._stop)
            self._state = "stopped" if self._stop.is_set() else "done"
        except Exception as exc:  # noqa: BLE001 - a failed warm-up leaves a slower owner, not a broken one
            self._state, self._error = "failed", repr(exc)
            print(f"owner cache warm-up of {self._catalog.directory} failed, gets fill the cache as they come: "
                  f"{exc!r}", file=sys.stderr)
        finally:
            self._seconds = round(time.perf_counter() - self._started, 3)

    def stop(self) -> None:
        """End the walk within 4,096 seeks and wait for it (before the store closes)."""
        self._stop.set()
        self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the walk to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        """``state`` (running, done, stopped, failed), the seeks made once it ended, seconds taken."""
        out: dict[str, Any] = {"state": self._state, "seconds": self._seconds}
        if self._state != "running":
            out["seeks"] = self._seeks
        if self._error:
            out["error"] = self._error
        return out
