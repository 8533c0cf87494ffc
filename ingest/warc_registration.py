"""Registering one WARC split in the catalog: the captures rule, one lookup and one bulk write.

:func:`register_warc_split` is what the WARC job runs per split — on the driver (``--no-ray``, a local
store, or an error budget) or on the split's Ray worker (:mod:`ingest.warc_worker`). The external files
(indexed in place) and the sealed volumes (repacked records) enter the volume table first; then of the
captures of each key the latest by WARC-Date is kept (equal dates: the later in input order; a stored
capture loses to a new one of the same date — :mod:`catalog.captures`), and ``captures_replaced`` counts
the others. A sealed volume none of whose records the catalog points to afterwards is deleted, unless it
holds records without keys.

The common split — no key twice in it — is decided with one batched lookup of its keys and written with
one bulk registration (one batch per owner), skipping captures already stored with the same digest
(counted ``unchanged``, as the catalog would count them). A big one (``BULK_MIN_CAPTURES`` captures
and more) goes on whole columns instead (:mod:`ingest.warc_bulk_registration`): the owners write the
keys they do not hold in the same step as their lookup, and only the keys they hold are decided here,
the same way (:func:`decide_and_write`; same catalog, counts and marker, tested). Where the split holds a key twice, the
general path (:func:`catalog.captures.register_latest_captures` and
:func:`ingest.registration.register_split`) decides. Either way every write is conditional
(:mod:`catalog.owner_captures`): it lands only if the catalog still holds the capture it was decided
against, so two jobs registering captures of one URL at once still keep the latest WARC-Date. Both give the same catalog, counts and marker;
the decision reads what the catalog holds, so registrations of one job's splits run one at a time, in
plan order (on the driver, or from the workers, each after the split before it: :mod:`ingest.warc_worker`).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from catalog.captures import Capture, register_latest_captures
from catalog.catalog_writes import RegisterResult
from catalog.location import Location
from catalog.owner_replay import LATEST_CAPTURE
from catalog.store import Store
from ingest import warc_bulk_registration
from ingest.registration import Registration, sweep_unreferenced
from ingest.registration import register_split as register_volumes
from ingest.warc_bulk_registration import decide_and_write, register_unique_columns, split_columns
from ingest.warc_indexing import WarcSplitResult


def _volume_rows(store: Store, result: WarcSplitResult, run_id: str) -> tuple[list[int], list[int]]:
    """Volume-table numbers of the split's external files and sealed volumes (added if new)."""
    volumes = store.catalog.volumes
    # a restore decides these records by WARC-Date, a split's volumes together (catalog.owner_replay)
    decided = {"rule": LATEST_CAPTURE, "run_id": run_id, "split": result.split}
    external = [volumes.add(ext.url, {"kind": "external", "bytes": ext.size, "records": len(ext.records),
                                      "sidecar": ext.index_url, **decided}) for ext in result.external]
    sealed = [volumes.add(v.url, {"kind": "volume", "bytes": v.bytes, "records": len(v.records),
                                  "sidecar": v.sidecar, **v.info, **decided}) for v in result.sealed]
    return external, sealed


def _captures(result: WarcSplitResult, external_numbers: list[int], sealed_numbers: list[int]) -> list[Capture]:
    """Every keyed record of the split as a capture: in-place records file by file, then repacked ones."""
    captures: list[Capture] = []
    for ext, number in zip(result.external, external_numbers):
        dates = ext.dates or [None] * len(ext.records)
        captures.extend(Capture(key, Location(number, off, n, dig), date, ext.file_index, off)
                        for (key, off, n, dig), date in zip(ext.records, dates))
    sources = iter(zip(result.repack_sources, result.repack_dates or [None] * len(result.repack_sources)))
    for sealed, number in zip(result.sealed, sealed_numbers):
        for key, off, n, dig in sealed.records:
            (file_index, source_offset), date = next(sources)
            captures.append(Capture(key, Location(number, off, n, dig), date, file_index, source_offset))
    return captures


def _register_unique(store: Store, result: WarcSplitResult, captures: list[Capture],
                     sealed_numbers: list[int]) -> tuple[Registration, int]:
    """Register a split whose keys are all different (see the module docstring)."""
    stored = store.catalog.get_many([c.key for c in captures])
    out, replaced, referenced = decide_and_write(store, captures, stored)
    sweep_unreferenced(store, result.sealed, sealed_numbers, referenced, out)
    return out, replaced


def register_warc_split(store: Store, result: WarcSplitResult, run_id: str) -> tuple[Registration, dict[str, Any]]:
    """Register one split (see the module docstring); returns the registration and the split's
    completion-marker fields. Idempotent: registering a split again changes nothing."""
    external_numbers, sealed_numbers = _volume_rows(store, result, run_id)
    size = sum(len(e.records) for e in result.external) + sum(len(v.records) for v in result.sealed)
    big = size >= warc_bulk_registration.BULK_MIN_CAPTURES
    columns = split_columns(result, external_numbers, sealed_numbers) if big else None
    if columns is not None and len(set(columns.keys)) == size:
        registration, replaced, referenced = register_unique_columns(store, columns)
        sweep_unreferenced(store, result.sealed, sealed_numbers, referenced, registration)
        return registration, _marker_fields(result, replaced)
    captures = _captures(result, external_numbers, sealed_numbers)
    if len({c.key for c in captures}) == len(captures):
        registration, replaced = _register_unique(store, result, captures, sealed_numbers)
    else:
        replaced = 0
        written = RegisterResult(0, 0, 0)

        def latest_by_date(external: list[int], sealed: list[int]) -> list[tuple[str, Location]]:
            nonlocal replaced, written
            # decided and written here, each key only if no other job changed it meanwhile (else decided again)
            written, replaced = register_latest_captures(store, captures)
            return []

        # every key of the split, also those whose stored capture is later: the marker lists where each lives
        registration = register_volumes(store, result.sealed, order=latest_by_date,
                                        also_keys=[c.key for c in captures])
        registration.added, registration.updated, registration.unchanged = (written.added, written.updated,
                                                                            written.unchanged)
    return registration, _marker_fields(result, replaced)


def _marker_fields(result: WarcSplitResult, replaced: int) -> dict[str, Any]:
    return {"files": [asdict(f) for f in result.files], "bytes": result.bytes, "quarantined": result.quarantined,
            "captures_replaced": replaced, "warnings": result.warnings}
