"""How big an owner actor's block cache is: ``HAYBALE_OWNER_CACHE_MB`` (default 256 MiB).

An owner's block cache holds its filter and index blocks (pinned; ~1.3 B per entry) and the data
blocks gets and lookups touched. A serving owner whose single gets must stay flat as it grows needs
the uncompressed location index in it (~50 B per entry: ~5 GB at 10^8 entries; deploy/SCALING.md
measures the p99 with and without). The default suits the embedded default and tests; size it per
catalog node for production. Like the owners' other settings (``OWNER_SETTINGS`` in
:mod:`catalog.owner_actor`) it is taken from the environment of the command that starts the owners,
else from the owners' nodes' environment.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

CACHE_ENV = "HAYBALE_OWNER_CACHE_MB"
DEFAULT_CACHE_MB = 256
MIN_CACHE_MB = 8  # below this the pinned filter and index blocks of a small owner no longer fit


def owner_cache_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The block cache in bytes an owner opens its store with (``environ``: default ``os.environ``). A
    value that is not a whole number of MiB (or is below :data:`MIN_CACHE_MB`) is reported on stderr,
    naming the setting, and the default is used: an owner must start whatever the setting says."""
    raw = (os.environ if environ is None else environ).get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MB << 20
    try:
        megabytes = int(raw)
    except ValueError:
        megabytes = -1
    if megabytes < MIN_CACHE_MB:
        print(f"{CACHE_ENV}={raw!r} is not a block cache size in MiB of at least {MIN_CACHE_MB}: using "
              f"{DEFAULT_CACHE_MB}; set it to a whole number of MiB (e.g. 6144 for an owner of 10^8 entries)",
              file=sys.stderr)
        megabytes = DEFAULT_CACHE_MB
    return megabytes << 20


HUGE_PAGES_ENV = "HAYBALE_OWNER_HUGE_PAGES"
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"
HUGE_PAGES_FROM_CACHE_MB = 1024  # "auto": huge pages for owners given a cache of at least this


def owner_process_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables an owner actor's process must start with: glibc's malloc told to back its
    heap with transparent huge pages (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, glibc 2.35 and later;
    ignored by others) when ``HAYBALE_OWNER_HUGE_PAGES`` is ``1``, or is unset (``auto``) and the
    owners' block cache is at least :data:`HUGE_PAGES_FROM_CACHE_MB`; none when it is ``0``.

    Why: a serving owner's block cache is gigabytes of 16 KiB blocks read at random, and with 4 KiB
    pages nearly every get misses the TLB several times. Measured on the growth bench's 10^8-entry
    owner, whole index in a 7 GiB cache, alternated with a 10^5-entry owner, load ~10: get p50 9.2 →
    7.8 µs, p99 68 → 19 µs (deploy/SCALING.md). Why not always: a tunable is read when a process
    starts, so it must go into the actor's runtime environment, and an owner with a runtime environment
    cannot take one of Ray's already started workers; on the embedded default's first command that
    cost ~1.3 s (6.8 → 8.1 s, 3 alternated cold runs) for owners whose small cache gains nothing.
    Other ``GLIBC_TUNABLES`` in ``environ`` are kept."""
    env = os.environ if environ is None else environ
    mode = env.get(HUGE_PAGES_ENV, "auto").strip().lower()
    if mode == "0" or (mode != "1" and owner_cache_bytes(env) < HUGE_PAGES_FROM_CACHE_MB << 20):
        return {}
    current = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in current:
        return {"GLIBC_TUNABLES": current}
    return {"GLIBC_TUNABLES": f"{current}:{HUGE_PAGES_TUNABLE}" if current else HUGE_PAGES_TUNABLE}
