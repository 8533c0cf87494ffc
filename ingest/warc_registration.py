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
from catalog.volume import SealedVolume
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
    _sweep(store, result, sealed_numbers, referenced, out)
    return out, replaced


def _sweep(store: Store, result: WarcSplitResult, sealed_numbers: list[int], referenced: set[int],
           out: Registration) -> None:
    """:func:`sweep_unreferenced`, also dropping the volumes whose records without keys other volumes
    hold already (:func:`unkeyed_held_elsewhere`)."""
    held = unkeyed_held_elsewhere(store, result.sealed, sealed_numbers, referenced)
    sweep_unreferenced(store, result.sealed, sealed_numbers, referenced, out, held)


def unkeyed_held_elsewhere(store: Store, sealed: list[SealedVolume], numbers: list[int], referenced: set[int]
                           ) -> set[int]:
    """The split's sealed volumes that no catalog location points into and whose records without keys
    (requests, metadata, warcinfo, ... copied by a repack) are all held already by the volumes of one
    earlier split (a rerun of ``ingest warc`` over the same file under a new run id copied them again).

    A source file's records without keys are held when the kept (not dropped) volumes of one earlier
    split hold as many of them with the same fingerprints (``unkeyed_sources``, by offset and block:
    :func:`catalog.volume.unkeyed_fingerprint`) as this split's volumes do; a file changed since gives
    other fingerprints, and volumes written before fingerprints were recorded are never taken to hold
    anything. Reads the volume table only when some volume is a candidate."""
    candidates = [(v, n) for v, n in zip(sealed, numbers) if v.info.get("unkeyed") and n not in referenced]
    if not candidates:
        return set()
    mine: dict[str, list[int]] = {}  # source file -> [count, XOR] over every volume of this split
    for volume in sealed:
        for source, (count, xor) in volume.info.get("unkeyed_sources", {}).items():
            entry = mine.setdefault(source, [0, 0])
            entry[0] += count
            entry[1] ^= xor
    own = set(numbers)
    earlier: dict[tuple[Any, Any, str], list[int]] = {}  # (run, split, source file) -> [count, XOR]
    for row in store.catalog.volumes:
        if row.get("number") in own or row.get("dropped") or row.get("split") is None:
            continue
        for source, (count, xor) in (row.get("unkeyed_sources") or {}).items():
            if source in mine:
                entry = earlier.setdefault((row.get("run_id"), row.get("split"), source), [0, 0])
                entry[0] += count
                entry[1] ^= xor
    held = {source for (_, _, source), entry in earlier.items() if entry == mine[source]}
    return {n for v, n in candidates
            if sum(c for c, _ in v.info.get("unkeyed_sources", {}).values()) == v.info["unkeyed"]
            and set(v.info["unkeyed_sources"]) <= held}


def register_warc_split(store: Store, result: WarcSplitResult, run_id: str) -> tuple[Registration, dict[str, Any]]:
    """Register one split (see the module docstring); returns the registration and the split's
    completion-marker fields. Idempotent: registering a split again changes nothing."""
    external_numbers, sealed_numbers = _volume_rows(store, result, run_id)
    size = sum(len(e.records) for e in result.external) + sum(len(v.records) for v in result.sealed)
    big = size >= warc_bulk_registration.BULK_MIN_CAPTURES
    columns = split_columns(result, external_numbers, sealed_numbers) if big else None
    if columns is not None and len(set(columns.keys)) == size:
        registration, replaced, referenced = register_unique_columns(store, columns)
        _sweep(store, result, sealed_numbers, referenced, registration)
        return registration, _marker_fields(result, replaced, registration)
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
        registration = register_volumes(
            store, result.sealed, order=latest_by_date, also_keys=[c.key for c in captures],
            unkeyed_held=lambda numbers, referenced: unkeyed_held_elsewhere(store, result.sealed, numbers, referenced))
        registration.added, registration.updated, registration.unchanged = (written.added, written.updated,
                                                                            written.unchanged)
    return registration, _marker_fields(result, replaced, registration)


def _marker_fields(result: WarcSplitResult, replaced: int, registration: Registration) -> dict[str, Any]:
    # records without keys copied again and dropped with their volume, because earlier volumes hold them
    held = sum(v.info.get("unkeyed", 0) for v in registration.dropped)
    return {"files": [asdict(f) for f in result.files], "bytes": result.bytes, "quarantined": result.quarantined,
            "captures_replaced": replaced, "warnings": result.warnings, "unkeyed_held": held}
