"""A WARC split registered from its Ray worker, straight to the catalog's owners, in plan order.

On a cluster store without an error budget, the split's task indexes its files and then registers them
itself (:func:`ingest.warc_registration.register_warc_split` on a ``Store`` of the owner actors), so the
driver holds no records and does no per-record work: it writes the split's completion marker when the
task returns, that is after every owner acknowledged.

Why in plan order: the captures rule (the latest WARC-Date wins; equal dates: the later split in the
plan) decides against what the catalog holds, so two splits of one job holding the same URL must not
decide at once, and the later split must decide last. Each task of the attempt is given the Ray task of
the split before it in plan order (:attr:`WorkerRegistration.after`) and registers once that task has
returned, that is once the earlier split is registered: registrations follow one another in plan order,
each overlapping the indexing of later splits, and indexing — the bulk of the work — runs in parallel.
A task waits in ``ray.get``, which gives its CPU back to Ray meanwhile, so waiting tasks never starve the
ones they wait for (nor a retried one). No coordinator process is needed (the Ray task graph is it).

Reruns: the driver writes markers in plan order, so when a split is unmarked every later one is too, and
a rerun redoes them all in plan order — the later split still decides last. The splits the driver works
itself while the local head starts (:mod:`ingest.driver_split`) are the plan's tail: the driver registers
each after every earlier split's marker, as with any split it registers.

Exactly once: a task killed after registering is retried by Ray; the split after it waits for the retry
(its task is not done), which registers again (idempotent by key and digest: nothing changes twice) and
returns. A task that fails for good fails the split after it too, which then registers nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.failpoints import failpoint
from ingest.warc_indexing import WarcSplitResult


@dataclass(frozen=True)
class WorkerRegistration:
    """What a worker needs to register a split: the store (root, catalog dir), the run, and the Ray task
    of the split before it in the attempt's plan order (None: it is the first)."""

    root: str
    catalog_dir: str
    run_id: str
    after: Any = None


@dataclass
class Registered:
    """What a worker's registration did, sent back to the driver (no records)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: list[Any] = field(default_factory=list)
    dropped: list[Any] = field(default_factory=list)
    volume_urls: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


def register_from_worker(result: WarcSplitResult, work: WorkerRegistration) -> WarcSplitResult:
    """Wait until the split before it is registered, register it through the owners, and return
    ``result`` with its registration and without its per-record lists (the driver needs only counts)."""
    import ray

    from catalog.store import Store
    from ingest.warc_registration import register_warc_split

    if work.after is not None:
        try:
            ray.get(work.after)
        except ray.exceptions.RayError as exc:  # that split failed for good: this one registers nothing
            # as its own error, not that split's (a SourceReadError would make Ray retry this task for nothing)
            raise RuntimeError(f"split {result.split} was not registered: the split before it in plan order "
                               f"failed ({type(exc).__name__})") from None
    with Store(work.root, catalog_dir=work.catalog_dir, cluster=True, create=False) as store:
        registration, fields = register_warc_split(store, result, work.run_id)
    failpoint("warc_worker.after_register")
    result.registered = Registered(registration.added, registration.updated, registration.unchanged,
                                   registration.kept, registration.dropped, registration.volume_urls, fields)
    for ext in result.external:
        ext.records, ext.dates, ext.columns = [], [], None
    result.repack_sources, result.repack_dates = [], []
    return result
