"""``catalog rebuild`` as a parallel Ray job: volumes read and verified by tasks, SST files per shard.

Stages:

1. **Index (Ray tasks, one per volume or in-place index file).** Each task reads its volume once,
   whole, takes the records from the CDXJ sidecar (or scans the gzip members when the sidecar is
   missing), verifies every record on those bytes and leaves out what the root's deletion log says
   ``catalog delete`` removed (:func:`catalog.rebuild.index_volume`; the log is put once). At most
   ``max_in_flight`` tasks run at once, so the driver holds the results of a bounded window.
2. **Decide captures (driver).** Volume numbers are given in the serial rebuild's order (volumes by
   name, then in-place files by index); of several captures of one key the latest by WARC-Date wins,
   ties going to the later volume, then the later offset — :mod:`catalog.captures`' rule, the one the
   serial rebuild applies one volume at a time.
3. **Write (SST files per owner).** The winners are canonicalized, hashed, grouped by owner and
   sorted (:meth:`catalog.owned_catalog.OwnedCatalog.register_bulk_entries`), and each owner ingests
   its batch's location and listing SST files in one journaled step — no per-record write.

The result equals the serial :func:`catalog.rebuild.rebuild` key for key (tests/catalog/
test_rebuild_parallel.py). Stage 2 holds one entry per distinct key in the driver (~100 B each):
fine for one owner's catalog (10^8 keys ≈ 10 GB); a whole 10^10 catalog is rebuilt owner by owner
(deploy/SCALING.md).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from catalog.captures import date_order
from catalog.deletions import load_deletions
from catalog.errors import CatalogError
from catalog.location import Location
from catalog.rebuild import (
    RebuildReport,
    VolumeIndex,
    default_deletes_url,
    default_indexes_url,
    index_external,
    index_volume,
    list_external_indexes,
    list_volumes,
)
from catalog.store import Store


def _remote(fn: Callable[..., Any]) -> Any:
    import ray

    return ray.remote(num_cpus=1, max_retries=2)(fn)


def _ordered_results(fn: Callable[..., Any], urls: list[str], max_in_flight: int,
                     say: Callable[[str], None], what: str, *args: Any) -> list[Any]:
    """``fn(url, *args)`` for each url as Ray tasks, at most ``max_in_flight`` at once; results in url
    order."""
    import ray

    task = _remote(fn)
    results: list[Any] = [None] * len(urls)
    pending: dict[Any, int] = {}
    next_index = done = 0
    while next_index < len(urls) or pending:
        while next_index < len(urls) and len(pending) < max_in_flight:
            pending[task.remote(urls[next_index], *args)] = next_index
            next_index += 1
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            results[pending.pop(ref)] = ray.get(ref)
            done += 1
        if done == len(urls) or done % 50 == 0:
            say(f"rebuild: {done}/{len(urls)} {what} indexed")
    return results


def rebuild_parallel(volumes_url: str, target: Store, *, progress: Callable[[str], None] | None = None,
                     indexes_url: str | None = None, max_in_flight: int | None = None,
                     deletes_url: str | None = None) -> RebuildReport:
    """Rebuild ``target``'s empty catalog from the volumes under ``volumes_url`` and the in-place
    index files under ``indexes_url`` (default ``indexes`` beside it) on the Ray this process is
    connected to (see the module docstring), leaving out what the deletion log under ``deletes_url``
    (default ``deletes`` beside it) says was deleted. Raises :class:`CatalogError` if the target is not empty."""
    import ray

    if target.catalog.stats()["records"]:
        raise CatalogError(f"rebuild target {target.catalog.directory} is not empty: rebuild into a new "
                           "catalog directory")
    if not ray.is_initialized():
        raise CatalogError("rebuild_parallel needs a Ray connection (ray.init or `haybale catalog rebuild`, "
                           "which connects like the ingest commands)")
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    in_flight = max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    report = RebuildReport()
    started = time.perf_counter()
    deletions = load_deletions(deletes_url or default_deletes_url(volumes_url))

    # the tasks leave out what was deleted (each canonicalizes its own keys): the log is put once
    shared = ray.put(deletions) if deletions.by_key else None
    volumes: list[VolumeIndex] = _ordered_results(index_volume, list_volumes(volumes_url), in_flight, say, "volumes",
                                                  shared)
    indexes = list_external_indexes(indexes_url or default_indexes_url(volumes_url))
    for files, skipped in _ordered_results(index_external, indexes, in_flight, say, "index files", shared):
        report.skipped.extend(skipped)
        for f in files:
            if f.records or not f.external:
                volumes.append(f)  # counted in stage 2
            else:  # a file none of whose records is registered: its deleted and skipped ones still count
                report.deleted += f.deleted
                report.kept_after_delete.extend(f.kept_after_delete)
                report.skipped.extend(f.skipped)

    # stage 2: numbers in the serial order, then the latest capture of each key
    best: dict[str, tuple[tuple[str, int, int], Location]] = {}
    total = 0
    for position, index in enumerate(volumes):
        report.skipped.extend(index.skipped)
        report.deleted += index.deleted
        report.kept_after_delete.extend(index.kept_after_delete)
        if index.scanned:
            report.scanned_without_sidecar.append(index.url)
        if index.external:
            report.external_files += 1
        else:
            report.volumes += 1
        number = target.catalog.volumes.add(index.url, {
            "bytes": index.size, "records": len(index.records), "sidecar": index.sidecar,
            "kind": "volume", **index.info()})
        for (key, offset, length, digest), date in zip(index.records, index.dates):
            total += 1
            order = (date_order(date), position, offset)
            current = best.get(key)
            if current is None or order >= current[0]:
                best[key] = (order, Location(number, offset, length, digest))

    # stage 3: prepared here, one batch per owner (SST files ingested in one step for big batches)
    keys = list(best)
    locations = [best[k][1] for k in keys]
    del best
    result = target.catalog.register_bulk_entries(keys, locations)
    report.records = result.added
    report.duplicates = total - result.added
    report.seconds = time.perf_counter() - started
    say(f"rebuild: {report.records:,} keys from {report.volumes} volumes and {report.external_files} files "
        f"indexed in place in {report.seconds:.1f} s; {report.deleted} deleted captures left out, "
        f"{len(report.skipped)} records skipped")
    return report
