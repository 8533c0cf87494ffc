"""Compiled kernels of the exact pair check: the texts of a few documents in one copy, and the
overlap of shingle sets grouped by their left document.

:func:`overlap_by_left` gives the same (shared, union) counts as
:func:`dedup.join_kernels.overlap_of_sets` on the distinct left sets repeated once per pair (the
tests compare them), without building those: the pairs of one left document share one probe
table, filled from that document's shingles as they come (repeats skipped while filling), so a
left document costs one pass over its shingles however many pairs name it.
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from dedup.join_kernels import _slot, _table_size
from dedup.minhash_kernels import _jit


@_jit
def copy_ranges(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray,
                at: int) -> int:  # pragma: no cover - compiled
    """Copies data[starts[i]:ends[i]] for every i, one after the other, into ``out`` from ``at``;
    returns the position after the last value written."""
    for i in range(len(starts)):
        length = ends[i] - starts[i]
        out[at:at + length] = data[starts[i]:ends[i]]  # a slice copy: twice the speed of a byte loop
        at += length
    return at


@_jit
def overlap_by_left(left_values: np.ndarray, left_offsets: np.ndarray, left_of_pair: np.ndarray,
                    right_values: np.ndarray, right_offsets: np.ndarray,
                    order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(shared, union) of pair i = (left set ``left_of_pair[i]``, right set i), for every i (int64).

    Left sets (values[offsets[k]:offsets[k+1]], uint32) may hold repeats; right sets must not.
    ``order`` visits the pairs with their left sets grouped (e.g. a stable argsort of
    ``left_of_pair``): the table of a left set is built once per group, its distinct size counted
    while filling, then each right set of the group is looked up in it.
    """
    n = len(left_of_pair)
    shared_out = np.empty(n, dtype=np.int64)
    union_out = np.empty(n, dtype=np.int64)
    table = np.zeros(16, dtype=np.uint64)  # value + 1; 0 = empty
    current = -1
    mask = 0
    left_size = 0
    for position in range(n):
        pair = order[position]
        left = left_of_pair[pair]
        if left != current:
            current = left
            size = _table_size(left_offsets[left + 1] - left_offsets[left])
            if size > len(table):
                table = np.zeros(size, dtype=np.uint64)
            else:
                table[:size] = 0
            mask = size - 1
            left_size = 0
            for j in range(left_offsets[left], left_offsets[left + 1]):
                value = left_values[j]
                key = uint64(value) + uint64(1)
                slot = _slot(value, mask)
                while table[slot] != 0 and table[slot] != key:
                    slot = (slot + 1) & mask
                if table[slot] == 0:
                    table[slot] = key
                    left_size += 1
        shared = 0
        for k in range(right_offsets[pair], right_offsets[pair + 1]):
            value = right_values[k]
            key = uint64(value) + uint64(1)
            slot = _slot(value, mask)
            while table[slot] != 0 and table[slot] != key:
                slot = (slot + 1) & mask
            if table[slot] == key:
                shared += 1
        shared_out[pair] = shared
        union_out[pair] = left_size + (right_offsets[pair + 1] - right_offsets[pair]) - shared
    return shared_out, union_out
