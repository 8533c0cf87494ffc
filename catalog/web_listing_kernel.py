"""Listing entries of fast-form http(s) URLs in one compiled pass over their bytes (issue 10: the
worker's share of a registration).

:func:`catalog.bulk_prepare._web_listing` builds the same entries from Arrow kernels: a split at the
first three slashes, two list-element copies, the host labels reversed per distinct host, a lowercase
copy of the tail and two element-wise joins — six passes over every URL's bytes, ~0.35 µs per URL on
the cluster bench's keys. This module writes each entry straight from the URL's bytes, two passes
(sizes, then bytes), ~0.03 µs per URL. It handles exactly the URLs ``_web_listing`` handles (the
caller selected them with the fast-form regular expressions: ASCII, ``http://`` or ``https://``, a
host of ``[a-z0-9.-]`` and a ``/`` after it), and builds the same bytes:

``u`` + the host's labels reversed and joined by ``,`` (a leading ``www.`` dropped) + ``)/`` + the
tail after the host's ``/``, lowercased + NUL + the scheme tag (1-4), or, when the tail has capitals,
the path tag (tag + 4) + ``/`` + the tail as it is (:mod:`catalog.listing`).

numba is imported only on this module's first use (the module itself imports without it: drivers and
the CLI list every module without loading numba), and only workers preparing big batches use it
(:data:`catalog.bulk_prepare.KERNEL_MIN_ROWS`): importing numba and loading the cached functions
costs a process ~0.6 s of CPU, which a batch of a few thousand keys would not earn back. Compiled
functions are cached on disk, so a fresh worker loads them instead of compiling (the first process
on a machine compiles, ~2 s).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

_SLASH, _DOT, _COMMA, _W, _S = 47, 46, 44, 119, 115


def _class(chars: str) -> np.ndarray:
    table = np.zeros(256, np.bool_)
    for c in chars:
        table[ord(c)] = True
    return table


_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_HOST = _class(_ALNUM + ".-")
_HOST_END = _class(_ALNUM)  # first and last character of a host
_PATH = _class(_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ-._~!$&'()*+,;=:@/")
_QUERY = _class(_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ-._~!$&'()*+,;=:@/?")


def _fast_mask(data: np.ndarray, offsets: np.ndarray, max_bytes: int, host_ok: np.ndarray, host_end: np.ndarray,
               path_ok: np.ndarray, query_ok: np.ndarray) -> np.ndarray:
    """Per row: on the web fast form (see :func:`fast_web_rows`)."""
    n = len(offsets) - 1
    out = np.zeros(n, np.bool_)
    for r in range(n):
        s, e = offsets[r], offsets[r + 1]
        if e - s > max_bytes or e - s < 9:
            continue
        if not (data[s] == 104 and data[s + 1] == 116 and data[s + 2] == 116 and data[s + 3] == 112):  # "http"
            continue
        a = s + 4
        if data[a] == _S:
            a += 1
        if not (a + 3 <= e and data[a] == 58 and data[a + 1] == _SLASH and data[a + 2] == _SLASH):  # "://"
            continue
        a += 3
        p = a
        while p < e and host_ok[data[p]]:
            p += 1
        if p == a or p == e or data[p] != _SLASH or not host_end[data[a]] or not host_end[data[p - 1]]:
            continue
        if p - a == 3 and data[a] == _W and data[a + 1] == _W and data[a + 2] == _W:  # the bare host "www"
            continue
        ok = True
        q = p + 1
        while q < e and path_ok[data[q]]:
            q += 1
        if q < e:
            if data[q] != 63:  # "?"
                ok = False
            else:
                q += 1
                while q < e and query_ok[data[q]]:
                    q += 1
                ok = q == e and data[e - 1] != 63  # no trailing "?"
        if not ok:
            continue
        for x in range(p, e):  # no "&" (query arguments SURT would sort) and no "/." (dot segments)
            c = data[x]
            if c == 38 or (c == _SLASH and x + 1 < e and data[x + 1] == _DOT):
                ok = False
                break
        out[r] = ok
    return out


_COMPILED: dict[str, Callable[..., Any]] = {}


def _compiled(name: str) -> Callable[..., Any]:
    """The compiled form of this module's function ``name`` (numba imported and the functions
    compiled, or loaded from numba's disk cache, on first use)."""
    if not _COMPILED:
        from numba import njit

        compile_ = njit(cache=True, nogil=True)
        _COMPILED.update({f.__name__: compile_(f) for f in (_fast_mask, _bounds, _fill)})
    return _COMPILED[name]


