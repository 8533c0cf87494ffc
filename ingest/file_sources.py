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

from catalog.errors import io_detail
from catalog.input_entries import is_regular_input, not_read_reason
from catalog.keys import canonical_key, file_uri
from catalog.storage import is_local, is_storage_error, local_path
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


@dataclass(frozen=True)
class Inputs:
    """What a job's inputs named: the files to read (sorted by URL, no repeats), and the entries found
    under an input directory or glob that are not read, each ``{"url", "reason"}`` (symbolic links,
    FIFOs, sockets, devices), so a job can report them instead of dropping them without a word."""

    files: list[FileRef]
    not_read: list[dict[str, str]]


# what a deployment writes under its root (catalog/layout.py, catalog/checkpoint_layout.py, the local
# head's cluster/), besides "catalog.rebuild" and "catalog.old-*" (an in-place rebuild's) and the meta
# record's lock and temporary files (catalog-meta.json.lock, .catalog-meta.json.*.tmp)
OWN_NAMES = frozenset({"catalog", "catalog-meta.json", "catalog-checkpoints", "volumes", "indexes", "runs",
                       "deletes", "cluster", "catalog-owners"})


def _under(url: str, place: str) -> bool:
    return url == place or url.startswith(place.rstrip("/") + "/")


def _own_place(url: str, own: tuple[str, ...]) -> str | None:
    """The deployment's own file or directory that ``url`` lies in, else None. ``own``: the root and
    the catalog directory (:func:`own_places`), or nothing."""
    if not own:
        return None
    root, catalog_dir = own
    if _under(url, catalog_dir):
        return catalog_dir
    if _under(url, root) and url != root:
        first = url[len(root.rstrip("/")) + 1:].split("/", 1)[0]
        if first in OWN_NAMES or first.startswith(("catalog.", "catalog-meta.json", ".catalog-meta.json")):
            return f"{root.rstrip('/')}/{first}"
    return None


def expand_inputs(inputs: list[str], *, follow_links: bool = False, own: tuple[str, ...] = ()) -> Inputs:
    """Every regular file named by ``inputs`` (directories are walked), and what was passed over.

    An input named on its own is read even when it is a symbolic link (as ``find -H`` does); inside a
    directory or a glob's matches, links are followed to regular files only with ``follow_links`` (a
    file's key is the link's path, its bytes the target's; links to directories are never walked), and
    the entries not read are listed in :attr:`Inputs.not_read` with their reason. A local name with
    glob characters that exists as it is (``data[1].txt``, local or an object) is that file, not a pattern. ``own``: the
    deployment's root and catalog directory (:func:`own_places`); the files the deployment writes there
    (catalog, volumes, runs, ...; ``haybale ingest files .`` with the root in ``.``) are never read, one
    ``not_read`` entry per such directory. Other files under the root are inputs like any. Raises :class:`IngestError` naming an input that matches
    nothing, or that is not a regular file or directory.
    """
    seen: dict[str, FileRef] = {}
    passed: dict[str, str] = {}
    for raw in inputs:
        try:
            _expand_one(raw, seen, passed, follow_links, own)
        except Exception as exc:  # storage that does not answer (OSErrors, and botocore's own errors)
            if not is_storage_error(exc):
                raise
            raise input_unreachable(raw, exc) from exc
    not_read = [{"url": u, "reason": passed[u]} for u in sorted(passed) if u not in seen]
    return Inputs([seen[u] for u in sorted(seen)], not_read)


def input_unreachable(raw: str, exc: BaseException) -> IngestError:
    """The error for an input whose storage failed while it was being looked at."""
    return IngestError(f"input {raw!r} cannot be read or listed ({io_detail(exc)}): check the path "
                       "or URL, that its storage is reachable (network, server) and the access rights or "
                       "credentials, then run again")


