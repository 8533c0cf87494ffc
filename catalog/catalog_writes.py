"""The write side of :class:`~catalog.catalog.Catalog`: registration, deletes and marks, each one
journal record applied to every shard it touches (see :mod:`catalog.journal` and
:mod:`catalog.journal_records`), and journal replay on open.

Guarantees (the catalog's): ``register_many`` is all-or-nothing across shards and durable when it
returns; it is idempotent by key and content digest — the same key with the same digest changes
nothing, the same key with a new digest points the key at the new location; within one call the last
occurrence of a key wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from catalog import column_families as cfs
from catalog.errors import CatalogError, KeyNotFoundError
from catalog.failpoints import failpoint
from catalog.journal import Journal
from catalog.journal_records import apply_record, drop_staged_files, ops_record
from catalog.keys import canonical_key, key_id
from catalog.listing import listing_entries_of, listing_entry
from catalog.location import Location
from catalog.shard import Shard

JOURNAL_ROTATE_BYTES = 64 << 20
_LOCATIONS, _LISTING, _MARKS = cfs.LOCATIONS.code, cfs.LISTING.code, cfs.MARKS.code


@dataclass(frozen=True)
class RegisterResult:
    """What a registration did: new keys, keys moved to new content, keys already registered as is."""

    added: int
    updated: int
    unchanged: int


class CatalogWrites:
    """Writes of a catalog opened for writing (mixed into :class:`~catalog.catalog.Catalog`)."""

    directory: Path
    read_only: bool
    shards: list[Shard]
    journal: Journal | None
    writes_applied: int
    _seq: int

    def shard_of(self, kid: bytes) -> int:
        raise NotImplementedError

    def get_many_ids(self, ids: Sequence[bytes]) -> list[bytes | None]:
        raise NotImplementedError

    def register_many(self, entries: Iterable[tuple[str, Location]]) -> RegisterResult:
        """Register (key, location) pairs atomically and durably; see the module docstring."""
        self._require_writable()
        latest: dict[str, Location] = {}
        for key, loc in entries:
            latest[canonical_key(key)] = loc
        if not latest:
            return RegisterResult(0, 0, 0)
        keys = list(latest)
        ids = [key_id(k) for k in keys]
        current = self.get_many_ids(ids)
        ops: dict[int, list[list[Any]]] = {}
        deltas: dict[int, int] = {}
        added = updated = unchanged = 0
        for key, kid, old in zip(keys, ids, current):
            loc = latest[key]
            shard = self.shard_of(kid)
            if old is not None:
                if Location.unpack(old).digest == loc.digest:
                    unchanged += 1
                    continue
                updated += 1
            else:
                added += 1
                deltas[shard] = deltas.get(shard, 0) + 1
                ops.setdefault(shard, []).append([_LISTING, listing_entry(key), b""])
            ops.setdefault(shard, []).append([_LOCATIONS, kid, loc.pack()])
        self._commit(ops, deltas)
        return RegisterResult(added, updated, unchanged)

    def delete_many(self, keys: Iterable[str], before_commit: Callable[[list[str]], None] | None = None) -> int:
        """Delete keys (location, listing entry and mark); returns how many existed. ``before_commit``
        is called with the canonical keys that exist, after the checks and before anything is written
        (an owner logs the call there: :mod:`catalog.owner_edit_log`)."""
        self._require_writable()
        canon = list(dict.fromkeys(canonical_key(k) for k in keys))
        ids = [key_id(k) for k in canon]
        current = self.get_many_ids(ids)
        ops: dict[int, list[list[Any]]] = {}
        deltas: dict[int, int] = {}
        for key, kid, old in zip(canon, ids, current):
            if old is None:
                continue
            shard = self.shard_of(kid)
            deltas[shard] = deltas.get(shard, 0) - 1
            ops.setdefault(shard, []).extend(
                [[_LOCATIONS, kid, None], *([_LISTING, entry, None] for entry in listing_entries_of(key)),
                 [_MARKS, kid, None]])
        if before_commit is not None and ops:
            before_commit([key for key, old in zip(canon, current) if old is not None])
        self._commit(ops, deltas)
        return -sum(deltas.values())

    def mark_many(self, marks: Iterable[tuple[str, str, str]],
                  before_commit: Callable[[list[tuple[str, str, str]]], None] | None = None) -> int:
        """Set (key, status, reason) marks on registered keys; returns how many keys were marked.
        ``before_commit`` is called with the canonical rows after the checks, before anything is written.

        Raises :class:`KeyNotFoundError` naming the first key that is not registered.
        """
        self._require_writable()
        rows = [(canonical_key(k), s, r) for k, s, r in marks]
        ids = [key_id(k) for k, _, _ in rows]
        ops: dict[int, list[list[Any]]] = {}
        for (key, status, reason), kid, cur in zip(rows, ids, self.get_many_ids(ids)):
            if cur is None:
                raise KeyNotFoundError(f"cannot mark {key!r}: it is not in the catalog")
            if "\t" in status:
                raise CatalogError(f"mark status {status!r} contains a tab: use a plain word")
            ops.setdefault(self.shard_of(kid), []).append([_MARKS, kid, f"{status}\t{reason}".encode()])
        if before_commit is not None and rows:
            before_commit(rows)
        self._commit(ops, {})
        return len(rows)

    def clear_marks(self, keys: Iterable[str]) -> None:
        """Remove the marks of ``keys`` (absent marks are fine); the locations stay."""
        self._require_writable()
        ops: dict[int, list[list[Any]]] = {}
        for key in dict.fromkeys(canonical_key(k) for k in keys):
            kid = key_id(key)
            ops.setdefault(self.shard_of(kid), []).append([_MARKS, kid, None])
        self._commit(ops, {})

    def _commit(self, ops: dict[int, list[list[Any]]], deltas: dict[int, int]) -> None:
        if not ops:
            return
        assert self.journal is not None
        self._seq += 1
        record = ops_record(ops, deltas)
        self.journal.append(self._seq, record)
        failpoint("catalog.after_journal")
        self._apply(self._seq, record)
        self.writes_applied += 1
        if self.journal.size() > JOURNAL_ROTATE_BYTES:
            self.checkpoint()

    def _apply(self, seq: int, record: dict[str, Any]) -> None:
        """Apply one journal record to every shard that has not applied it yet (idempotent)."""
        apply_record(self.shards, seq, record, self.directory)

    def _recover(self) -> None:
        assert self.journal is not None
        for seq, record in self.journal.records():
            self._apply(seq, record)
            self._seq = max(self._seq, seq)
        drop_staged_files(self.directory)

    def checkpoint(self) -> None:
        """Flush every shard to SST files, then empty the journal (everything in it is now durable)."""
        self._require_writable()
        assert self.journal is not None
        for shard in self.shards:
            shard.flush()
        self.journal.reset()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _require_writable(self) -> None:
        if self.read_only:
            raise CatalogError(f"catalog {self.directory} is open read-only: open it without read_only to write")
