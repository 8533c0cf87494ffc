"""Allocator settings for the processes that run the job's units (pool workers and Ray workers).

Why: a unit allocates and frees arrays of tens of MB over and over (a batch's token hashes, a
split's signatures, Arrow buffers). With glibc's defaults, blocks over the dynamic mmap threshold
are mmap'ed and unmapped each time and freed heap memory above 128 KB is trimmed at once, so every
batch page-faults its memory in again: ~20,000 minor faults and ~0.2 s of system time per 95 MB
split of stage 1, measured (bench/dedup_scale.py corpus). Raising the mmap threshold to glibc's
largest allowed value (32 MiB) and keeping freed memory (trim threshold 1 GiB, 64 MiB top pad)
cut that to ~3,000 faults. Peak memory is unchanged (what is kept was in use a moment before);
the kept heap is bounded by the unit's own peak.

Only the allocator's policy changes, never a value a unit computes: outputs are the same bytes.
"""
from __future__ import annotations

import ctypes
import sys

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc refuses larger values (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20

_applied = False


def keep_freed_memory() -> bool:
    """Apply the settings above to this process once (glibc only; elsewhere nothing happens).

    Returns whether they are in effect. Never raises: an allocator that cannot be tuned only
    costs speed.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        ok = all(libc.mallopt(param, value) == 1 for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD)))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    _applied = ok
    return ok
