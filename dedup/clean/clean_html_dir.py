"""``haybale dedup clean-html SRC_DIR DST_DIR`` as a function: clean every HTML file of a directory.

For each ``X.html`` or ``X.html.gz`` under ``src_dir`` (recursively; any fsspec URL), writes
``X.txt`` at the same relative place under ``dst_dir``: the cleaned main text, exactly what the dedup
job keeps for that page. A file that cannot be read (truncated gzip, I/O error) or parsed is
skipped and listed in the summary's ``errors`` with its path and reason (the ``X.txt`` an earlier run
wrote from it is removed: it no longer matches the page); the run goes on. A page
that cleans to no text (only navigation, scripts, an empty file) gets an empty ``X.txt`` and is listed
in ``empty`` with what the filters removed.

Local folders are read and written with the standard library: importing fsspec costs more start-up
than cleaning dozens of pages, and this command is run on a folder at a time (``bench.dedup_clean``
times it as a batch, start-up included). Other URLs go through fsspec.
"""
from __future__ import annotations

import os
import sys
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Literal, TextIO

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES, ContentDecodingError, decompress_file_strict
from catalog.errors import DecodedSizeError
from catalog.storage import ensure_dir

from .adblock_filter import load_rules
from .clean_outputs import record_outputs, refuse_foreign_outputs
from .config import CleanConfig, CleanResult
from .errors import CleanDirError, HtmlParseError
from .pipeline import clean_html

HTML_SUFFIXES = (".html.gz", ".htm.gz", ".xhtml.gz", ".html", ".htm", ".xhtml")  # any case
_PROGRESS_EVERY_SECONDS = 2.0
_IO_THREADS = 2
_READ_AHEAD = 8


def is_html_name(path: str) -> bool:
    """Whether ``path`` names an HTML file by its suffix (:data:`HTML_SUFFIXES`, any case)."""
    return path.lower().endswith(HTML_SUFFIXES)


def _output_name(relative: str) -> str:
    for suffix in HTML_SUFFIXES:
        if relative.lower().endswith(suffix):
            return relative[: -len(suffix)] + ".txt"
    raise ValueError(f"{relative!r} is not an .html, .htm or .xhtml file")


def output_names(relatives: list[str]) -> dict[str, str]:
    """Each input's output path (relative): the suffix replaced by ``.txt`` (``a/b.html`` ->
    ``a/b.txt``); inputs that would share one (``b.html`` and ``b.html.gz``) keep their whole name
    (``b.html.txt``, ``b.html.gz.txt``), so no text overwrites another."""
    plain = {r: _output_name(r) for r in relatives}
    taken: dict[str, int] = {}
    for name in plain.values():
        taken[name] = taken.get(name, 0) + 1
    return {r: (name if taken[name] == 1 else r + ".txt") for r, name in plain.items()}


