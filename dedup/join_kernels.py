"""Compiled kernels of the cluster-scale stages: LSH band keys, distinct shingle sets, set overlaps.

Each equals the numpy arithmetic it replaces, value for value (the tests compare them): the band
key of :func:`dedup.split_stage.band_keys`, and the overlap of distinct shingle hashes (shared and
union counts, which ``dedup.near_duplicate.NearDuplicateRule`` needs besides the Jaccard; the
Jaccard is shared / (|A| + |B| - shared) in float64, stored as float32; 1.0 for two empty sets).
"""
from __future__ import annotations

import numpy as np
from numba import uint64

from dedup.minhash_kernels import _fmix64, _inline, _jit


@_jit
def band_keys_kernel(signatures: np.ndarray, bands: int, rows: int, seed: np.uint64,
                     multiplier: np.uint64) -> np.ndarray:  # pragma: no cover - compiled
    """keys[d, k] = fold of fmix64((acc ^ value) * multiplier) over band k's ``rows`` values."""
    n_docs = signatures.shape[0]
    keys = np.empty((n_docs, bands), dtype=np.uint64)
    for doc in range(n_docs):
        for band in range(bands):
            acc = uint64(band + 1) * seed
            for row in range(rows):
                acc = _fmix64((acc ^ uint64(signatures[doc, band * rows + row])) * multiplier)
            keys[doc, band] = acc
    return keys


# Multiplicative hashing of the (already random) 32-bit shingle hashes into the probe tables.
_PROBE_MULTIPLIER = 0x9E3779B97F4A7C15


@_inline
def _table_size(members: int) -> int:
    size = 16
    while size < 2 * members:
        size *= 2
    return size


@_inline
def _slot(value: np.uint32, mask: int) -> int:
    # The linear-probing loop after it is written out in each kernel (here and in dedup/set_kernels.py):
    # an inlined shared probe helper measured 5-7 % slower in distinct_sets and overlap_by_left
    # (best of 5 on 40,000 random sets, same results), and these loops are the pair check's hot path.
    return int((uint64(value) * uint64(_PROBE_MULTIPLIER)) >> uint64(32)) & mask


