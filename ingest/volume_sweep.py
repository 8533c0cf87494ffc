"""Sweeping a run's volumes that nothing references, so an interrupted run leaves none behind once rerun.

A job writes a split's volumes under ``VOLUMES/RUN_ID/`` (names carry the split: ``…-s000012-…``),
registers them, then marks the split done. Killed in between (Ctrl-C, SIGKILL), or a worker killed
mid-task (Ray retries it), it leaves volume files the catalog does not know, temporary files of
volumes never sealed, or volumes entered in the volume table whose records were never registered.
:func:`sweep_run` runs when no worker of the run is writing — before a rerun redoes the unfinished
splits, and after a run that finished — and removes:

- temporary files (``*.tmp``, ``*.tmp-<hex>``) of unsealed volumes and sidecars;
- sealed volumes (and their sidecars) the volume table does not know (the catalog can point only into
  volumes in the table, so these are garbage whatever their split);
- for splits not marked done: volumes in the table none of whose sidecar keys the catalog points to
  (marked dropped in the table; the redo writes their records again).

Registered volumes of splits marked done are never touched.
"""
from __future__ import annotations

import re

import fsspec

from catalog.cdxj import SIDECAR_SUFFIX, CdxEntry, parse_cdxj, sidecar_url
from catalog.storage import TMP_SUFFIX, url_of
from catalog.store import Store
from catalog.volume import VOLUME_SUFFIX, SealedVolume

_SPLIT_IN_NAME = re.compile(r"-s(\d{6})-")
# a temporary file: ``NAME.tmp`` (a volume being written) or ``NAME.tmp-<32 hex>`` (an atomic write,
# catalog.storage.atomic_writer, killed before its rename)
_TMP_NAME = re.compile(re.escape(TMP_SUFFIX) + r"(-[0-9a-f]{32})?$")


def _split_of(path: str) -> int | None:
    match = _SPLIT_IN_NAME.search(path.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def _sidecar_keys(url: str) -> list[str] | None:
    fs, path = fsspec.core.url_to_fs(sidecar_url(url))
    try:
        text = fs.cat_file(path).decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return [e.key for e in parse_cdxj(text, url) if isinstance(e, CdxEntry)]


def sweep_run(store: Store, run_volumes_url: str, done: set[int]) -> int:
    """Remove the unreferenced volumes under ``run_volumes_url`` (``done``: the splits marked done; see
    the module docstring); returns how many volume files were removed. Call it only while no worker
    of the run is writing."""
    fs, base = fsspec.core.url_to_fs(run_volumes_url)
    if not fs.exists(base):
        return 0
    removed = 0
    for path in sorted(fs.find(base)):
        split = _split_of(path)
        if split is None:
            continue
        tmp = _TMP_NAME.search(path)
        if tmp:
            fs.rm(path)
            removed += path[:tmp.start()].endswith(VOLUME_SUFFIX)
            continue
        if not path.endswith(VOLUME_SUFFIX):
            continue
        url = url_of(fs, path, run_volumes_url)
        number = store.catalog.volumes.number_of(url)
        sealed = SealedVolume(url, 0, [], sidecar_url(url))
        if number is None:
            store.drop_volume(sealed)
            removed += 1
            continue
        if split in done or store.catalog.volumes.get(number).get("dropped"):
            continue
        keys = _sidecar_keys(url) or []
        if not any(loc is not None and loc.volume == number for loc in store.catalog.get_many(keys)):
            store.drop_volume(sealed)
            removed += 1
    for path in fs.find(base):  # a sidecar whose volume is gone
        if path.endswith(SIDECAR_SUFFIX) and _split_of(path) is not None:
            if not fs.exists(path[: -len(SIDECAR_SUFFIX)] + VOLUME_SUFFIX):
                fs.rm(path)
    return removed
