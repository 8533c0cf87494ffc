"""Registering one split's work in the catalog, and sweeping the volumes nothing points to.

Every ingest job ends a split the same way, on the driver (which alone holds the catalog): the sealed
volumes (and, for WARC files indexed in place, the external files) enter the volume table, then every
record's location is registered in **one** atomic call, in the order that decides which record wins
when a key repeats (the later one). Afterwards each key the split covers is looked up: a sealed volume
none of them lives in (written again by a redo after a crash, or every record replaced by a later one)
is deleted at once, unless it holds records without keys (a faithful WARC repack's requests, metadata,
...). The volumes the split's keys live in are listed in its completion marker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Sequence

from catalog.location import Location
from catalog.store import Store
from catalog.volume import SealedVolume

# entries(numbers of the external files, numbers of the sealed volumes) -> (key, location) in the order
# they are to be registered (the later of two records with one key wins)
EntryOrder = Callable[[list[int], list[int]], Iterable[tuple[str, Location]]]


@dataclass
class Registration:
    """What registering a split did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: list[SealedVolume] = field(default_factory=list)  # sealed volumes that records now live in
    dropped: list[SealedVolume] = field(default_factory=list)  # deleted: no record lives in them
    volume_urls: list[str] = field(default_factory=list)  # every volume the split's keys live in, sorted


def sealed_entries(sealed: Sequence[SealedVolume], numbers: list[int]) -> list[tuple[str, Location]]:
    """Every record of the sealed volumes, volume by volume, in the order they were appended."""
    return [(key, Location(number, offset, length, digest))
            for volume, number in zip(sealed, numbers) for key, offset, length, digest in volume.records]


def register_split(store: Store, sealed: Sequence[SealedVolume], *,
                   external: Sequence[tuple[str, dict[str, Any]]] = (), order: EntryOrder | None = None,
                   also_keys: Iterable[str] = (),
                   registered: tuple[int, int, int] | None = None,
                   unkeyed_held: Callable[[list[int], set[int]], Collection[int]] | None = None) -> Registration:
    """Register a split's ``sealed`` volumes and ``external`` files ((url, volume-table info) each).

    ``order`` builds the entries from the volume numbers (default: the sealed volumes' records in
    order); ``also_keys`` are keys the split covers without registering them now (stored already by an
    earlier attempt, or unchanged), whose volumes the marker lists too. Idempotent: registering the
    same split again changes nothing and deletes the volumes it wrote again. ``registered``: the
    worker registered the records through the catalog's owners already ((added, updated, unchanged)
    as the owners answered): only the volume rows (same URL, same number) and the sweep are done here.
    ``unkeyed_held(sealed numbers, referenced numbers)``: the sealed volumes whose records without keys
    other volumes hold already (dropped when nothing points into them).
    """
    volumes = store.catalog.volumes
    external_numbers = [volumes.add(url, info) for url, info in external]
    sealed_numbers = [volumes.add(v.url, {"kind": "volume", "bytes": v.bytes, "records": len(v.records),
                                          "sidecar": v.sidecar, **v.info}) for v in sealed]
    entries = list(order(external_numbers, sealed_numbers) if order is not None
                   else sealed_entries(sealed, sealed_numbers))
    if registered is None:
        result = store.catalog.register_many(entries)
        out = Registration(result.added, result.updated, result.unchanged)
    else:
        out = Registration(*registered)
    keys = list(dict.fromkeys([key for key, _ in entries] + list(also_keys)))
    referenced = {loc.volume for loc in store.catalog.get_many(keys) if loc is not None} if keys else set()
    held = unkeyed_held(sealed_numbers, referenced) if unkeyed_held is not None else ()
    sweep_unreferenced(store, sealed, sealed_numbers, referenced, out, held)
    return out


def sweep_unreferenced(store: Any, sealed: Sequence[Any], sealed_numbers: Sequence[int], referenced: set[int],
                       out: Registration, unkeyed_held: Collection[int] = ()) -> None:
    """Keep the sealed volumes a catalog location points into (or holding records without keys, unless
    ``unkeyed_held`` names them: other volumes hold those records already), drop the others (every
    record in them lost to a later capture, or stored before), and note the referenced volumes' URLs."""
    for volume, number in zip(sealed, sealed_numbers):
        if number in referenced or (volume.info.get("unkeyed") and number not in unkeyed_held):
            out.kept.append(volume)
        else:
            store.drop_volume(volume)
            out.dropped.append(volume)
    out.volume_urls = sorted(store.volume_url(n) for n in referenced)