def fast_web_rows(data: np.ndarray, offsets: np.ndarray, max_bytes: int) -> np.ndarray:
    """Mask of the strings of a column (its bytes ``data``, uint8, and ``offsets``, int64, n + 1) on
    the web fast form: what :data:`catalog.bulk_prepare._WEB_FAST` matches, :data:`_WEB_NOT_FAST` does
    not, at most ``max_bytes`` long — the same rows the regular expressions select (tested on fuzzed
    strings), in one pass instead of two regular-expression scans (~0.15 µs per URL)."""
    return _compiled("_fast_mask")(data, offsets, max_bytes, _HOST, _HOST_END, _PATH, _QUERY)


def _bounds(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                              np.ndarray, np.ndarray]:
    """Per row: host start, host end (``www.`` dropped), tag byte, tail has capitals, entry size."""
    n = len(rows)
    host_start = np.empty(n, np.int64)
    host_end = np.empty(n, np.int64)
    tag = np.empty(n, np.uint8)
    upper = np.zeros(n, np.bool_)
    size = np.empty(n, np.int64)
    for j in range(n):
        r = rows[j]
        s, e = offsets[r], offsets[r + 1]
        https = data[s + 4] == _S
        a = s + (8 if https else 7)
        p = a
        while data[p] != _SLASH:
            p += 1
        www = p - a >= 4 and data[a] == _W and data[a + 1] == _W and data[a + 2] == _W and data[a + 3] == _DOT
        if www:
            a += 4
        host_start[j] = a
        host_end[j] = p
        tag[j] = (2 if https else 1) + (2 if www else 0)
        caps = False
        for q in range(p + 1, e):
            c = data[q]
            if 65 <= c <= 90:
                caps = True
                break
        upper[j] = caps
        tail = e - p - 1
        # u + host + ")/" + tail + NUL + tag [+ "/" + tail]
        size[j] = 1 + (p - a) + 2 + tail + 2 + ((1 + tail) if caps else 0)
    return host_start, host_end, tag, upper, size


def _fill(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, host_start: np.ndarray, host_end: np.ndarray,
          tag: np.ndarray, upper: np.ndarray, ends: np.ndarray, out: np.ndarray) -> None:
    for j in range(len(rows)):
        r = rows[j]
        e = offsets[r + 1]
        o = ends[j - 1] if j else 0
        out[o] = 117  # "u"
        o += 1
        a, p = host_start[j], host_end[j]
        # labels of [a, p) in reverse order, joined by ","
        label_end = p
        q = p - 1
        while q >= a - 1:
            if q == a - 1 or data[q] == _DOT:
                for x in range(q + 1, label_end):
                    out[o] = data[x]
                    o += 1
                if q != a - 1:
                    out[o] = _COMMA
                    o += 1
                label_end = q
            q -= 1
        out[o] = 41  # ")"
        out[o + 1] = _SLASH
        o += 2
        for x in range(p + 1, e):
            c = data[x]
            out[o] = c + 32 if 65 <= c <= 90 else c
            o += 1
        out[o] = 0
        o += 1
        if upper[j]:
            out[o] = tag[j] + 4
            out[o + 1] = _SLASH
            o += 2
            for x in range(p + 1, e):
                out[o] = data[x]
                o += 1
        else:
            out[o] = tag[j]
            o += 1


def web_listing_bytes(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(entries concatenated, their end offsets from 0) of the URLs at ``rows`` of a string column
    given as its bytes ``data`` (uint8) and ``offsets`` (int64, n + 1); every such URL must be on the
    fast form (module docstring)."""
    out, bounds = web_listing_arrays(data, offsets, rows)
    return out.tobytes(), bounds[1:]


def web_listing_arrays(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`web_listing_bytes` as arrays, with no copy: the entries' bytes (uint8) and their
    offsets (int64, ``len(rows) + 1`` from 0: an Arrow binary column's two buffers)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    host_start, host_end, tag, upper, size = _compiled("_bounds")(data, offsets, rows)
    bounds = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(size, out=bounds[1:])
    out = np.empty(int(bounds[-1]), np.uint8)
    _compiled("_fill")(data, offsets, rows, host_start, host_end, tag, upper, bounds[1:], out)
    return out, bounds


def warm_cache() -> None:
    """Compile the passes into numba's on-disk cache now (a process that finds them there only loads
    them): the first process on a machine otherwise compiles them on its first big batch (~3 s)."""
    data = np.frombuffer(b"https://a.b/C", np.uint8)
    offsets = np.array([0, len(data)], np.int64)
    rows = np.flatnonzero(fast_web_rows(data, offsets, 4096))
    web_listing_bytes(data, offsets, rows)
    from catalog.key_id_kernel import warm_cache as warm_key_ids  # the ids of the same batches

    warm_key_ids()
