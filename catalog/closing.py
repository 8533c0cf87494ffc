"""Closing many RocksDB instances with two garbage collections in all, not two each.

rocksdict keeps a database open while any Python object (column family, iterator, handle) refers to
it, so a writable shard is closed by dropping those references, collecting, closing, collecting again
(:meth:`catalog.shard.Shard.close`). A full collection costs tens of milliseconds in a big process, and
a store with several owners closes several shards: inside :func:`closing_together` every close is
deferred to the block's end, where one collection, every deferred step in order, and one more
collection run. Steps that must follow the databases' close (releasing a catalog's file lock) are
deferred the same way, after them, so nothing is released early.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_state = threading.local()


@contextmanager
def closing_together() -> Iterator[None]:
    """Defer the closes of this block (this thread) to its end; nested blocks join the outer one."""
    if getattr(_state, "pending", None) is not None:
        yield
        return
    pending: list[tuple[Callable[[], None], bool]] = []
    _state.pending = pending
    try:
        yield
    finally:
        _state.pending = None
        collect = any(needs for _, needs in pending)
        if collect:
            gc.collect()
        try:
            _run_all(pending)
        finally:
            pending.clear()  # the steps hold the databases: drop them before the last collection
            if collect:
                gc.collect()


def _run_all(pending: list[tuple[Callable[[], None], bool]]) -> None:
    """Every step, even after one fails (a shard whose flush hit a full disk must not leave the others
    open and the catalog's lock held); then the first failure is raised."""
    first: BaseException | None = None
    for step, _ in pending:
        try:
            step()
        except BaseException as exc:  # noqa: BLE001 - raised below, after the other steps ran
            first = first or exc
    if first is not None:
        raise first


def after_collection(step: Callable[[], None], *, collect: bool) -> None:
    """Run ``step`` once the references dropped so far are collected (``collect``: a collection is
    needed before and after it). Inside :func:`closing_together` it runs at the block's end, in the
    order given; outside, now."""
    pending = getattr(_state, "pending", None)
    if pending is not None:
        pending.append((step, collect))
        return
    if collect:
        gc.collect()
    step()
    if collect:
        gc.collect()
