"""Key ids (:func:`catalog.keys.key_id`: XXH3-128 of the canonical key's UTF-8 bytes, big-endian) of
many keys in one compiled pass over a string column's bytes (issue 10: the worker's share of a
registration).

Per key, ``xxhash.xxh3_128_digest`` through ``map`` costs ~0.2 µs on the cluster bench's keys (a
``str.encode``, a C call and a ``bytes`` object each, then a join); the pass here reads the bytes the
Arrow column already holds and writes the ids into one array, ~0.02 µs per key. It computes XXH3-128
with the default secret and seed 0 (xxHash 0.8's stable output) for keys of :data:`MIN_BYTES` to
:data:`MAX_BYTES` bytes, the lengths URLs nearly always have; it leaves other rows to the caller (the
library), and says which through its mask. ``tests/catalog/test_key_id_kernel.py`` compares it with
``xxhash`` on every length it covers and on random bytes; :func:`catalog.bulk_prepare.prepare_bulk_columns`
also checks a sample of every batch's ids against :func:`~catalog.keys.key_id`.

numba is imported on this module's first use, not by importing it (drivers and the CLI import every
catalog module without loading numba: ``tests/dedup/test_minhash_kernels.py``); the batches that use
it also use :mod:`catalog.web_listing_kernel`, so a worker pays numba's start once for both, and
these functions cost it only their cached code (~10 ms). Compiled functions are cached on disk.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

MIN_BYTES = 9  # below: other formulas (0, 1-3, 4-8 bytes); the library handles those keys
MAX_BYTES = 240  # above: XXH3's long-input loop; the library handles those keys

# the first 136 bytes of XXH3's default secret (kSecret): every input of 9..240 bytes reads only these
_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3")
# the secret as little-endian 64-bit words at every byte offset (the algorithm reads it unaligned)
_SECRET64 = np.array([int.from_bytes(_SECRET[o:o + 8], "little") for o in range(len(_SECRET) - 7)], np.uint64)

_P32_2 = np.uint64(0x85EBCA77)
_P64_1 = np.uint64(0x9E3779B185EBCA87)
_P64_2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P64_4 = np.uint64(0x85EBCA77C2B2AE63)
_MX1 = np.uint64(0x165667919E3779F9)
_M32 = np.uint64(0xFFFFFFFF)
_ZERO = np.uint64(0)


def _read64(d: np.ndarray, p: int) -> np.uint64:
    v = np.uint64(0)
    for k in range(8):
        v |= np.uint64(d[p + k]) << np.uint64(8 * k)
    return v


def _mul128(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """(low, high) 64 bits of the 128-bit product, from 32-bit halves."""
    s32 = np.uint64(32)
    a_lo, a_hi, b_lo, b_hi = a & _M32, a >> s32, b & _M32, b >> s32
    lo_lo, hi_lo, lo_hi, hi_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi, a_hi * b_hi
    cross = (lo_lo >> s32) + (hi_lo & _M32) + lo_hi
    return (cross << s32) | (lo_lo & _M32), (hi_lo >> s32) + (cross >> s32) + hi_hi


def _avalanche(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(37)
    h *= _MX1
    return h ^ (h >> np.uint64(32))


def _bswap64(v: np.uint64) -> np.uint64:
    out = np.uint64(0)
    for k in range(8):
        out = (out << np.uint64(8)) | ((v >> np.uint64(8 * k)) & np.uint64(0xFF))
    return out


def _mix16(d: np.ndarray, p: int, s: np.ndarray, so: int) -> np.uint64:
    lo, hi = _mul128(_read64(d, p) ^ s[so], _read64(d, p + 8) ^ s[so + 8])
    return lo ^ hi


def _mix32(acc_lo: np.uint64, acc_hi: np.uint64, d: np.ndarray, p1: int, p2: int, s: np.ndarray,
           so: int) -> tuple[np.uint64, np.uint64]:
    acc_lo += _mix16(d, p1, s, so)
    acc_lo ^= _read64(d, p2) + _read64(d, p2 + 8)
    acc_hi += _mix16(d, p2, s, so + 16)
    acc_hi ^= _read64(d, p1) + _read64(d, p1 + 8)
    return acc_lo, acc_hi


def _xxh3_128(d: np.ndarray, p: int, n: int, s: np.ndarray) -> tuple[np.uint64, np.uint64]:
    """(low, high) 64 bits of XXH3-128 (seed 0) of ``d[p:p + n]``, ``MIN_BYTES <= n <= MAX_BYTES``."""
    length = np.uint64(n)
    if n <= 16:
        input_lo = _read64(d, p)
        input_hi = _read64(d, p + n - 8)
        m_lo, m_hi = _mul128(input_lo ^ input_hi ^ (s[32] ^ s[40]), _P64_1)
        m_lo += (length - np.uint64(1)) << np.uint64(54)
        input_hi ^= s[48] ^ s[56]
        m_hi += input_hi + (input_hi & _M32) * (_P32_2 - np.uint64(1))
        m_lo ^= _bswap64(m_hi)
        h_lo, h_hi = _mul128(m_lo, _P64_2)
        h_hi += m_hi * _P64_2
        return _avalanche(h_lo), _avalanche(h_hi)
    acc_lo, acc_hi = length * _P64_1, _ZERO
    if n <= 128:
        if n > 32:
            if n > 64:
                if n > 96:
                    acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + 48, p + n - 64, s, 96)
                acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + 32, p + n - 48, s, 64)
            acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + 16, p + n - 32, s, 32)
        acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p, p + n - 16, s, 0)
    else:
        for i in range(4):
            acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + 32 * i, p + 32 * i + 16, s, 32 * i)
        acc_lo, acc_hi = _avalanche(acc_lo), _avalanche(acc_hi)
        for i in range(4, n // 32):
            acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + 32 * i, p + 32 * i + 16, s, 3 + 32 * (i - 4))
        # the last 32 bytes, with the secret at its minimum size (136) - 17 - 16
        acc_lo, acc_hi = _mix32(acc_lo, acc_hi, d, p + n - 16, p + n - 32, s, 103)
    low = acc_lo + acc_hi
    high = acc_lo * _P64_1 + acc_hi * _P64_4 + length * _P64_2
    return _avalanche(low), _ZERO - _avalanche(high)


def _ids_of_rows(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, s: np.ndarray, out: np.ndarray,
                 done: np.ndarray) -> None:
    for j in range(len(rows)):
        r = rows[j]
        p = offsets[r]
        n = offsets[r + 1] - p
        if n < MIN_BYTES or n > MAX_BYTES:
            continue
        lo, hi = _xxh3_128(data, p, n, s)
        for k in range(8):  # big-endian: the high half first
            shift = np.uint64(56 - 8 * k)
            out[j, k] = np.uint8((hi >> shift) & np.uint64(0xFF))
            out[j, 8 + k] = np.uint8((lo >> shift) & np.uint64(0xFF))
        done[j] = True


_COMPILED: dict[str, Callable[..., Any]] = {}
_COMPILING = threading.Lock()
# compiled callees first: each function's compilation resolves the names it calls in this module
_FUNCTIONS = ("_read64", "_mul128", "_avalanche", "_bswap64", "_mix16", "_mix32", "_xxh3_128", "_ids_of_rows")


def _compiled() -> Callable[..., Any]:
    """The compiled pass (numba imported, and this module's functions replaced by their compiled
    forms, compiled or loaded from numba's disk cache, on first use)."""
    with _COMPILING:
        if not _COMPILED:
            from numba import njit

            jit = njit(cache=True, nogil=True)
            g = globals()
            for name in _FUNCTIONS:
                g[name] = jit(g[name])
            _COMPILED["pass"] = g["_ids_of_rows"]
    return _COMPILED["pass"]


def key_ids_of_rows(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((len(rows), 16) uint8 ids, mask of rows computed) for the strings at ``rows`` of a column given
    as its bytes ``data`` (uint8) and ``offsets`` (int64, n + 1): the id of each string's bytes
    (``xxh3_128_digest``) where the mask is set (lengths :data:`MIN_BYTES`..:data:`MAX_BYTES`); zeros
    elsewhere, for the caller to fill."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.zeros((len(rows), 16), np.uint8)
    done = np.zeros(len(rows), np.bool_)
    _compiled()(data, offsets, rows, _SECRET64, out, done)
    return out, done


def warm_cache() -> None:
    """Compile the pass into numba's on-disk cache now (see :func:`catalog.web_listing_kernel.warm_cache`)."""
    data = np.frombuffer(b"https://example.com/", np.uint8)
    key_ids_of_rows(data, np.array([0, len(data)], np.int64), np.zeros(1, np.int64))
