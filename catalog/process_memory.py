"""This process's memory as the kernel counts it: resident bytes and how much of it is in transparent
huge pages (an owner reports it in its stats: its block cache should be in huge pages,
catalog/owner_cache.py). Linux only; elsewhere the figures are absent."""
from __future__ import annotations

import os
from typing import Any

_FIELDS = {"Rss": "rss_bytes", "AnonHugePages": "anon_huge_page_bytes"}


def process_memory() -> dict[str, Any]:
    """``{"pid", "rss_bytes", "anon_huge_page_bytes"}`` from ``/proc/self/smaps_rollup``; only ``pid``
    where the kernel does not offer it."""
    out: dict[str, Any] = {"pid": os.getpid()}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in _FIELDS:
                    out[_FIELDS[name]] = int(rest.split()[0]) * 1024  # the kernel writes kB
    except OSError:
        pass
    return out
