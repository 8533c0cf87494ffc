"""Decompressing a whole-file gzip WARC to a local copy, in bounded memory, for repacking."""
from __future__ import annotations

import zlib
from typing import Any, Callable

_COPY_BLOCK = 1 << 20


def gunzip_stream(read: Callable[[int], bytes], write: Callable[[bytes], Any]) -> tuple[int, str] | None:
    """Decompress every gzip member of a stream, in bounded memory; returns (decompressed offset,
    reason) where it stops early on corrupt or truncated data, else None."""
    d = zlib.decompressobj(31)
    started = False  # has the current decompressor been fed bytes of a member?
    produced = 0
    while True:
        block = read(_COPY_BLOCK)
        if not block:
            return (produced, "gzip stream ends early (file truncated); the rest is lost") if started else None
        while block:
            if not started and not block.strip(b"\x00"):
                break  # zero padding after the last member, as some writers leave
            started = True
            try:
                out = d.decompress(block, _COPY_BLOCK * 16)
            except zlib.error as exc:
                return produced, f"gzip stream is corrupt here ({exc}); the rest of the file is skipped"
            write(out)
            produced += len(out)
            if d.eof:
                block = d.unused_data
                d = zlib.decompressobj(31)
                started = False
            else:
                block = d.unconsumed_tail
