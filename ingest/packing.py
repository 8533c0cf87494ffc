"""Packing one split of input files into sealed volumes (plain Python; the job runs it on Ray).

Contract: returns only *sealed* volumes (durable, final names), plus a reject for every file that could
not be read, with its URL and reason. Nothing is registered here — the job registers a split's volumes
and only then marks the split done, so a crash anywhere leaves at worst unreferenced volumes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import fsspec

from catalog.storage import is_local
from catalog.volume import SealedVolume, VolumeWriter
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL, resource_record
from ingest.file_sources import Split


@dataclass
class PackResult:
    split: int
    sealed: list[SealedVolume] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _read_local(url: str) -> bytes:
    with open(url, "rb") as fh:
        return fh.read()


def pack_split(split: Split, volumes_url: str, *, volume_bytes: int, compresslevel: int = DEFAULT_COMPRESS_LEVEL,
               name_prefix: str = "vol") -> PackResult:
    """Read every file of ``split`` and append it as a WARC resource record to volumes under
    ``volumes_url``; seal them. Unreadable files become rejects; the split goes on."""
    started = time.perf_counter()
    result = PackResult(split.index)
    writer = VolumeWriter(volumes_url, max_bytes=volume_bytes, compresslevel=compresslevel,
                          name_prefix=name_prefix)
    remote = [f for f in split.files if not is_local(f.url)]
    fetched: dict[str, bytes | Exception] = {}
    if remote:
        fs, _ = fsspec.core.url_to_fs(remote[0].url)
        # one concurrent request batch for async filesystems (s3, gcs, http); errors come back per file
        fetched = fs.cat([f.url for f in remote], on_error="return")
        fetched = {fs.unstrip_protocol(k) if "://" not in k else k: v for k, v in fetched.items()}
    for f in split.files:
        try:
            data = fetched[f.url] if f.url in fetched else _read_local(f.url)
            if isinstance(data, Exception):
                raise data
        except (OSError, KeyError) as exc:
            result.rejects.append({"url": f.url, "reason": f"unreadable: {exc!r}"})
            continue
        result.sealed += writer.append(f.key, resource_record(f.key, data))
        result.files += 1
        result.bytes += len(data)
    result.sealed += writer.close()
    result.seconds = time.perf_counter() - started
    return result
