"""Packing one split of input files into sealed volumes (plain Python; the files job runs it on a Ray
worker or in its own process).

Contract: returns only *sealed* volumes (durable, final names), plus a reject for every file that could
not be read as named (gone, not allowed, not a file: :func:`catalog.storage.is_missing_or_refused`), with its URL and reason,
and the count of files skipped because their content equals what
the catalog holds for their key (``PackWork.known``). Nothing is registered here — the job registers a
split's volumes and only then marks the split done, so a crash anywhere leaves at worst unreferenced
volumes. A read that fails on the storage (any other ``OSError``: the file may be fine) raises
:class:`~catalog.errors.SourceReadError`: the split fails, and a rerun with the run id reads it again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import fsspec

from catalog.errors import SourceReadError, io_detail
from catalog.storage import is_local, is_missing_or_refused, is_storage_error
from catalog.volume import DEFAULT_VOLUME_BYTES, SealedVolume, VolumeWriter
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL, payload_digest, resource_record
from ingest.file_sources import Split


@dataclass(frozen=True)
class PackWork:
    """What a split is packed with: where its volumes go, their size and compression, the prefix of
    their names, and the content digest the catalog holds for keys of the split already registered."""

    volumes_url: str
    volume_bytes: int = DEFAULT_VOLUME_BYTES
    compresslevel: int = DEFAULT_COMPRESS_LEVEL
    name_prefix: str = "vol"
    known: dict[str, int] = field(default_factory=dict)
    # (root, catalog dir, owners): register the sealed volumes straight to the catalog's owner actors from
    # the worker (one batch per owner); None: the driver registers them
    owners: tuple[str, str, int] | None = None


@dataclass
class PackResult:
    """``files`` packed (``bytes`` counts every file read, packed or unchanged)."""

    split: int
    sealed: list[SealedVolume] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    files: int = 0
    unchanged: int = 0
    bytes: int = 0
    seconds: float = 0.0
    registered: tuple[int, int, int] | None = None  # (added, updated, unchanged) when the worker registered


# the largest file packed: its record (WARC header + gzip of the bytes, which can grow incompressible
# data by ~0.03%) must fit a location's 32-bit length
MAX_FILE_BYTES = (1 << 32) - (64 << 20)


def _read_local(url: str) -> bytes:
    with open(url, "rb") as fh:
        return fh.read()


def pack_split(split: Split, work: PackWork) -> PackResult:
    """Read every file of ``split`` and append it as a WARC resource record (dated when it is packed,
    with the file's modification time, when known, in ``WARC-File-Modified``) to volumes under ``work.volumes_url``; seal them. Unreadable files
    become rejects and files whose digest equals ``work.known[key]`` are skipped; the split goes on.
    Raises :class:`SourceReadError` when the storage fails a read (see the module docstring)."""
    started = time.perf_counter()
    result = PackResult(split.index)
    writer = VolumeWriter(work.volumes_url, max_bytes=work.volume_bytes, compresslevel=work.compresslevel,
                          name_prefix=work.name_prefix)
    remote = [f for f in split.files if not is_local(f.url) and f.size <= MAX_FILE_BYTES]
    fetched: dict[str, bytes | Exception] = {}
    if remote:
        fs, _ = fsspec.core.url_to_fs(remote[0].url)
        # one concurrent request batch for async filesystems (s3, gcs, http); errors come back per file.
        # cat_ranges reads each key as it is: fs.cat expands paths, which drops a key's trailing "/"
        # (s3://b/dir/ holding bytes was read as s3://b/dir)
        urls = [f.url for f in remote]
        data = fs.cat_ranges(urls, [None] * len(urls), [None] * len(urls), on_error="return")
        fetched = dict(zip(urls, data))
    for f in split.files:
        if f.size > MAX_FILE_BYTES:  # known from the listing: not read at all
            result.rejects.append({"url": f.url, "reason": (
                f"{f.size:,} bytes: over the {MAX_FILE_BYTES:,}-byte limit of one record (a location's length "
                "is 32 bits): split the file, or keep it outside the volumes")})
            continue
        try:
            data = fetched[f.url] if f.url in fetched else _read_local(f.url)
            if isinstance(data, Exception):
                raise data
        except Exception as exc:
            if not is_storage_error(exc) and not isinstance(exc, KeyError):
                raise
            if not is_missing_or_refused(exc):  # the storage failed, not the file: read it again
                raise SourceReadError(f.url, None, io_detail(exc)) from exc
            result.rejects.append({"url": f.url, "reason": _reject_reason(exc)})
            continue
        result.bytes += len(data)
        known = work.known.get(f.key)
        if known is not None and known == payload_digest(data):
            result.unchanged += 1
            continue
        result.sealed += writer.append(f.key, resource_record(f.key, data, modified=f.mtime))
        result.files += 1
    result.sealed += writer.close()
    if work.owners is not None and result.sealed:
        result.registered = register_on_worker(work.owners, result.sealed)
    result.seconds = time.perf_counter() - started
    return result


def register_on_worker(owners: tuple[str, str, int], sealed: list[SealedVolume]) -> tuple[int, int, int]:
    """Register sealed volumes from this Ray worker: volume rows at owner 0, then the records prepared
    here (canonical key, id, owner, sorted) and sent one batch per owner. Returns when every owner
    acknowledged; idempotent by key and digest, so a retried task changes nothing twice."""
    from operator import itemgetter
    from pathlib import Path

    import numpy as np

    from catalog.location import MAX_LENGTH, pack_many
    from catalog.owned_catalog import OwnedCatalog

    root, catalog_dir, num_owners = owners
    catalog = OwnedCatalog.on_ray(root, Path(catalog_dir), num_owners)
    keys: list[str] = []
    columns: list[np.ndarray] = []
    for volume in sealed:
        number = catalog.volumes.add(volume.url, {"kind": "volume", "bytes": volume.bytes,
                                                  "records": len(volume.records), "sidecar": volume.sidecar,
                                                  **volume.info})
        if not volume.records:
            continue
        records = volume.records
        n = len(records)
        # one column at a time through C iterators (zip(*records) cost ~5x as much per record)
        start = len(keys)
        keys.extend(map(itemgetter(0), records))
        offsets, sizes, digests = (np.fromiter(map(itemgetter(j), records), np.uint64, count=n) for j in (1, 2, 3))
        if not sizes.all() or int(sizes.max()) > MAX_LENGTH:
            bad = int(np.flatnonzero((sizes == 0) | (sizes > MAX_LENGTH))[0])
            raise ValueError(f"volume {volume.url}: record {keys[start + bad]!r} has length {int(sizes[bad])}, outside "
                             f"1..{MAX_LENGTH}: the volume writer produced a bad record; reseal the split")
        # packed by the catalog's encoding function, on whole columns
        columns.append(pack_many(np.full(n, number, np.uint32), offsets, sizes.astype(np.uint32), digests))
    if not keys:
        return 0, 0, 0
    r = catalog.register_bulk_entries(keys, np.concatenate(columns))
    return r.added, r.updated, r.unchanged


def _reject_reason(exc: BaseException) -> str:
    """Why a listed file was not read, and what to do about it (the file is in no volume)."""
    if isinstance(exc, (FileNotFoundError, KeyError)):
        return (f"gone since the inputs were listed ({io_detail(exc)}): not ingested; if it comes back, "
                "ingest it again")
    if isinstance(exc, PermissionError):
        return f"refused ({io_detail(exc)}): give the job read access to it, then ingest it again"
    return f"unreadable ({io_detail(exc)}): ingest it again once it reads"
