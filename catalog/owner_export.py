"""Each owner writes the locations of its own keys in a listing range to files ("pieces"), all owners
at once: how a job plans work over the catalog without one process listing the whole catalog.

Owner side (:func:`export_pieces`, called as the owner method ``export_pieces``): the owner walks its
listing index from a cursor, looks its keys up in batches, and writes consecutive *pieces* of at most
``per_piece`` records or about ``bytes_per_piece`` record bytes, each a Parquet file of
``(key, volume, offset, length, digest)`` in listing order. A call writes at most ``max_pieces`` pieces
and returns their descriptors and the cursor to continue from, so the owner (whose calls run one at
a time) serves registrations and reads between calls. Piece boundaries depend only on the owner's
keys and the sizes, never on how the walk was cut into calls: the same catalog gives the same pieces.

Client side (:func:`export_owner_pieces`): one call in flight per owner, all owners at once; each
answer is followed by the owner's next call until every owner is done. The caller holds only the
descriptors (a few per piece), never keys.

Volume numbers stay numbers here (owner 0 keeps the volume table); the caller resolves the few
distinct volumes the descriptors name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.keys import key_id
from catalog.listing import key_of_listing_entry
from catalog.location import LOCATION_SIZE, Location
from catalog.storage import ensure_dir

PIECE_SCHEMA = pa.schema([("key", pa.string()), ("volume", pa.uint32()), ("offset", pa.int64()),
                          ("length", pa.int64()), ("digest", pa.uint64())])
LISTING_CHUNK = 4096
PIECES_PER_CALL = 16


@dataclass(frozen=True)
class Piece:
    """One written piece: its file, the listing entry of its first key, its owner and sequence number,
    its record count and record bytes, and the distinct volume numbers its locations name."""

    url: str
    first: bytes
    owner: int
    seq: int
    records: int
    bytes: int
    volumes: tuple[int, ...]


def piece_url(directory: str, owner: int, seq: int) -> str:
    return f"{directory.rstrip('/')}/piece-o{owner:04d}-{seq:06d}.parquet"


def export_pieces(store: Any, lower: bytes, upper: bytes | None, cursor: bytes | None, directory: str,
                  seq: int, per_piece: int, bytes_per_piece: int, max_pieces: int = PIECES_PER_CALL
                  ) -> tuple[list[Piece], bytes | None]:
    """Owner side: write up to ``max_pieces`` pieces of ``store``'s keys with listing entries in
    ``[lower, upper)`` after ``cursor`` (None: from ``lower``), numbered from ``seq``, under
    ``directory`` (any fsspec URL the owner reaches). Returns the pieces and the cursor for the next
    call (None when the range is exhausted). ``store`` is an :class:`~catalog.owner_store.OwnerStore`
    (its ``listing_chunk`` and ``lookup``). A key deleted between listing and lookup is left out."""
    if per_piece < 1 or bytes_per_piece < 1:
        raise ValueError(f"per_piece ({per_piece}) and bytes_per_piece ({bytes_per_piece}) must be positive")
    fs, base = fsspec.core.url_to_fs(directory)
    ensure_dir(fs, base)
    pieces: list[Piece] = []
    rows: dict[str, list[Any]] = {name: [] for name in PIECE_SCHEMA.names}
    entries_of_rows: list[bytes] = []
    held_bytes = 0
    start, skip = (lower, False) if cursor is None else (cursor, True)

    def write() -> None:
        nonlocal held_bytes
        url = piece_url(directory, store.owner, seq + len(pieces))
        with fs.open(f"{base}/{url.rpartition('/')[2]}", "wb") as fh:
            pq.write_table(pa.table(rows, schema=PIECE_SCHEMA), fh)
        pieces.append(Piece(url, entries_of_rows[0], store.owner, seq + len(pieces), len(rows["key"]), held_bytes,
                            tuple(sorted(set(rows["volume"])))))
        for values in rows.values():
            values.clear()
        entries_of_rows.clear()
        held_bytes = 0

    while True:
        entries = store.listing_chunk(start, upper, LISTING_CHUNK, skip)
        if not entries:
            break
        keys = [key_of_listing_entry(e) for e in entries]
        ids = np.frombuffer(b"".join(key_id(k) for k in keys), np.uint8).reshape(-1, 16)
        found, values = store.lookup(ids, store.epoch)
        packed = np.ascontiguousarray(values).tobytes()
        for i, (entry, key) in enumerate(zip(entries, keys)):
            if not found[i]:
                continue
            loc = Location.unpack(packed[i * LOCATION_SIZE:(i + 1) * LOCATION_SIZE])
            rows["key"].append(key)
            rows["volume"].append(loc.volume)
            rows["offset"].append(loc.offset)
            rows["length"].append(loc.length)
            rows["digest"].append(loc.digest)
            entries_of_rows.append(entry)
            held_bytes += loc.length
            if len(rows["key"]) >= per_piece or held_bytes >= bytes_per_piece:
                last = entry
                write()
                if len(pieces) >= max_pieces:
                    return pieces, last  # the next call goes on after the last key written
        start, skip = entries[-1], True
        if len(entries) < LISTING_CHUNK:
            break
    if rows["key"]:
        write()
    return pieces, None


def export_owner_pieces(catalog: Any, lower: bytes, upper: bytes | None, directory: str, per_piece: int,
                        bytes_per_piece: int) -> list[Piece]:
    """Client side: every owner of ``catalog`` (an :class:`~catalog.owned_catalog.OwnedCatalog`)
    exports its keys in ``[lower, upper)`` as pieces under ``directory``, all owners at once (one call
    in flight per owner, the next sent as soon as an answer arrives). Returns every piece, by owner
    then sequence. A change of the slot map during the export starts it again (pieces are rewritten
    under the same names, the same for the same keys)."""

    def run() -> list[Piece]:
        epoch = catalog.meta.epoch
        owners = range(catalog.meta.num_owners)
        found: list[Piece] = []
        inflight = {o: _export_call(catalog, o, epoch, lower, upper, None, directory, 0, per_piece, bytes_per_piece)
                    for o in owners}
        while inflight:
            for owner, (pieces, cursor) in _first_done(inflight):
                found.extend(pieces)
                if cursor is None:
                    continue
                seq = pieces[-1].seq + 1
                inflight[owner] = _export_call(catalog, owner, epoch, lower, upper, cursor, directory, seq, per_piece,
                                               bytes_per_piece)
        found.sort(key=lambda p: (p.owner, p.seq))
        return found
    return catalog._routed(run)


def _export_call(catalog: Any, owner: int, epoch: int, lower: bytes, upper: bytes | None, cursor: bytes | None,
                 directory: str, seq: int, per_piece: int, bytes_per_piece: int) -> Any:
    return catalog._call(owner, "export_pieces", epoch, lower, upper, cursor, directory, seq, per_piece,
                         bytes_per_piece)


def _first_done(inflight: dict[int, Any]) -> list[tuple[int, Any]]:
    """Take the answers that are ready (waiting for at least one) out of ``inflight``; errors raise."""
    calls = list(inflight.values())
    if hasattr(calls[0], "result"):  # concurrent.futures: owners in this process
        from concurrent.futures import FIRST_COMPLETED, wait

        done = wait(calls, return_when=FIRST_COMPLETED).done
        ready = [(o, c) for o, c in inflight.items() if c in done]
        for o, _ in ready:
            del inflight[o]
        return [(o, c.result()) for o, c in ready]
    import ray

    done_refs, _ = ray.wait(calls, num_returns=1)
    ready = [(o, c) for o, c in inflight.items() if c in done_refs]
    for o, _ in ready:
        del inflight[o]
    return [(o, ray.get(c)) for o, c in ready]
