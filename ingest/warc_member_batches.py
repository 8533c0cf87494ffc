"""The member pass over whole batches of members: compiled inflate and read, Python for the rest.

:func:`plan_member_batches` fills the same plan as the record-by-record member pass
(:func:`ingest.warc_member_pass.plan_members` without the compiled loops): members are inflated by
:mod:`ingest.warc_member_inflate` a few thousand at a time, the records of the common shape are read
and their CDXJ lines written by :func:`ingest.warc_member_scan.scan_records`, and Python only hashes
their payloads (xxh3, the catalog's digest) and splits the batch's keys, dates and lines into strings.
Every other record goes through the Python reading (``check_record`` and ``add``), which gives up on
the file exactly where the record-by-record pass would; records, dates and lines stay in file order.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import xxhash

from ingest.warc_member_inflate import BAD, DONE, NEED_INPUT, OUT_FULL, MemberInflater
from ingest.warc_member_scan import ANSWERED, LINE_SLACK, scan_records, write_digests

_READ = 16 << 20  # compressed bytes read from the file at a time
_TABLE = 16384  # members inflated per call


class GiveUp(Exception):
    """The file is not a plain sequence of one-record gzip members (raised by the Python reading too)."""


# (plan, offset, length, inflated bytes) -> None: the Python reading of one record into the plan
PythonRecord = Callable[[Any, int, int, bytes], None]


def _batch(plan: Any, inflater: MemberInflater, out: np.ndarray, n: int, base: int, name: np.ndarray,
           python_record: PythonRecord) -> None:
    """Add the ``n`` members just inflated (their file offsets are ``base + inflater.starts``)."""
    offsets = inflater.starts[:n] + base
    lengths = inflater.sizes[:n]
    out_starts, out_sizes = inflater.out_starts[:n], inflater.out_sizes[:n]
    used = int(out_starts[n - 1] + out_sizes[n - 1])
    state = np.zeros(n, np.int8)
    payload = np.zeros((n, 2), np.int64)
    lines = np.empty(3 * used + n * (len(name) + LINE_SLACK), np.uint8)  # room for every line: no early stop
    keys = np.empty(used + n, np.uint8)
    dates = np.empty(used + n, np.uint8)
    line_ends, hex_at = np.empty(n, np.int64), np.empty(n, np.int64)
    key_ends, date_ends = np.empty(n, np.int64), np.empty(n, np.int64)
    read, lat, kat, dat = scan_records(out, out_starts, out_sizes, 0, n, offsets, lengths, name, state, payload,
                                       lines, line_ends, hex_at, keys, key_ends, dates, date_ends)
    assert read == n
    answered = np.flatnonzero(state == ANSWERED)
    k = len(answered)
    view = memoryview(out)
    digest = xxhash.xxh3_64_intdigest
    spans = payload[answered]
    digests = np.fromiter((digest(view[s:e]) for s, e in spans.tolist()), np.uint64, count=k)
    write_digests(lines, hex_at[:k], digests)
    new_lines = lines[:lat].tobytes().decode("ascii").splitlines(keepends=True)
    new_keys = keys[:kat].tobytes().decode("ascii").split("\n")[:-1]
    new_dates = dates[:dat].tobytes().decode("ascii").split("\n")[:-1]
    new_records = list(zip(new_keys, offsets[answered].tolist(), lengths[answered].tolist(), digests.tolist()))
    plan.counts.records += k
    if k == n:  # the common batch: every record answered
        if plan.column_parts is not None:
            plan.column_parts.append((new_keys, offsets, lengths.copy(), digests))
        plan.records += new_records
        plan.dates += new_dates
        plan.lines += new_lines
        return
    plan.column_parts = None  # records read in Python are not in the column batches
    at = 0  # next answered record
    offs, lens, starts, sizes = offsets.tolist(), lengths.tolist(), out_starts.tolist(), out_sizes.tolist()
    for i, s in enumerate(state.tolist()):
        if s == ANSWERED:
            plan.records.append(new_records[at])
            plan.dates.append(new_dates[at])
            plan.lines.append(new_lines[at])
            at += 1
        else:
            python_record(plan, offs[i], lens[i], out[starts[i]:starts[i] + sizes[i]].tobytes())


def plan_member_batches(src: Any, plan: Any, json_name: str, limit: int, python_record: PythonRecord) -> bool:
    """Fill ``plan`` (empty) for ``src``, a file of one-record gzip members (see the module docstring):
    ``json_name`` is the file's URL as JSON writes it, ``limit`` the largest inflated member accepted,
    ``python_record`` reads a record the compiled reading leaves (raising :class:`GiveUp` where the
    file is not of the simple shape). False — ``plan`` to be discarded — where the file is not."""
    name = np.frombuffer(json_name.encode("utf-8"), np.uint8)
    out = np.empty(limit + 1, np.uint8)  # a member bigger than ``limit`` never fits: the pass gives up
    try:
        with src.open() as fh, MemberInflater(limit, _TABLE) as inflater:
            pending = b""
            base = 0  # file offset of pending[0]
            while True:
                block = fh.read(_READ)
                chunk = np.frombuffer(pending + block if pending else block, np.uint8)
                at = 0
                while True:
                    status, n, at, _ = inflater.inflate_members(chunk, at, out, 0)
                    if n:
                        _batch(plan, inflater, out, n, base, name, python_record)
                    if status in (DONE, NEED_INPUT):
                        break
                    if status == BAD or (status == OUT_FULL and n == 0):
                        return False  # bad bytes, or a member larger than ``limit``
                if not block:
                    return at == len(chunk)  # else the last member is truncated
                pending = chunk[at:].tobytes()
                base += at
    except GiveUp:
        return False
