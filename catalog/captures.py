"""Several captures of one URL: the catalog keeps the latest by WARC-Date, and says how many it replaced.

A key (a canonical URL) has one location in the catalog. When a run brings several captures of it —
within a file, across files, or against what the catalog already holds — the capture with the latest
``WARC-Date`` is kept, whatever order the files were given in; on equal dates the later one in input
order (file, then offset) wins. A capture with the same payload digest as the kept one is the same
capture (a rerun, or one record both indexed in place and repacked) and is neither kept twice nor
counted. Every other capture that is not kept is counted as *replaced* (:func:`latest_captures`), and
the job summary reports the count.

Dates compare to the second by their digits (``2024-05-01T12:00:00Z`` → ``20240501120000``), so WARC
dates, ARC's 14-digit dates and CDXJ timestamps order together (``catalog rebuild`` decides from the
sidecars' timestamps exactly as the ingest job decided); a record without a date counts as oldest.
Used by the WARC ingest job and by ``catalog rebuild``. Several jobs registering captures of one URL at
once: :func:`register_latest_captures` (a decision is written only if the catalog still holds what it
was made against, else made again), so the latest date wins whatever the order of arrival.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from catalog.catalog_writes import RegisterResult
from catalog.errors import CatalogError
from catalog.location import Location
from catalog.volume import VolumeReader

_DATE_DIGITS = 14


def date_order(date: str | None) -> str:
    """A string that sorts like the moment ``date`` (a WARC-Date or an ARC date) names."""
    digits = "".join(ch for ch in (date or "") if ch.isdigit())
    return digits[:_DATE_DIGITS].ljust(_DATE_DIGITS, "0") if digits else ""


class CaptureStore(Protocol):
    """What deciding between captures needs of a store (:class:`catalog.store.Store` is one): its
    locations, and a reader of its volumes for the stored capture's WARC-Date."""

    reader: VolumeReader

    def get_many(self, keys: Sequence[str]) -> list[Location | None]: ...

    def volume_url(self, number: int) -> str: ...


@dataclass(frozen=True)
class Capture:
    """One record to register: its key and location, its WARC-Date, and its place in the inputs."""

    key: str
    location: Location
    date: str | None
    file_index: int
    offset: int

    @property
    def order(self) -> tuple[str, int, int]:
        return date_order(self.date), self.file_index, self.offset


def _stored_date(store: CaptureStore, location: Location) -> str | None:
    """WARC-Date of the record the catalog points at (one ranged read); None if it cannot be read."""
    try:
        record = store.reader.read(store.volume_url(location.volume), location)
    except CatalogError:
        return None  # a damaged or missing record never outranks a readable new capture
    return record.header("WARC-Date")


def latest_captures(store: CaptureStore, captures: list[Capture]) -> tuple[list[tuple[str, Location]], int]:
    """(key, location) of the capture to register for each key, and how many captures were replaced
    (within ``captures``, and in the catalog). A key whose stored capture is later than every new one
    keeps its stored location (it is not in the returned list). Writing the result with
    ``register_many`` is right for one writer; with several at once use :func:`register_latest_captures`."""
    winners, replaced, _ = _decide(store, captures)
    return winners, sum(replaced.values())


def _decide(store: CaptureStore, captures: list[Capture]
            ) -> tuple[list[tuple[str, Location]], dict[str, int], dict[str, Location | None]]:
    """:func:`latest_captures` per key: the winners, the replaced count of each key, and the stored
    location each winner was decided against (None: the key was absent)."""
    best: dict[str, Capture] = {}
    replaced: dict[str, int] = {}
    for capture in captures:
        current = best.get(capture.key)
        if current is None:
            best[capture.key] = capture
            replaced[capture.key] = 0
            continue
        if capture.location.digest != current.location.digest:
            replaced[capture.key] += 1
        if capture.order >= current.order:
            best[capture.key] = capture
    keys = list(best)
    stored = store.get_many(keys)
    winners: list[tuple[str, Location]] = []
    seen: dict[str, Location | None] = {}
    for key, existing in zip(keys, stored):
        capture = best[key]
        if existing is None or existing.digest == capture.location.digest:
            winners.append((key, capture.location))  # new, or the same capture again: idempotent
            seen[key] = existing
            continue
        replaced[key] += 1
        if date_order(capture.date) >= date_order(_stored_date(store, existing)):
            winners.append((key, capture.location))
            seen[key] = existing
    return winners, replaced, seen


CONFLICT_ROUNDS = 20


def register_latest_captures(store: Any, captures: list[Capture]) -> tuple[RegisterResult, int]:
    """Decide as :func:`latest_captures` and register the winners through the catalog's owners, right
    when other jobs register captures of the same keys at once: each winner is written only if the
    catalog still holds the location it was decided against (:mod:`catalog.owner_captures`); a key
    another job changed meanwhile is decided again against the new capture. Returns what was
    registered and how many captures were replaced (``store``: a :class:`~catalog.store.Store`)."""
    from catalog.owner_captures import register_checked

    total = RegisterResult(0, 0, 0)
    replaced: dict[str, int] = {}
    pending = captures
    for _ in range(CONFLICT_ROUNDS):
        winners, counts, seen = _decide(store, pending)
        replaced.update(counts)  # a key decided again is counted as last decided
        result, conflicts = register_checked(store.catalog, [(k, loc, seen[k]) for k, loc in winners])
        total = RegisterResult(total.added + result.added, total.updated + result.updated,
                               total.unchanged + result.unchanged)
        if not conflicts:
            return total, sum(replaced.values())
        again = set(conflicts)
        pending = [c for c in pending if c.key in again]
    raise CatalogError(f"{len(pending)} captures (e.g. {pending[0].key}) kept changing under {CONFLICT_ROUNDS} "
                       "rounds of other jobs' registrations: run the job again (registration is idempotent)")
