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

CACHE_ENV = "HAYBALE_OWNER_CACHE_MB"
DEFAULT_CACHE_MB = 256
MIN_CACHE_MB = 8  # below this the pinned filter and index blocks of a small owner no longer fit


def owner_cache_bytes() -> int:
    """The block cache in bytes an owner opens its store with. A value that is not a whole number of
    MiB (or is below :data:`MIN_CACHE_MB`) is reported on stderr, naming the setting, and the default
    is used: an owner must start whatever the setting says."""
    raw = os.environ.get(CACHE_ENV, "").strip()
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
