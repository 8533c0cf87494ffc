"""A write-ahead journal that makes a multi-shard registration all-or-nothing.

RocksDB makes one write batch atomic within one shard, but a registration batch spans shards. So every
batch is first appended here as one record and fsynced; only then is it applied to the shards, each
shard storing the batch's sequence number in the same atomic RocksDB write. After a crash, :meth:`replay`
re-applies every complete record whose sequence number a shard has not applied yet, and cuts off a torn
tail (a record whose length or CRC does not check out was never acknowledged).

Record layout: ``u32 payload length | u32 CRC-32 of payload | u64 sequence | payload (msgpack)``.

Contract: a batch is acknowledged (the register call returns) only after its record is durable, so an
acknowledged batch survives any crash; a batch whose record is torn is absent from every shard.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

import msgpack

_HEADER = struct.Struct("<IIQ")
JOURNAL_NAME = "journal.log"


class Journal:
    """Append-only, fsynced record log at ``directory/journal.log``."""

    def __init__(self, directory: Path, *, durable: bool = True) -> None:
        self.path = directory / JOURNAL_NAME
        self.durable = durable
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Complete records in order; truncates the file at the first torn or corrupt record."""
        with open(self.path, "rb") as fh:
            data = fh.read()
        pos = 0
        while pos + _HEADER.size <= len(data):
            length, crc, seq = _HEADER.unpack_from(data, pos)
            start = pos + _HEADER.size
            payload = data[start:start + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            yield seq, msgpack.unpackb(payload, raw=False)
            pos = start + length
        if pos < len(data):
            os.ftruncate(self._fd, pos)
            os.fsync(self._fd)

    def append(self, seq: int, record: dict[str, Any]) -> None:
        """Write one record; returns once it is on disk (fsync) when the journal is durable."""
        payload = msgpack.packb(record, use_bin_type=True)
        os.write(self._fd, _HEADER.pack(len(payload), zlib.crc32(payload), seq) + payload)
        if self.durable:
            os.fsync(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def reset(self) -> None:
        """Empty the journal. Call only after every shard has flushed what it applied."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)
