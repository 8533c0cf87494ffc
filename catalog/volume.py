"""Volumes: large immutable WARC files (one gzip member per record) on any fsspec URL.

Writing: :class:`VolumeWriter` appends records to a volume and *seals* it when it reaches
``max_bytes`` or on :meth:`VolumeWriter.close`. On local disk the volume is a temporary file, flushed,
fsynced and renamed to its final name when sealed. On S3 it is a multipart upload to its final key
from the start, completed when sealed — until then it is invisible, and an abandoned one is aborted —
so sealing copies nothing (no rename on the server). Then its CDXJ sidecar is written the same way. Only a sealed volume's records may be registered in the catalog, so the catalog
never points at bytes that are not durable. Volume file names come from a timestamp, a random id and a
counter — never from keys — so no key can steer where bytes are written.

Reading: :class:`VolumeReader` reads one record with one ranged read of exactly its bytes
(``os.pread`` on local disk, ``fs.cat_file(path, start, end)`` elsewhere) and verifies it: the gzip
CRC and the payload digest stored in the location must both match.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
import xxhash

from catalog.cdxj import cdxj_line, sidecar_url
from catalog.errors import CorruptRecordError, VolumeError, VolumeNotFoundError
from catalog.failpoints import failpoint
from catalog.location import Location
from catalog.storage import (
    TMP_SUFFIX,
    commit,
    discard,
    ensure_dir,
    fsync_dir,
    is_local,
    is_multipart_store,
    local_path,
    open_uncommitted,
    write_atomic_on,
)
from catalog.warc_records import (
    DEFAULT_COMPRESS_LEVEL,
    ParsedRecord,
    WarcRecord,
    gzip_member,
    parse_record,
    payload_digest,
)

DEFAULT_VOLUME_BYTES = 1 << 30
VOLUME_SUFFIX = ".warc.gz"


@dataclass
class SealedVolume:
    """A volume whose bytes are durable: its URL, size, and (key, offset, length, digest) per record."""

    url: str
    bytes: int
    records: list[tuple[str, int, int, int]]
    sidecar: str
    info: dict[str, Any] = field(default_factory=dict)


def unkeyed_fingerprint(source_offset: int, block: bytes) -> int:
    """What tells one copied record without a key from another of the same source file: its offset
    there and its block (a file changed in place gives other blocks), hashed to 64 bits."""
    return xxhash.xxh3_64_intdigest(b"%d\0" % source_offset + block)


class VolumeWriter:
    """Appends WARC records to volumes under ``volumes_url``; not thread-safe (one writer per thread).

    ``append`` returns the volumes it sealed while appending (zero or one); ``close`` seals the last.
    Records appended to a volume that was never sealed (a crash) are simply not in any sealed volume:
    the temporary file is garbage, never referenced.
    """

    def __init__(self, volumes_url: str, *, max_bytes: int = DEFAULT_VOLUME_BYTES,
                 compresslevel: int = DEFAULT_COMPRESS_LEVEL, name_prefix: str = "vol",
                 upload_part_bytes: int | None = None) -> None:
        if max_bytes <= 0:
            raise VolumeError(f"max_bytes={max_bytes}: give a positive volume size")
        self.volumes_url = volumes_url.rstrip("/")
        self.max_bytes = max_bytes
        self.level = compresslevel
        self.prefix = name_prefix
        self.upload_part_bytes = upload_part_bytes  # S3 multipart part size (None: s3fs's default)
        self._session = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:10]}"
        self._counter = 0
        self._local = is_local(self.volumes_url)
        self._fs, self._root = fsspec.core.url_to_fs(self.volumes_url)
        # on S3 the volume is a multipart upload to its final key, completed when sealed: no copy
        self._direct = not self._local and is_multipart_store(self._fs)
        ensure_dir(self._fs, self._root)  # a missing bucket is an error, never created
        self._fh: Any = None
        self._name = ""
        self._size = 0
        self._records: list[tuple[str, int, int, int]] = []
        self._cdx: list[str] = []
        self._unkeyed = 0
        self._unkeyed_sources: dict[str, list[int]] = {}  # source file -> [count, XOR of fingerprints]

    def _open(self) -> None:
        self._counter += 1
        self._name = f"{self.prefix}-{self._session}-{self._counter:05d}{VOLUME_SUFFIX}"
        tmp = f"{self._root}/{self._name}{TMP_SUFFIX}"
        if self._direct:
            self._fh = open_uncommitted(self._fs, f"{self._root}/{self._name}", self.upload_part_bytes)
        else:
            self._fh = open(tmp, "wb") if self._local else self._fs.open(tmp, "wb")
        self._size = 0
        self._records = []
        self._cdx = []
        self._unkeyed = 0
        self._unkeyed_sources = {}

    def append(self, key: str, record: WarcRecord, *, gzip_bytes: bytes | None = None,
               cdx_extra: dict[str, Any] | None = None) -> list[SealedVolume]:
        """Append one record for canonical ``key``. ``gzip_bytes`` may carry the already compressed
        member (workers compress in parallel); it must be ``gzip_member(record.to_bytes())``."""
        if self._fh is None:
            self._open()
        member = gzip_bytes if gzip_bytes is not None else gzip_member(record.to_bytes(), self.level)
        digest = payload_digest(record.payload)
        offset = self._size
        self._fh.write(member)
        self._size += len(member)
        self._records.append((key, offset, len(member), digest))
        failpoint("volume.after_append")
        self._cdx.append(cdxj_line(key, record, offset, len(member), digest, self._name, cdx_extra))
        if self._size >= self.max_bytes:
            return [self._seal()]
        return []

    def append_unkeyed(self, record: WarcRecord, *, source: str | None = None, source_offset: int = 0
                       ) -> list[SealedVolume]:
        """Append a record that gets no catalog key (a request, metadata, warcinfo or revisit record
        copied from a WARC being repacked): stored in the volume, counted in ``info["unkeyed"]`` of the
        sealed volume, in neither its records nor its sidecar. With ``source`` (the file it was copied
        from) and ``source_offset`` (where it is there), ``info["unkeyed_sources"]`` holds per source
        file ``[count, fingerprint]`` of these records (:func:`unkeyed_fingerprint`, XORed): a rerun
        over the same file can tell that an earlier volume holds them (:mod:`ingest.warc_registration`)."""
        if self._fh is None:
            self._open()
        member = gzip_member(record.to_bytes(), self.level)
        self._fh.write(member)
        self._size += len(member)
        self._unkeyed += 1
        if source is not None:
            entry = self._unkeyed_sources.setdefault(source, [0, 0])
            entry[0] += 1
            entry[1] ^= unkeyed_fingerprint(source_offset, record.block)
        if self._size >= self.max_bytes:
            return [self._seal()]
        return []

    def close(self) -> list[SealedVolume]:
        """Seal the open volume, if any; returns it."""
        if self._fh is None or not (self._records or self._unkeyed):
            self._discard()
            return []
        return [self._seal()]

    def _discard(self) -> None:
        if self._fh is not None and self._direct:
            discard(self._fh)  # the upload is aborted: nothing ever appears
            self._fh = None
        if self._fh is not None:
            self._fh.close()
            tmp = f"{self._root}/{self._name}{TMP_SUFFIX}"
            try:
                self._fs.rm(tmp)
            except FileNotFoundError:
                pass
            self._fh = None

    def _seal(self) -> SealedVolume:
        final = f"{self._root}/{self._name}"
        tmp = final + TMP_SUFFIX
        if self._local:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(tmp, final)
            fsync_dir(os.path.dirname(final))
        elif self._direct:
            commit(self._fh)  # completes the multipart upload: the whole volume appears at once
        else:
            self._fh.close()  # completes the upload (stores without multipart: then a rename)
            self._fs.mv(tmp, final)
        self._fh = None
        failpoint("volume.after_seal")
        side = sidecar_url(final)
        body = "".join(sorted(self._cdx)).encode("utf-8")
        write_atomic_on(self._fs, side, body, local=self._local)
        url = final if not self._local else os.path.abspath(final)
        if not self._local:
            url = self._fs.unstrip_protocol(final)
        side_url = sidecar_url(url)
        info: dict[str, Any] = {"unkeyed": self._unkeyed} if self._unkeyed else {}
        if self._unkeyed_sources:
            info["unkeyed_sources"] = self._unkeyed_sources
        return SealedVolume(url, self._size, self._records, side_url, info)


class VolumeReader:
    """Reads single records by location with one ranged read each; safe to share between threads."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def read_bytes(self, url: str, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset`` of the volume ``url``."""
        if is_local(url):
            fd = self._fd(local_path(url))
            data = os.pread(fd, length, offset)
        else:
            try:
                fs, path = fsspec.core.url_to_fs(url)
                data = fs.cat_file(path, start=offset, end=offset + length)
            except FileNotFoundError as exc:
                raise VolumeNotFoundError(f"volume {url} is missing: restore it, or rebuild the "
                                          "catalog without it") from exc
            except OSError as exc:  # storage that does not answer: its own error, for callers that retry
                exc.add_note(f"reading volume {url} at offset {offset}")
                raise
        if len(data) > length:
            raise VolumeError(f"volume {url} sent {len(data):,} bytes for the {length:,} of the record at offset "
                              f"{offset}: its server ignores HTTP range requests; serve it from storage that "
                              "supports them")
        if len(data) != length:
            raise CorruptRecordError(f"volume {url} ends before the record at offset {offset} "
                                     f"({len(data)} of {length} bytes): the volume is truncated",
                                     url, offset)
        return data

    def _fd(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is None:
            with self._lock:
                fd = self._fds.get(path)
                if fd is None:
                    try:
                        fd = os.open(path, os.O_RDONLY)
                    except FileNotFoundError as exc:
                        raise VolumeNotFoundError(f"volume {path} is missing: restore it, or run "
                                                  "`haybale catalog rebuild`") from exc
                    self._fds[path] = fd
        return fd

    def read(self, url: str, loc: Location) -> ParsedRecord:
        """The record at ``loc`` in volume ``url``, verified against ``loc.digest``.

        Raises :class:`CorruptRecordError` naming the volume and offset if the bytes do not
        decompress, do not parse, or their payload digest differs.
        """
        raw = self.read_bytes(url, loc.offset, loc.length)
        record = parse_record(raw, source=url, offset=loc.offset)
        if payload_digest(record.payload) != loc.digest:
            raise CorruptRecordError(
                f"record in {url} at offset {loc.offset} fails its checksum (payload digest differs "
                "from the catalog's): the volume is damaged or was overwritten; re-ingest the source",
                url, loc.offset)
        return record

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