class _LocalFiles:
    """The filesystem calls below on local paths, as fsspec's local filesystem answers them."""

    protocol = ("file", "local")  # what catalog.storage asks of a filesystem to tell local disk apart

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def find(self, root: str) -> list[str]:
        return [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def cat_file(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def rm_file(self, path: str) -> None:
        os.remove(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def open(self, path: str, mode: str) -> IO[bytes]:
        return open(path, mode)  # noqa: SIM115 (the caller closes it)


def empty_reason(result: CleanResult) -> str:
    """Why a page cleaned to no text: what the filters removed, or that it showed none."""
    removed = ", ".join(f"{name} {chars:,}" for name, chars in result.removals if chars)
    if removed:
        return f"no text left after cleaning (characters removed by filter: {removed})"
    return "no visible text in the page"


def _url_to_fs(url: str) -> tuple[Any, str]:
    """(filesystem, path) of ``url``: local paths and file:// URLs without fsspec, others with it."""
    if "://" not in url or url.startswith("file://"):
        path = url[len("file://"):] if url.startswith("file://") else url
        return _LocalFiles(), os.path.abspath(os.path.expanduser(path))
    import fsspec

    return fsspec.core.url_to_fs(url)


def clean_html_dir(
    src_dir: str,
    dst_dir: str,
    config: CleanConfig = CleanConfig(),
    progress: TextIO | None | Literal["stderr"] = "stderr",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Clean every HTML file under ``src_dir`` (``.html``, ``.htm``, ``.xhtml``, each optionally ``.gz``,
    any case) into ``*.txt`` under ``dst_dir`` (:func:`output_names`); other files are listed in
    ``not_read``.

    Progress lines go to ``progress`` (stderr by default; None for silence) every ~2 s and at the end.
    Returns a summary: ``files`` (HTML files found), ``written``, ``errors`` (list of
    ``{"path", "reason"}``: unreadable or unparseable inputs, unwritable outputs), ``empty`` (list of
    ``{"path", "reason"}``: pages that cleaned to no text, whose ``.txt`` is written empty), ``bytes_in`` (HTML
    bytes read, after gunzip), ``chars_out`` (text characters written), ``removals`` (filter name ->
    characters removed, summed), ``fallbacks`` (fallback name -> pages whose main content alone would
    have left almost nothing, see ``CleanResult.fallback``), ``flattened`` (list of ``{"path", "tags"}``:
    pages nested deeper than 512 levels, whose deeper tags were cut out before parsing, text kept;
    see :mod:`dedup.clean.nesting`), ``seconds``, ``files_per_second``.
    Raises CleanDirError if ``src_dir`` is not a directory, or if an output would replace a file in
    ``dst_dir`` that no clean-html run wrote and ``overwrite`` is not set
    (:mod:`dedup.clean.clean_outputs`); AdblockListError if the configured list cannot be loaded
    (checked before any file is read).
    """
    # "stderr" is resolved per call: sys.stderr may have been replaced since import (test capture)
    report_to: TextIO | None = sys.stderr if progress == "stderr" else progress  # type: ignore[assignment]
    src_fs, src_root = _url_to_fs(src_dir)
    dst_fs, dst_root = _url_to_fs(dst_dir)
    if not src_fs.isdir(src_root):
        raise CleanDirError(f"clean-html source {src_dir!r} is not a directory; give a folder of .html/.html.gz files")
    if config.adblock_list is not None:
        load_rules(config.adblock_list)
    src_root = src_root.rstrip("/")
    dst_root = dst_root.rstrip("/")
    found = sorted(src_fs.find(src_root))
    paths = [p for p in found if is_html_name(p)]
    targets = output_names([p[len(src_root) + 1:] for p in paths])
    written_names = refuse_foreign_outputs(dst_fs, dst_root, targets.values(), overwrite)
    summary: dict[str, Any] = {
        "files": len(paths), "written": 0, "errors": [], "bytes_in": 0, "chars_out": 0, "removals": {},
        "fallbacks": {}, "empty": [], "flattened": [],
        "not_read": [{"url": p, "reason": "not an HTML file by its name (.html, .htm, .xhtml, optionally .gz)"}
                     for p in found if not is_html_name(p)],
    }
    made_dirs: set[str] = set()

    def read(path: str) -> bytes:
        data = src_fs.cat_file(path)
        if path.lower().endswith(".gz"):  # the catalog's decoder: bounded memory, a bomb is an error
            data = decompress_file_strict(data, "gzip", max_decoded=DEFAULT_MAX_DECODED_BYTES, source=path)
        return data

    def write(target: str, payload: bytes) -> None:
        folder = target.rsplit("/", 1)[0]
        if folder not in made_dirs:
            ensure_dir(dst_fs, folder)  # on S3: checks the bucket, never creates it
            made_dirs.add(folder)
        with dst_fs.open(target, "wb") as out:
            out.write(payload)

    started = last_report = time.monotonic()
    # Files are read (and gunzipped) ahead and written behind by a small thread pool, so that file
    # I/O overlaps the cleaning, which holds the GIL; results are taken in input order.
    with ThreadPoolExecutor(max_workers=_IO_THREADS, thread_name_prefix="clean-html-io") as pool:
        reads = deque(pool.submit(read, p) for p in paths[:_READ_AHEAD])
        writes: list[tuple[str, str, Future[None], int, CleanResult]] = []
        for done, path in enumerate(paths, 1):
            pending = reads.popleft()
            if done - 1 + _READ_AHEAD < len(paths):
                reads.append(pool.submit(read, paths[done - 1 + _READ_AHEAD]))
            try:
                data = pending.result()
                result = clean_html(data, None, config)
            except (OSError, EOFError, zlib.error, ContentDecodingError, DecodedSizeError, HtmlParseError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                name = targets[path[len(src_root) + 1:]]
                if name in written_names and dst_fs.exists(f"{dst_root}/{name}"):
                    # an earlier run's text of this page no longer matches it: left, it passed for current
                    dst_fs.rm_file(f"{dst_root}/{name}")
                    reason += f" (the {name} an earlier run wrote from it is removed)"
                summary["errors"].append({"path": path, "reason": reason})
                continue
            target = f"{dst_root}/{targets[path[len(src_root) + 1:]]}"
            writes.append((path, target, pool.submit(write, target, result.text.encode("utf-8")), len(data), result))
            now = time.monotonic()
            if report_to is not None and now - last_report >= _PROGRESS_EVERY_SECONDS:
                print(f"clean-html: {done}/{len(paths)} files, {len(summary['errors'])} errors", file=report_to)
                last_report = now
        for path, target, future, size, result in writes:
            try:
                future.result()
            except OSError as exc:
                summary["errors"].append({"path": target, "reason": f"cannot write: {type(exc).__name__}: {exc}"})
                continue
            summary["written"] += 1
            written_names.add(target[len(dst_root) + 1:])
            if not result.text.strip():
                summary["empty"].append({"path": path, "reason": empty_reason(result)})
            summary["bytes_in"] += size
            summary["chars_out"] += len(result.text)
            for name, chars in result.removals:
                summary["removals"][name] = summary["removals"].get(name, 0) + chars
            if result.flattened_tags:
                summary["flattened"].append({"path": path, "tags": result.flattened_tags})
            if result.fallback is not None:
                summary["fallbacks"][result.fallback] = summary["fallbacks"].get(result.fallback, 0) + 1
    if summary["written"]:
        record_outputs(dst_fs, dst_root, written_names)
    summary["seconds"] = time.monotonic() - started
    summary["files_per_second"] = summary["written"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
    if report_to is not None:
        print(
            f"clean-html: {summary['written']}/{len(paths)} files written to {dst_dir}, "
            f"{len(summary['errors'])} errors, {summary['files_per_second']:.0f} files/s",
            file=report_to,
        )
    return summary
