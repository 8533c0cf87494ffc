"""Conditional registration at the owners: write a key's new location only if the catalog still holds
what the writer decided against. This is what makes the capture rule (the latest WARC-Date wins,
:mod:`catalog.captures`) hold when several jobs register captures of one URL at once.

A writer decides per key by reading the stored capture's date from its volume (the date is not in the
owner's value), which takes time; another job may register the same key meanwhile. So the writer
sends, with each new location, the location it saw (or None: absent). The owner checks and writes in
one call (owner calls run one at a time on Ray; in this process a lock serializes them): a key whose
stored location is still the one seen — or already carries the new capture's digest (a rerun) — is
written; any other is handed back as a *conflict*, and the writer decides it again against what the
catalog holds now (:func:`catalog.captures.register_latest_captures`).

Owner side: :func:`register_if_unchanged` (the owner method of the same name). Client side:
:func:`register_checked`, one call per owner, all at once.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from catalog.catalog_writes import RegisterResult
from catalog.keys import canonical_key, key_id
from catalog.location import LOCATION_SIZE, Location

_IN_PROCESS = threading.Lock()  # owners opened in this process: check and write as one step


def register_if_unchanged(store: Any, entries: Sequence[tuple[str, bytes, bytes | None]], epoch: int
                          ) -> tuple[tuple[int, int, int], list[str]]:
    """Owner side. ``entries``: (canonical key, packed new location, packed location the writer saw or
    None). Returns ((added, updated, unchanged) of what was written, the conflicting keys)."""
    if not entries:
        store.check(epoch)
        return (0, 0, 0), []
    ids = np.frombuffer(b"".join(key_id(k) for k, _, _ in entries), np.uint8).reshape(-1, 16)
    with _IN_PROCESS:
        found, values = store.lookup(ids, epoch)  # checks the epoch and that the keys are this owner's
        packed = np.ascontiguousarray(values).tobytes()
        write: list[tuple[str, bytes]] = []
        conflicts: list[str] = []
        for i, (key, new, seen) in enumerate(entries):
            current = packed[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE] if found[i] else None
            if current == seen or (current is not None and Location.unpack(current).digest == Location.unpack(new).digest):
                write.append((key, new))
            else:
                conflicts.append(key)
        counts = store.register(write, epoch) if write else (0, 0, 0)
    return counts, conflicts


def register_checked(catalog: Any, entries: Sequence[tuple[str, Location, Location | None]]
                     ) -> tuple[RegisterResult, list[str]]:
    """Client side: register (key, new location, location seen) through ``catalog``'s owners (an
    :class:`~catalog.owned_catalog.OwnedCatalog`), one call per owner, all at once. Returns what was
    written and the keys that changed since they were seen (not written)."""
    catalog._require_writable()
    rows = [(canonical_key(k), new.pack(), None if seen is None else seen.pack()) for k, new, seen in entries]
    if not rows:
        return RegisterResult(0, 0, 0), []

    def run() -> tuple[RegisterResult, list[str]]:
        from catalog.owner_endpoints import _gather

        groups = catalog._by_owner([k for k, _, _ in rows])
        answers = _gather([catalog._call(owner, "register_if_unchanged", [rows[i] for i in idx], catalog.meta.epoch)
                           for owner, idx in groups.items()])
        result = RegisterResult(sum(a[0][0] for a in answers), sum(a[0][1] for a in answers),
                                sum(a[0][2] for a in answers))
        return result, [key for a in answers for key in a[1]]
    out = catalog._routed(run)
    catalog.writes_applied += 1
    return out
