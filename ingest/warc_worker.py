"""A WARC split registered from its Ray worker, straight to the catalog's owners, in plan order.

On a cluster store without an error budget, the split's task indexes its files and then registers them
itself (:func:`ingest.warc_registration.register_warc_split` on a ``Store`` of the owner actors), so the
driver holds no records and does no per-record work: it writes the split's completion marker when the
task returns, that is after every owner acknowledged.

Why turns: the captures rule (the latest WARC-Date wins; equal dates: the later split in the plan)
decides against what the catalog holds, so two splits of one job holding the same URL must not decide
at once, and a split must not register before an earlier one is marked done (a rerun redoes unmarked
splits only: were a later split registered and an earlier one redone, the earlier capture would win a
tie). :class:`RegistrationTurns` — one small actor per run, no CPU — lets split ``i`` register once
every earlier split of the attempt is marked done; the driver reports each marker. A task waits for
its turn in ``ray.get``, which gives its CPU back to Ray meanwhile, so waiting tasks never starve the
others (nor a retried one). Indexing — the bulk of the work — runs in parallel; registrations follow
one another, each overlapping the indexing of later splits.

Exactly once: a task killed after registering is retried by Ray; its turn is still open (its marker is
not written), it registers again (idempotent by key and digest: nothing changes twice) and returns.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from catalog.failpoints import failpoint
from ingest.warc_indexing import WarcSplitResult


class RegistrationTurns:
    """Which splits of an attempt may register: ``wait(i)`` returns once every split before ``i`` in
    ``order`` (the attempt's splits to do, in plan order) has been reported ``marked``."""

    def __init__(self, order: list[int]) -> None:
        self._position = {index: n for n, index in enumerate(order)}
        self._marked = 0  # splits marked, counted from the start of ``order``
        self._done: set[int] = set()
        self._order = order
        self._changed = threading.Condition()

    def wait(self, index: int) -> bool:
        with self._changed:
            self._changed.wait_for(lambda: self._marked >= self._position[index])
        return True

    def marked(self, index: int) -> None:
        with self._changed:
            self._done.add(index)
            while self._marked < len(self._order) and self._order[self._marked] in self._done:
                self._marked += 1
            self._changed.notify_all()


def start_turns(order: list[int]) -> Any:
    """The run's :class:`RegistrationTurns` actor (no CPU; threads: one per waiting task)."""
    import ray

    return ray.remote(num_cpus=0, max_concurrency=1024)(RegistrationTurns).remote(order)


@dataclass(frozen=True)
class WorkerRegistration:
    """What a worker needs to register a split: the store (root, catalog dir) and the run's turns."""

    root: str
    catalog_dir: str
    run_id: str
    turns: Any


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
    """Wait for the split's turn, register it through the owners, and return ``result`` with its
    registration and without its per-record lists (the driver needs only counts)."""
    import ray

    from catalog.store import Store
    from ingest.warc_registration import register_warc_split

    ray.get(work.turns.wait.remote(result.split))
    with Store(work.root, catalog_dir=work.catalog_dir, cluster=True, create=False) as store:
        registration, fields = register_warc_split(store, result, work.run_id)
    failpoint("warc_worker.after_register")
    result.registered = Registered(registration.added, registration.updated, registration.unchanged,
                                   registration.kept, registration.dropped, registration.volume_urls, fields)
    for ext in result.external:
        ext.records, ext.dates, ext.columns = [], [], None
    result.repack_sources, result.repack_dates = [], []
    return result