def _expand_one(raw: str, seen: dict[str, FileRef], passed: dict[str, str], follow_links: bool,
                own: tuple[str, ...]) -> None:
    """:func:`expand_inputs` of one input: its files into ``seen``, what is passed over into ``passed``."""
    fs, path = fsspec.core.url_to_fs(raw)
    local = is_local(raw)

    def url_of(p: str, fs: Any = fs, local: bool = local) -> str:
        return os.path.abspath(p) if local else fs.unstrip_protocol(p)

    def sort_out(found: dict[str, Any], infos: dict[str, Any], local: bool = local) -> None:
        for p, i in found.items():
            place = _own_place(url_of(p), own)
            if place is not None:
                passed[place] = "the deployment's own files (catalog, volumes, runs): never read as input"
                continue
            if is_regular_input(p, i, follow_links=follow_links):
                infos[p] = i
            elif i.get("type") != "directory":
                passed[url_of(p)] = not_read_reason(p, i, local=local, follow_links=follow_links)

    infos: dict[str, Any] = {}
    passed_before = len(passed)
    if any(ch in path for ch in GLOB_CHARS) and not _exists_as_named(fs, path, local):
        matches = fs.glob(path, detail=True)
        sort_out(matches, infos)
        for d in [p for p, i in matches.items() if i.get("type") == "directory"]:
            sort_out(fs.find(d, detail=True), infos)
    elif _own_place(url_of(path), own) is not None:
        raise IngestError(f"input {raw!r} is the deployment's own (its catalog, volumes or runs): give "
                          "inputs outside them")
    elif fs.isdir(path):
        sort_out(fs.find(path, detail=True), infos)
    elif fs.isfile(path):
        infos = {path: fs.info(path)}
    elif local and os.path.lexists(path):
        what = "a symbolic link to nothing" if os.path.islink(path) else "not a regular file or directory"
        raise IngestError(f"input {raw!r} is {what}: give regular files, directories or globs")
    else:
        raise IngestError(f"input {raw!r} does not exist: check the path or URL (globs like "
                          "'dir/*.txt' must be quoted so the shell does not expand them)")
    if not infos and len(passed) == passed_before:
        raise IngestError(f"input {raw!r} matches no files: check the pattern")
    for p, info in infos.items():
        url = url_of(p)
        if local and info.get("islink"):  # a followed link: the target's size and time
            target = os.stat(p)
            seen[url] = FileRef(url, target.st_size, key_for(url), target.st_mtime)
        else:
            seen[url] = FileRef(url, int(info.get("size") or 0), key_for(url), _mtime(info))


def _exists_as_named(fs: Any, path: str, local: bool) -> bool:
    """True if a name with glob characters is an existing entry as it is (local ``data[1].txt``, or the
    object ``s3://b/data[1].txt``): then it is that entry, not a pattern (as dedup's inputs are)."""
    return os.path.lexists(path) if local else fs.isfile(path)


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


def own_places(layout: Any) -> tuple[str, ...]:
    """The deployment's root and catalog directory as :func:`expand_inputs` compares them."""
    root = os.path.abspath(local_path(layout.root)) if is_local(layout.root) else layout.root.rstrip("/")
    return (root, os.path.abspath(layout.catalog_dir))


@dataclass(frozen=True)
class Plan:
    """A run's splits, and the entries its inputs named that are not read (:attr:`Inputs.not_read`)."""

    splits: list[Split]
    not_read: list[dict[str, str]]


def load_or_plan(state: RunState, inputs: list[str], *, max_files: int, max_bytes: int,
                 follow_links: bool = False, own: tuple[str, ...] = (), **extra: Any) -> Plan:
    """The run's plan: the saved one on a rerun, else a new plan of ``inputs`` saved before any
    work (with ``extra`` settings recorded beside it), so every attempt of a run does the same splits
    and reports the same entries not read. ``own``: see :func:`expand_inputs` (:func:`own_places`)."""
    saved = state.load_plan()
    if saved is not None:
        splits = [Split(s["index"], tuple(FileRef(**f) for f in s["files"])) for s in saved["splits"]]
        return Plan(splits, saved.get("not_read", []))
    found = expand_inputs(inputs, follow_links=follow_links, own=own)
    splits = plan_splits(found.files, max_files=max_files, max_bytes=max_bytes)
    state.save_plan({"inputs": inputs, "created": time.time(), "follow_links": follow_links, **extra,
                     "splits": [{"index": s.index, "files": [asdict(f) for f in s.files]} for s in splits],
                     "not_read": found.not_read})
    return Plan(splits, found.not_read)
