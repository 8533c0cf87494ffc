"""Finding input files on any fsspec filesystem and cutting them into splits (units of work).

``expand_inputs`` turns what a user typed — a local directory, a glob, a single file, or the same as a
URL (``s3://bucket/prefix/*.txt``, ``memory://x``) — into a sorted list of files. ``plan_splits`` cuts
that list into splits by file count and bytes. Both are deterministic, so a rerun with the same inputs
makes the same plan; the job also stores its plan with the run, so a rerun never re-plans.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import fsspec

from catalog.keys import canonical_key, file_uri
from catalog.storage import is_local, local_path
from ingest.checkpoint import RunState
from ingest.errors import IngestError

GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FileRef:
    """One input file: its URL (absolute path for local files), size, catalog key and modification
    time (seconds since the epoch; None when the filesystem does not say)."""

    url: str
    size: int
    key: str
    mtime: float | None = None


@dataclass(frozen=True)
class Split:
    """A unit of work: files processed, packed and registered together."""

    index: int
    files: tuple[FileRef, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def key_for(url: str) -> str:
    """The catalog key of an input file: ``file://`` URI for local files, the URL otherwise."""
    if is_local(url):
        return file_uri(local_path(url))
    return canonical_key(url)


def expand_inputs(inputs: list[str]) -> list[FileRef]:
    """Every regular file named by ``inputs`` (directories are walked), sorted by URL, no repeats.

    Raises :class:`IngestError` naming an input that matches nothing.
    """
    seen: dict[str, FileRef] = {}
    for raw in inputs:
        fs, path = fsspec.core.url_to_fs(raw)
        local = is_local(raw)

        def url_of(p: str, fs: Any = fs, local: bool = local) -> str:
            return os.path.abspath(p) if local else fs.unstrip_protocol(p)

        if any(ch in path for ch in GLOB_CHARS):
            matches = fs.glob(path, detail=True)
            infos = {p: i for p, i in matches.items() if i.get("type") == "file"}
            dirs = [p for p, i in matches.items() if i.get("type") == "directory"]
            for d in dirs:
                infos.update({p: i for p, i in fs.find(d, detail=True).items() if i.get("type") == "file"})
        elif fs.isdir(path):
            infos = {p: i for p, i in fs.find(path, detail=True).items() if i.get("type") == "file"}
        elif fs.isfile(path):
            infos = {path: fs.info(path)}
        else:
            raise IngestError(f"input {raw!r} does not exist: check the path or URL (globs like "
                              "'dir/*.txt' must be quoted so the shell does not expand them)")
        if not infos:
            raise IngestError(f"input {raw!r} matches no files: check the pattern")
        for p, info in infos.items():
            url = url_of(p)
            if local and os.path.islink(p):
                continue  # symlinks could point anywhere; pack the target itself if wanted
            seen[url] = FileRef(url, int(info.get("size") or 0), key_for(url), _mtime(info))
    return [seen[u] for u in sorted(seen)]


def _mtime(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec ``info`` dict: ``mtime`` (local, seconds) or
    ``LastModified`` / ``last_modified`` / ``updated`` (object stores: a datetime or ISO string)."""
    value = info.get("mtime")
    if isinstance(value, (int, float)):
        return float(value)
    for name in ("LastModified", "last_modified", "updated", "mtime"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def plan_splits(files: list[FileRef], *, max_files: int = 5000, max_bytes: int = 256 << 20) -> list[Split]:
    """Consecutive runs of files, each at most ``max_files`` files and (unless one file is larger)
    ``max_bytes`` bytes."""
    if max_files <= 0 or max_bytes <= 0:
        raise IngestError(f"split size max_files={max_files}, max_bytes={max_bytes}: both must be positive")
    splits: list[Split] = []
    current: list[FileRef] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_files or size + f.size > max_bytes):
            splits.append(Split(len(splits), tuple(current)))
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        splits.append(Split(len(splits), tuple(current)))
    return splits


def check_job_inputs(inputs: list[str], *, local: bool, max_errors: int | None) -> None:
    """Refuse, before planning, what a split job cannot run: in-process ``memory://`` inputs when the
    splits run on Ray workers (they cannot see this process's memory), and a negative error budget."""
    if not local:
        for raw in inputs:
            if raw.startswith("memory://"):
                raise IngestError(f"input {raw!r} is in-process memory, which Ray workers cannot see: copy "
                                  "it to a shared filesystem or object store, or use --no-ray")
    if max_errors is not None and max_errors < 0:
        raise IngestError(f"--max-errors {max_errors}: give a number >= 0, or leave it out for no limit")


def load_or_plan(state: RunState, inputs: list[str], *, max_files: int, max_bytes: int,
                 **extra: Any) -> list[Split]:
    """The run's splits: the saved plan on a rerun, else a new plan of ``inputs`` saved before any
    work (with ``extra`` settings recorded beside it), so every attempt of a run does the same splits."""
    saved = state.load_plan()
    if saved is not None:
        return [Split(s["index"], tuple(FileRef(**f) for f in s["files"])) for s in saved["splits"]]
    splits = plan_splits(expand_inputs(inputs), max_files=max_files, max_bytes=max_bytes)
    state.save_plan({"inputs": inputs, "created": time.time(), **extra,
                     "splits": [{"index": s.index, "files": [asdict(f) for f in s.files]} for s in splits]})
    return splits
