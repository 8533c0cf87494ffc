"""Pack a local directory's files into volumes and register them (single process).

Each file becomes a WARC ``resource`` record keyed by its ``file://`` URI. Files are read in sorted
path order; records are registered only after the volume holding them is sealed, so a crash leaves at
worst an unreferenced temporary volume and re-running registers every file exactly once (registration
is idempotent by key and content digest). The Ray version of this job (remote sources, many workers)
lives in the ingest job; this is the embedded path the catalog's tests and demo use.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from catalog.keys import file_uri
from catalog.store import Store
from catalog.volume import DEFAULT_VOLUME_BYTES
from catalog.warc_records import DEFAULT_COMPRESS_LEVEL, payload_digest, resource_record
from catalog.progress import Progress
from ingest.errors import IngestError


@dataclass
class FilesSummary:
    """What an ingest of files did."""

    files: int = 0
    bytes: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    volumes: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "bytes": self.bytes, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "volumes": len(self.volumes), "volume_urls": self.volumes,
                "rejected": self.rejected, "seconds": round(self.seconds, 3),
                "files_per_s": round(self.files / self.seconds, 1) if self.seconds else None}


def walk_files(directory: str) -> Iterator[Path]:
    """Regular files under ``directory``, in sorted order (symlinks are not followed)."""
    root = Path(directory)
    if not root.is_dir():
        raise IngestError(f"{directory!r} is not a directory: give a directory of files to pack")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def ingest_files(store: Store, directory: str, *, volume_bytes: int = DEFAULT_VOLUME_BYTES,
                 compresslevel: int = DEFAULT_COMPRESS_LEVEL, show_progress: bool = True) -> FilesSummary:
    """Pack every file under ``directory`` into ``store``'s volumes and register it."""
    summary = FilesSummary()
    progress = Progress(f"ingest files {directory}", enabled=show_progress)
    writer = store.writer(max_bytes=volume_bytes, compresslevel=compresslevel)

    def register(sealed_list: list) -> None:
        for sealed in sealed_list:
            result = store.register_sealed(sealed)
            summary.added += result.added
            summary.updated += result.updated
            summary.unchanged += result.unchanged
            summary.volumes.append(sealed.url)

    def pack(batch: list[tuple[str, bytes, float]]) -> None:
        # Skip files already registered with the same content: a rerun writes no duplicate bytes.
        current = store.catalog.get_many([key for key, _, _ in batch])
        for (key, data, mtime), loc in zip(batch, current):
            if loc is not None and loc.digest == payload_digest(data):
                summary.unchanged += 1
                continue
            register(writer.append(key, resource_record(key, data, mtime=mtime)))

    batch: list[tuple[str, bytes, float]] = []
    for path in walk_files(directory):
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError as exc:
            summary.rejected.append({"path": str(path), "reason": f"unreadable: {exc}"})
            progress.update(errors=1)
            continue
        batch.append((file_uri(str(path)), data, mtime))
        summary.files += 1
        summary.bytes += len(data)
        progress.update(1, len(data))
        if len(batch) >= 1000:
            pack(batch)
            batch = []
    pack(batch)
    register(writer.close())
    summary.seconds = progress.done()
    return summary
