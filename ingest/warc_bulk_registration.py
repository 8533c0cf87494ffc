"""Registering a big WARC split on whole columns: one round trip to the owners for the captures of URLs
the catalog does not hold yet (nearly all of them, in a first ingest).

Same decision and result as :func:`ingest.warc_registration._register_unique` (a split whose keys are
all different; tested against it): there, every key is looked up (one round trip), each capture decided
in Python, and the winners written conditionally (a second round trip, a per-key check at the owner).
Here the split's keys and locations go as columns (no per-record objects) to
:func:`catalog.owner_new_captures.register_if_absent`: each owner writes the absent ones in one step
with its lookup (SST ingest for big batches), and hands back the keys it holds; only those are built
into captures and decided as before (:func:`decide_and_write`: the latest
WARC-Date wins, conditional writes). A capture another job registers meanwhile is found by the owner's
check, never overwritten blindly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from catalog.captures import Capture, date_order, register_latest_captures
from catalog.errors import CatalogError
from catalog.location import Location, pack_many
from catalog.owner_captures import register_checked
from catalog.owner_new_captures import register_if_absent
from catalog.store import Store
from ingest.registration import Registration
from ingest.warc_indexing import WarcSplitResult

BULK_MIN_CAPTURES = 2048  # a split with at least this many captures registers on whole columns


@dataclass
class SplitColumns:
    """The split's captures as columns, in the order of :func:`ingest.warc_registration._captures`
    (in-place records file by file, then repacked ones)."""

    keys: list[str]
    volume: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    digest: np.ndarray
    dates: list[str | None]
    file_index: np.ndarray
    source_offset: np.ndarray

    def capture(self, i: int) -> Capture:
        return Capture(self.keys[i], Location(int(self.volume[i]), int(self.offset[i]), int(self.length[i]),
                                              int(self.digest[i])),
                       self.dates[i], int(self.file_index[i]), int(self.source_offset[i]))


def split_columns(result: WarcSplitResult, external_numbers: list[int], sealed_numbers: list[int]) -> SplitColumns:
    """Columns of every keyed record of the split (see :class:`SplitColumns`)."""
    keys: list[str] = []
    volume: list[np.ndarray] = []
    offset: list[np.ndarray] = []
    length: list[np.ndarray] = []
    digest: list[np.ndarray] = []
    dates: list[str | None] = []
    file_index: list[np.ndarray] = []
    source_offset: list[np.ndarray] = []

    def add(k: Any, off: Any, ln: Any, dig: Any) -> None:
        keys.extend(k)
        offset.append(np.asarray(off, np.uint64))
        length.append(np.asarray(ln, np.uint32))
        digest.append(np.asarray(dig, np.uint64))

    for ext, number in zip(result.external, external_numbers):
        n = len(ext.records)
        if not n:
            continue
        # the member pass's columns, else the records unzipped
        add(*(ext.columns if ext.columns is not None else _unzip(ext.records)))
        source_offset.append(offset[-1].astype(np.int64))
        dates += ext.dates or [None] * n
        volume.append(np.full(n, number, np.int64))
        file_index.append(np.full(n, ext.file_index, np.int64))
    sources = result.repack_sources
    repack_dates = result.repack_dates or [None] * len(sources)
    at = 0
    for sealed, number in zip(result.sealed, sealed_numbers):
        n = len(sealed.records)
        if not n:
            continue
        add(*_unzip(sealed.records))
        dates += repack_dates[at:at + n]
        volume.append(np.full(n, number, np.int64))
        file_index.append(np.fromiter((s[0] for s in sources[at:at + n]), np.int64, count=n))
        source_offset.append(np.fromiter((s[1] for s in sources[at:at + n]), np.int64, count=n))
        at += n

    def joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    return SplitColumns(keys, joined(volume, np.int64), joined(offset, np.uint64), joined(length, np.uint32),
                        joined(digest, np.uint64), dates, joined(file_index, np.int64),
                        joined(source_offset, np.int64))


def _unzip(records: list[tuple[str, int, int, int]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(keys, offsets, lengths, digests) of ``records``."""
    n = len(records)
    return ([r[0] for r in records], np.fromiter((r[1] for r in records), np.uint64, count=n),
            np.fromiter((r[2] for r in records), np.uint32, count=n),
            np.fromiter((r[3] for r in records), np.uint64, count=n))