@_jit
def distinct_sets(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Each set (values[offsets[i]:offsets[i+1]], uint32) with repeats removed, in first-seen order;
    new offsets. A small open-addressing table per set (linear time; a sort of each set cost ~3x)."""
    n = len(offsets) - 1
    out = np.empty(len(values), dtype=np.uint32)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    table = np.zeros(16, dtype=np.uint64)  # value + 1; 0 = empty
    position = 0
    for i in range(n):
        size = _table_size(offsets[i + 1] - offsets[i])
        if size > len(table):
            table = np.zeros(size, dtype=np.uint64)
        else:
            table[:size] = 0
        mask = size - 1
        for j in range(offsets[i], offsets[i + 1]):
            value = values[j]
            key = uint64(value) + uint64(1)
            slot = _slot(value, mask)
            while table[slot] != 0 and table[slot] != key:
                slot = (slot + 1) & mask
            if table[slot] == 0:
                table[slot] = key
                out[position] = value
                position += 1
        out_offsets[i + 1] = position
    return out[:position].copy(), out_offsets


@_jit
def overlap_of_sets(left_values: np.ndarray, left_offsets: np.ndarray, right_values: np.ndarray,
                    right_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(shared, union): sizes of the intersection and the union of left set i and right set i (each
    without repeats, in any order), for every i (int64): left set i goes into a probe table, right
    set i's members are looked up."""
    n = len(left_offsets) - 1
    shared_out = np.empty(n, dtype=np.int64)
    union_out = np.empty(n, dtype=np.int64)
    table = np.zeros(16, dtype=np.uint64)
    for i in range(n):
        left_size = left_offsets[i + 1] - left_offsets[i]
        right_size = right_offsets[i + 1] - right_offsets[i]
        size = _table_size(left_size)
        if size > len(table):
            table = np.zeros(size, dtype=np.uint64)
        else:
            table[:size] = 0
        mask = size - 1
        for j in range(left_offsets[i], left_offsets[i + 1]):
            value = left_values[j]
            slot = _slot(value, mask)
            while table[slot] != 0:
                slot = (slot + 1) & mask
            table[slot] = uint64(value) + uint64(1)
        shared = 0
        for k in range(right_offsets[i], right_offsets[i + 1]):
            value = right_values[k]
            key = uint64(value) + uint64(1)
            slot = _slot(value, mask)
            while table[slot] != 0 and table[slot] != key:
                slot = (slot + 1) & mask
            if table[slot] == key:
                shared += 1
        shared_out[i] = shared
        union_out[i] = left_size + right_size - shared
    return shared_out, union_out


def jaccard_of_overlap(shared: np.ndarray, union: np.ndarray) -> np.ndarray:
    """shared / union in float64, stored as float32; 1.0 where both sets are empty (union 0)."""
    shared = np.asarray(shared, dtype=np.int64)
    union = np.asarray(union, dtype=np.int64)
    return np.where(union > 0, shared / np.maximum(union, 1), 1.0).astype(np.float32)


@_jit
def gather_sets(values: np.ndarray, offsets: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Sets ``which[0]``, ``which[1]``, ... of (values, offsets), one after the other, and their
    offsets (len(which) + 1). One pass of copies (numpy's repeat + arange + gather made three
    temporaries the size of the result)."""
    n = len(which)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        out_offsets[i + 1] = out_offsets[i] + offsets[which[i] + 1] - offsets[which[i]]
    out = np.empty(out_offsets[n], dtype=values.dtype)
    for i in range(n):
        start = offsets[which[i]]
        base = out_offsets[i]
        for j in range(out_offsets[i + 1] - base):
            out[base + j] = values[start + j]
    return out, out_offsets


_FIRST_PASS_BITS = 10  # buckets of the first pass: 1024 write streams (in cache), ~5k rows each here
_BUCKET_ROWS = 8  # rows per final bucket the second pass aims at (insertion-sorted)
_SMALL_BUCKET = 48  # final buckets up to this size are insertion-sorted, larger ones merge-sorted


@_jit
def shared_key_rows(keys: np.ndarray, ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The rows whose key occurs more than once, sorted by key, rows of one key in input order
    (a stable sort by key, then the rows of keys seen once dropped): (keys, ordinals).

    Two stable counting-sort passes on the bits of ``key - smallest key`` that move the (key,
    ordinal) rows themselves: the top 10 bits first, then, inside each of those buckets (a few
    thousand rows: in cache), as many next bits as give ~8 rows per bucket; then a stable sort
    of each small bucket. One pass straight into ~10^6 buckets (top 20 bits) wrote every row to
    a random place in memory (~25 ns a row: cache and TLB misses, ~0.5 CPU s on the 1.9 GB
    benchmark's 19 million band keys); a timsort of the whole array cost ~3x more again.
    """
    n = len(keys)
    low = uint64(0)
    high = uint64(0)
    for i in range(n):
        if i == 0 or keys[i] < low:
            low = keys[i]
        if i == 0 or keys[i] > high:
            high = keys[i]
    span_bits = 0
    while span_bits < 64 and ((high - low) >> uint64(span_bits)) != 0:
        span_bits += 1
    first_bits = min(_FIRST_PASS_BITS, span_bits)
    shift = uint64(span_bits - first_bits)
    n_first = 1 << first_bits
    starts = np.zeros(n_first + 1, dtype=np.int64)
    for i in range(n):
        starts[((keys[i] - low) >> shift) + uint64(1)] += 1
    for b in range(n_first):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    pass_keys = np.empty(n, dtype=np.uint64)
    pass_ordinals = np.empty(n, dtype=np.uint64)
    for i in range(n):
        b = (keys[i] - low) >> shift
        at = fill[b]
        pass_keys[at] = keys[i]
        pass_ordinals[at] = ordinals[i]
        fill[b] += 1
    sorted_keys = np.empty(n, dtype=np.uint64)
    sorted_ordinals = np.empty(n, dtype=np.uint64)
    counts = np.zeros(1, dtype=np.int64)
    for first in range(n_first):
        lo, hi = starts[first], starts[first + 1]
        second_bits = 0
        while second_bits < int(shift) and (1 << second_bits) * _BUCKET_ROWS < hi - lo:
            second_bits += 1
        second_shift = shift - uint64(second_bits)
        mask = uint64((1 << second_bits) - 1)
        n_second = 1 << second_bits
        if len(counts) < n_second + 1:
            counts = np.zeros(n_second + 1, dtype=np.int64)
        else:
            counts[: n_second + 1] = 0
        for i in range(lo, hi):
            counts[(((pass_keys[i] - low) >> second_shift) & mask) + uint64(1)] += 1
        counts[0] = lo
        for b in range(n_second):
            counts[b + 1] += counts[b]
        for i in range(lo, hi):  # counts[b] is the next free place of bucket b
            b = ((pass_keys[i] - low) >> second_shift) & mask
            at = counts[b]
            sorted_keys[at] = pass_keys[i]
            sorted_ordinals[at] = pass_ordinals[i]
            counts[b] += 1
        begin = lo  # after the scatter counts[b] is the end of bucket b
        for b in range(n_second):
            end = counts[b]
            _sort_bucket(sorted_keys, sorted_ordinals, begin, end)
            begin = end
    shared = 0
    for j in range(n):
        key = sorted_keys[j]
        if (j > 0 and sorted_keys[j - 1] == key) or (j + 1 < n and sorted_keys[j + 1] == key):
            shared += 1
    out_keys = np.empty(shared, dtype=np.uint64)
    out_ordinals = np.empty(shared, dtype=np.uint64)
    at = 0
    for j in range(n):
        key = sorted_keys[j]
        if (j > 0 and sorted_keys[j - 1] == key) or (j + 1 < n and sorted_keys[j + 1] == key):
            out_keys[at] = key
            out_ordinals[at] = sorted_ordinals[j]
            at += 1
    return out_keys, out_ordinals


@_inline
def _sort_bucket(sorted_keys: np.ndarray, sorted_ordinals: np.ndarray, lo: int, hi: int) -> None:
    """Stable sort by key of rows [lo, hi): insertion sort when small, else a merge sort."""
    if hi - lo <= 1:
        return
    if hi - lo <= _SMALL_BUCKET:  # stable insertion sort: moves a row only past larger keys
        for j in range(lo + 1, hi):
            key = sorted_keys[j]
            ordinal = sorted_ordinals[j]
            k = j - 1
            while k >= lo and sorted_keys[k] > key:
                sorted_keys[k + 1] = sorted_keys[k]
                sorted_ordinals[k + 1] = sorted_ordinals[k]
                k -= 1
            sorted_keys[k + 1] = key
            sorted_ordinals[k + 1] = ordinal
    else:
        by_key = np.argsort(sorted_keys[lo:hi], kind="mergesort")
        bucket_keys = sorted_keys[lo:hi][by_key]
        bucket_ordinals = sorted_ordinals[lo:hi][by_key]
        sorted_keys[lo:hi] = bucket_keys
        sorted_ordinals[lo:hi] = bucket_ordinals


@_jit
def group_rows_by_bucket(rows: np.ndarray, buckets: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Rows (n x width uint64 words) grouped by bucket, stably (a counting sort: equal to taking
    them in the order of a stable argsort of ``buckets``), and the n_buckets + 1 bucket bounds."""
    n, width = rows.shape
    bounds = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(n):
        bounds[buckets[i] + 1] += 1
    for b in range(n_buckets):
        bounds[b + 1] += bounds[b]
    fill = bounds[:-1].copy()
    out = np.empty((n, width), dtype=np.uint64)
    for i in range(n):
        at = fill[buckets[i]]
        fill[buckets[i]] += 1
        for w in range(width):
            out[at, w] = rows[i, w]
    return out, bounds


_RADIX_BITS = 11  # digit of the pair sort: 2048 counters (in L1), 4 passes for 40-bit pair keys


@_jit
def distinct_sorted_pairs(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:  # pragma: no cover
    """The distinct (low[i], high[i]) pairs of ordinals sorted by (low, high), as
    ``np.lexsort((high, low))`` and dropping repeats would give them; the flag is False (and the
    arrays empty) when the ordinals are too wide for the fast path (the caller sorts then).

    An ordinal is ``split << 32 | row``. When every split index and row fits in 32 bits together
    (split bits + row bits <= 32: e.g. 4096 splits of up to a million rows), ``(split << row_bits) | row``
    is a dense order-preserving code, so a pair is one uint64 (low's code above high's) and the
    pairs sort by an LSD radix sort over only the bits in use (a lexsort of two uint64 columns
    cost ~5x more on the 1.9 GB benchmark's partitions).
    """
    n = len(low)
    max_split = uint64(0)
    max_row = uint64(0)
    for i in range(n):
        for value in (low[i], high[i]):
            split = value >> uint64(32)
            row = value & uint64(0xFFFFFFFF)
            if split > max_split:
                max_split = split
            if row > max_row:
                max_row = row
    split_bits = 0
    while (uint64(1) << uint64(split_bits)) <= max_split:
        split_bits += 1
    row_bits = 0
    while (uint64(1) << uint64(row_bits)) <= max_row:
        row_bits += 1
    if split_bits + row_bits > 32:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64), False
    code_bits = split_bits + row_bits
    mask = uint64((1 << 32) - 1)
    keys = np.empty(n, dtype=np.uint64)
    for i in range(n):
        a = ((low[i] >> uint64(32)) << uint64(row_bits)) | (low[i] & mask)
        b = ((high[i] >> uint64(32)) << uint64(row_bits)) | (high[i] & mask)
        keys[i] = (a << uint64(code_bits)) | b
    total_bits = 2 * code_bits
    buffer = np.empty(n, dtype=np.uint64)
    radix = 1 << _RADIX_BITS
    counts = np.zeros(radix + 1, dtype=np.int64)
    shift = 0
    while shift < total_bits:
        counts[:] = 0
        for i in range(n):
            counts[((keys[i] >> uint64(shift)) & uint64(radix - 1)) + 1] += 1
        for d in range(radix):
            counts[d + 1] += counts[d]
        for i in range(n):
            d = (keys[i] >> uint64(shift)) & uint64(radix - 1)
            buffer[counts[d]] = keys[i]
            counts[d] += 1
        keys, buffer = buffer, keys
        shift += _RADIX_BITS
    distinct = 0
    for i in range(n):
        if i == 0 or keys[i] != keys[i - 1]:
            distinct += 1
    out_low = np.empty(distinct, dtype=np.uint64)
    out_high = np.empty(distinct, dtype=np.uint64)
    code_mask = uint64((1 << code_bits) - 1)
    row_mask = uint64((1 << row_bits) - 1)
    at = 0
    for i in range(n):
        if i == 0 or keys[i] != keys[i - 1]:
            a = keys[i] >> uint64(code_bits)
            b = keys[i] & code_mask
            out_low[at] = ((a >> uint64(row_bits)) << uint64(32)) | (a & row_mask)
            out_high[at] = ((b >> uint64(row_bits)) << uint64(32)) | (b & row_mask)
            at += 1
    return out_low, out_high, True
