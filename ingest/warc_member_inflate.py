"""Inflating a run of one-record gzip members in one compiled call (zlib's ``inflate`` called from numba).

The member pass (:mod:`ingest.warc_member_pass`) needs, for every gzip member of a file, where it
starts, how many compressed bytes it takes and what it decompresses to. One ``zlib.decompressobj`` per
member costs microseconds of Python per record — more than FastWARC's whole iteration. Here the
system zlib (the library Python's own ``zlib`` module is built on: same decoder, same errors; found
with ``ctypes``, loaded globally and called by symbol name, so the compiled code is cached on disk) is
called from a numba loop: ``inflateReset`` + ``inflate`` per member over a chunk of the file, every
member's bytes written one after another into one output buffer.

Contract of :func:`inflate_members`: members are decoded exactly as ``zlib.decompressobj(31)`` decodes
them (a gzip header, a deflate stream, the CRC-32 and size trailer, ending where ``eof`` is set). It
stops — never guesses — at the first member that is not whole in the chunk (the caller reads more),
that does not fit the output buffer (the caller empties it), or at bad bytes (status ``BAD``: the caller
gives the file to the general passes). :func:`available` is False where there is no loadable zlib; the
caller then keeps its Python loop.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import llvmlite.binding as llvm
import numba as nb
import numpy as np

# what a call stopped at (the members before it are in the tables)
DONE = 0  # every byte of the chunk consumed: the chunk ended exactly at a member's end
NEED_INPUT = 1  # the member at ``at`` does not end in the chunk
OUT_FULL = 2  # the member at ``at`` does not fit the rest of the output buffer
TABLE_FULL = 3  # the member tables are full
BAD = 4  # the bytes at ``at`` are not a sound gzip member (or the member is bigger than the limit)

_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR = 0, 1, -5
_STREAM_WORDS = 14  # sizeof(z_stream) on LP64 (112 bytes) in 8-byte words
_UINT_MAX = 0x7FFFFFFF  # avail_in / avail_out are 32-bit: feed at most this much at a time


def _load() -> Any:
    name = ctypes.util.find_library("z")
    if not name or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.inflateInit2_, lib.inflateReset, lib.inflate, lib.inflateEnd, lib.zlibVersion  # noqa: B018 - all there
    except (OSError, AttributeError):
        return None
    return lib


_LIB = _load()


def available() -> bool:
    """True if the compiled inflate loop can run here (a 64-bit system zlib was found)."""
    return _LIB is not None


if _LIB is not None:
    # resolved by name when the compiled code is loaded, so the compiled loop can be cached on disk
    # (a ctypes function object in the loop would make numba compile it anew in every process)
    llvm.load_library_permanently(_LIB._name)
    _inflate = nb.types.ExternalFunction("inflate", nb.types.int32(nb.types.uint64, nb.types.int32))
    _reset = nb.types.ExternalFunction("inflateReset", nb.types.int32(nb.types.uint64))
    # every zlib call goes through the same by-name resolution, so the stream is never initialized by
    # one zlib and inflated by another (a process may hold several: only the one loaded above is global)
    _init2 = nb.types.ExternalFunction("inflateInit2_", nb.types.int32(nb.types.uint64, nb.types.int32,
                                                                       nb.types.uint64, nb.types.int32))
    _end = nb.types.ExternalFunction("inflateEnd", nb.types.int32(nb.types.uint64))
    _version = nb.types.ExternalFunction("zlibVersion", nb.types.uint64())

    @nb.njit(cache=True)
    def _open(stream_addr: int, size: int) -> int:
        return _init2(stream_addr, 31, _version(), size)

    @nb.njit(cache=True)
    def _close(stream_addr: int) -> int:
        return _end(stream_addr)

    @nb.njit(cache=True, nogil=True)
    def _run(stream: np.ndarray, stream_addr: int, chunk: np.ndarray, at: int, out: np.ndarray, used: int,
             limit: int, starts: np.ndarray, sizes: np.ndarray, out_starts: np.ndarray, out_sizes: np.ndarray
             ) -> tuple[int, int, int, int]:
        chunk_addr = chunk.ctypes.data
        out_addr = out.ctypes.data
        n_in = chunk.shape[0]
        cap = out.shape[0]
        n = 0
        while at < n_in:
            if n == starts.shape[0]:
                return TABLE_FULL, n, at, used
            if n_in - at >= 2 and (chunk[at] != 0x1F or chunk[at + 1] != 0x8B):
                return BAD, n, at, used
            _reset(stream_addr)
            stream[0] = chunk_addr + at  # next_in
            stream[1] = min(n_in - at, _UINT_MAX)  # avail_in (and its padding)
            stream[3] = out_addr + used  # next_out
            stream[4] = min(cap - used, _UINT_MAX)  # avail_out
            code = _inflate(stream_addr, 0)
            produced = stream[5]  # total_out (reset by inflateReset)
            if code == _Z_STREAM_END:
                if produced > limit:
                    return BAD, n, at, used
                consumed = stream[2]  # total_in
                starts[n] = at
                sizes[n] = consumed
                out_starts[n] = used
                out_sizes[n] = produced
                n += 1
                at += consumed
                used += produced
                continue
            if code != _Z_OK and code != _Z_BUF_ERROR:
                return BAD, n, at, used
            if (stream[1] & 0xFFFFFFFF) == 0 and n_in - at <= _UINT_MAX:
                return NEED_INPUT, n, at, used
            if produced > limit:
                return BAD, n, at, used
            return OUT_FULL, n, at, used
        return DONE, n, at, used


class MemberInflater:
    """One zlib stream (gzip mode) reused for every member; ``close`` frees it."""

    def __init__(self, limit: int, table: int = 1 << 16) -> None:
        assert _LIB is not None
        self.limit = limit
        self._stream = np.zeros(_STREAM_WORDS, np.uint64)
        self._addr = int(self._stream.ctypes.data)
        if _open(self._addr, _STREAM_WORDS * 8) != _Z_OK:
            raise MemoryError("zlib inflateInit2 failed")
        self.starts = np.zeros(table, np.int64)
        self.sizes = np.zeros(table, np.int64)
        self.out_starts = np.zeros(table, np.int64)
        self.out_sizes = np.zeros(table, np.int64)

    def inflate_members(self, chunk: np.ndarray, at: int, out: np.ndarray, used: int) -> tuple[int, int, int, int]:
        """Inflate members of ``chunk`` (uint8) from ``at`` into ``out`` (uint8) from ``used``; returns
        (status, members, position in ``chunk`` after the last whole member, bytes of ``out`` used).
        Member ``i`` (``i < members``) is at ``starts[i]`` (``sizes[i]`` bytes) of ``chunk`` and its
        bytes at ``out_starts[i]`` (``out_sizes[i]`` bytes) of ``out``."""
        status, n, at, used = _run(self._stream, self._addr, chunk, at, out, used, self.limit, self.starts,
                                   self.sizes, self.out_starts, self.out_sizes)
        return int(status), int(n), int(at), int(used)

    def close(self) -> None:
        if self._addr:
            _close(self._addr)
            self._addr = 0

    def __enter__(self) -> "MemberInflater":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