def register_unique_columns(store: Store, columns: SplitColumns) -> tuple[Registration, int, set[int]]:
    """Register a split whose keys are all different, from its columns. Returns the registration (no
    volumes swept yet), the captures replaced and the volume numbers the catalog points to for these
    keys — what :func:`decide_and_write` returns for the same split."""
    from catalog.bulk_prepare import key_ids_of
    from catalog.keys import canonical_key

    packed = pack_many(columns.volume.astype(np.uint32), columns.offset, columns.length, columns.digest)
    written, found = register_if_absent(store.catalog, columns.keys, packed)
    if not found:
        out = Registration(added=written.added, updated=written.updated, unchanged=written.unchanged)
        return out, 0, set(np.unique(columns.volume).tolist())
    ids = key_ids_of([canonical_key(k) for k in columns.keys])  # as the owners hashed them
    held = [i for i in range(len(columns.keys)) if ids[i].tobytes() in found]
    held_set = set(held)
    absent_volumes = {int(columns.volume[i]) for i in range(len(columns.keys)) if i not in held_set}
    # the keys the catalog held: decided against their stored captures exactly as the per-key path does
    out, replaced, referenced = decide_and_write(store, [columns.capture(i) for i in held],
                                                 [found[ids[i].tobytes()] for i in held])
    out.added, out.updated, out.unchanged = (out.added + written.added, out.updated + written.updated,
                                             out.unchanged + written.unchanged)
    return out, replaced, referenced | absent_volumes


def _stored_date(store: Store, location: Location) -> str | None:
    """WARC-Date of the stored capture (one ranged read); None — oldest — if it cannot be read."""
    try:
        return store.reader.read(store.volume_url(location.volume), location).header("WARC-Date")
    except CatalogError:
        return None


def decide_and_write(store: Store, captures: list[Capture], stored: list[Location | None]
                     ) -> tuple[Registration, int, set[int]]:
    """Decide each capture (keys all different) against ``stored`` — what the catalog held for its key
    when looked up — and write the winners conditionally. Returns the registration (no volumes swept
    yet), the captures replaced, and the volume numbers the catalog points to for these keys."""
    chosen: list[tuple[str, Location, Location | None]] = []  # (key, new location, location decided against)
    points: dict[str, int] = {}  # key -> the volume the catalog points to for it after this registration
    replaced_keys: set[str] = set()
    unchanged = 0
    for capture, existing in zip(captures, stored):
        location = capture.location
        if existing is not None and existing.digest == location.digest:
            unchanged += 1  # the same capture again: the catalog keeps the stored location
            points[capture.key] = existing.volume
            continue
        if existing is not None:
            replaced_keys.add(capture.key)
            if date_order(capture.date) < date_order(_stored_date(store, existing)):
                points[capture.key] = existing.volume  # the stored capture is later: it stays
                continue
        chosen.append((capture.key, location, existing))
        points[capture.key] = location.volume
    out = Registration(unchanged=unchanged)
    replaced_again = 0
    if chosen:
        # written only where the catalog still holds what was decided against: another job registering
        # the same URLs at once makes a conflict, decided again against its capture
        written, conflicts = register_checked(store.catalog, chosen)
        out.added, out.updated, out.unchanged = written.added, written.updated, unchanged + written.unchanged
        if conflicts:
            again = set(conflicts)
            redo = [c for c in captures if c.key in again]
            more, more_replaced = register_latest_captures(store, redo)
            out.added, out.updated, out.unchanged = (out.added + more.added, out.updated + more.updated,
                                                     out.unchanged + more.unchanged)
            replaced_keys -= again  # those keys were decided again: counted by more_replaced
            replaced_again = more_replaced
            again_keys = sorted(again)
            for key, loc in zip(again_keys, store.catalog.get_many(again_keys)):
                if loc is not None:
                    points[key] = loc.volume  # decided again: where the catalog points now, not the first choice
    return out, len(replaced_keys) + replaced_again, set(points.values())
