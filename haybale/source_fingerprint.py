"""What a warm driver must share with the command it runs for: the same code and the same import-time settings.

:mod:`haybale.cli.warm_drivers` runs job commands in processes forked from one that imported haybale and
Ray long before. That is only the same as running the command itself when both would import the same
files with the same settings: :func:`source_fingerprint` changes when any ``.py`` file of haybale's
packages changes (path, size, modification time), or when the interpreter or the packages' directories
differ; :func:`import_environment` is the part of the environment read when modules are imported
(Ray's ``RAY_*``, Python's ``PYTHON*``, and haybale's ``HAYBALE_*`` except the per-command ones read
when a command runs). This module imports nothing beyond the standard library: the command computes
both before it imports any job code.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from typing import Mapping

PACKAGES = ("haybale", "ingest", "catalog", "dedup")
# read when a command runs, never at import: commands may differ in these and still share a warm driver;
# and RAY_CLIENT_MODE, which importing Ray sets to "0" itself (so it is in every environment made after)
NOT_IMPORT_SETTINGS = frozenset({"HAYBALE_ROOT", "HAYBALE_CATALOG_DIR", "HAYBALE_DEBUG", "RAY_CLIENT_MODE"})
_IMPORT_TIME_PREFIXES = ("RAY_", "PYTHON", "HAYBALE_")


def _package_dirs() -> list[str]:
    dirs = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(spec.submodule_search_locations)
    return sorted(dirs)


def source_fingerprint(package_dirs: list[str] | None = None) -> str:
    """A digest of the interpreter and of every ``.py`` file of haybale's packages where this process
    finds them (directory; relative path, size, modification time in ns). The rest of what imports
    find is the interpreter's own packages and ``PYTHONPATH`` (in :func:`import_environment`). Costs a
    ``stat`` per file (a few ms). ``package_dirs``: other directories instead (tests)."""
    digest = hashlib.sha1()
    digest.update(os.path.realpath(sys.executable).encode())
    for top in _package_dirs() if package_dirs is None else sorted(package_dirs):
        digest.update(b"\1" + top.encode())
        stack = [top]
        while stack:
            here = stack.pop()
            try:
                entries = sorted(os.scandir(here), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__" and not entry.name.startswith("."):
                        stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    digest.update(f"{entry.path[len(top):]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def import_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` that modules may read when they are imported."""
    return {k: v for k, v in env.items() if k.startswith(_IMPORT_TIME_PREFIXES) and k not in NOT_IMPORT_SETTINGS}
