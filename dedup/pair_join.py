"""Similarity of document pairs, computed by a join by split (no task reads another split's files).

A pair (a, b) of ordinals needs a's and b's signatures (and, for the exact check, their shingle
hashes), which live in the files of split(a) and split(b). Three waves of one task per split move
the pairs to the data instead of the data to the pairs:

- **first** (task of split s, for pairs with a in s): attaches a's signature row; routes by split(b).
- **second** (task of split(b)): attaches b's signature, computes the estimate (share of equal
  signature values). Pairs decided by it are final; pairs whose estimate lies within
  ``EXACT_CHECK_MARGIN`` of the threshold (``verify="exact"`` only) get b's shingle hashes attached
  (distinct: the exact wave's kernel needs b's sets without repeats)
  and are routed back to split(a).
- **exact** (task of split(a)): the exact Jaccard of the two distinct shingle-hash sets (both
  recomputed from the clean text of the documents involved, dedup/jaccard.py), and how many
  shingles the two sets do not share (``union - shared``), for the small-difference clause of
  ``dedup.near_duplicate.NearDuplicateRule``. The pairs of one ``a`` share one probe table of
  a's hashes (dedup/set_kernels.py).

The similarity of a pair is the same value whichever task computes it (the estimate as a float64
mean stored as float32; the exact Jaccard likewise), so the outputs do not depend on how work is
spread. What happens to a final pair is the caller's ``purpose``:

- ``"verify"``: candidate pairs; those the rule calls near-duplicates (similarity at the
  threshold, or a small difference where the exact check ran) become duplicate edges, written in
  both orientations and routed by the split of their first node (the input of the components).
  The tasks also count every candidate pair's similarity in a histogram (dedup/plots.py), merged
  and rejected apart, for the run's ``s_curve.png`` and summary.
- ``"assign"``: (removed, kept) pairs; every pair is final, routed to split(removed) with its
  similarity and the kept document's id.

Memory per task: the pairs of one split and that split's signature rows, never a whole input.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from dedup.candidates import EXACT_CHECK_MARGIN, PAIRS_SCHEMA, unique_pairs
from dedup.jaccard import document_shingles, shingle_sets
from dedup.join_kernels import jaccard_of_overlap
from dedup.minhash import MinHashConfig
from dedup.near_duplicate import NearDuplicateRule
from dedup.plots import similarity_histogram
from dedup.row_gather import list_values
from dedup.set_kernels import overlap_by_left
from dedup.shuffle import read_table_bucket, write_table_buckets
from dedup.split_stage import split_name
from dedup.workdir import WorkDir

SPLIT_SHIFT = np.uint64(32)
ROW_MASK = np.uint64(0xFFFFFFFF)
EDGE_SCHEMA = pa.schema([("u", pa.uint64()), ("v", pa.uint64())])
# Verified candidate edges also carry their similarity: the (removed, kept) pair of a cluster is
# often one of them, and then its similarity is known without another join.
SCORED_EDGE_SCHEMA = pa.schema([("u", pa.uint64()), ("v", pa.uint64()), ("similarity", pa.float32())])
# Payload columns carried along with a pair, per purpose.
PAYLOAD = {"verify": [], "assign": [("kept_id", pa.string())]}
ASSIGNED_SCHEMA = pa.schema(
    [("a", pa.uint64()), ("b", pa.uint64()), ("similarity", pa.float32()), ("kept_id", pa.string())]
)


def split_of(ordinals: np.ndarray) -> np.ndarray:
    return (np.asarray(ordinals, dtype=np.uint64) >> SPLIT_SHIFT).astype(np.int64)


def row_of(ordinals: np.ndarray) -> np.ndarray:
    return (np.asarray(ordinals, dtype=np.uint64) & ROW_MASK).astype(np.int64)


def pair_schema(purpose: str, extra: Sequence[tuple[str, pa.DataType]] = ()) -> pa.Schema:
    """(a, b), then ``extra`` columns, then the purpose's payload columns."""
    return pa.schema([("a", pa.uint64()), ("b", pa.uint64()), *extra, *PAYLOAD[purpose]])


def _sig_path(work: WorkDir, split: int) -> str:
    return work.path("sigs", f"{split_name(split)}.npy")


def own_signatures(work: WorkDir, split: int, ordinals: np.ndarray) -> np.ndarray:
    """Signature rows of ordinals that all belong to ``split`` (uint32, n x num_perm)."""
    return work.array_rows(_sig_path(work, split), row_of(ordinals))


def _signature_column(signatures: np.ndarray) -> pa.Array:
    width = signatures.shape[1] * 4 if signatures.ndim == 2 else 0
    data = np.ascontiguousarray(signatures, dtype=np.uint32)  # the array's own memory (no bytes copy)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(signatures), [None, pa.py_buffer(data)])


def _signature_matrix(column: pa.ChunkedArray, num_perm: int) -> np.ndarray:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not len(array):
        return np.zeros((0, num_perm), dtype=np.uint32)
    data = np.frombuffer(array.buffers()[1], dtype=np.uint32)
    start = array.offset * num_perm
    return data[start : start + len(array) * num_perm].reshape(len(array), num_perm)


def first_wave(work: WorkDir, split: int, table: pa.Table, purpose: str, out: str, n_splits: int, num_perm: int) -> None:
    """Pairs (a, b, payload) with a in ``split``: attach a's signature, write them routed by split(b)."""
    a = table.column("a").to_numpy().astype(np.uint64)
    b = table.column("b").to_numpy().astype(np.uint64)
    signatures = own_signatures(work, split, a) if len(a) else np.zeros((0, num_perm), np.uint32)
    sig_schema = pair_schema(purpose, [("sig_a", pa.binary(num_perm * 4))])
    routed = pa.table(
        [pa.array(a), pa.array(b), _signature_column(signatures), *[table.column(n) for n, _ in PAYLOAD[purpose]]],
        schema=sig_schema,
    )
    write_table_buckets(work, out, routed, split_of(b), n_splits)


def second_wave(work: WorkDir, split: int, inputs: list[str], n_splits: int, purpose: str, verify: str,
                rule: NearDuplicateRule, minhash: MinHashConfig, final_out: str, exact_out: str) -> dict[str, Any]:
    """Pairs with b in ``split``: estimate; final pairs to ``final_out``, close calls (with b's
    shingle hashes) to ``exact_out``. Close calls are pairs whose estimate lies within
    ``EXACT_CHECK_MARGIN`` of ``rule.threshold`` (``verify="exact"`` only)."""
    threshold = rule.threshold
    num_perm = minhash.num_perm
    sig_schema = pair_schema(purpose, [("sig_a", pa.binary(num_perm * 4))])
    table = read_table_bucket(work, inputs, n_splits, split, sig_schema)
    a = table.column("a").to_numpy().astype(np.uint64)
    b = table.column("b").to_numpy().astype(np.uint64)
    left = _signature_matrix(table.column("sig_a"), num_perm)
    right = own_signatures(work, split, b) if len(b) else np.zeros((0, num_perm), np.uint32)
    similarity = np.empty(len(a), dtype=np.float32)
    for begin in range(0, len(a), 65536):  # as estimated_similarity does: float64 mean, stored as float32
        similarity[begin : begin + 65536] = (left[begin : begin + 65536] == right[begin : begin + 65536]).mean(axis=1)
    close = np.zeros(len(a), dtype=bool)
    if verify == "exact":
        close = np.abs(similarity - threshold) < EXACT_CHECK_MARGIN
    payload = [table.column(n) for n, _ in PAYLOAD[purpose]]
    decided = np.flatnonzero(~close)
    # Decided by the estimate: the set difference is unknown (-1), so only the threshold applies.
    counts = write_final(work, final_out, purpose, rule, n_splits, a[decided], b[decided], similarity[decided],
                         np.full(len(decided), -1, dtype=np.int64), [p.take(pa.array(decided)) for p in payload])
    checks = np.flatnonzero(close)
    # In the order of their destination split (stable: the order within a split is unchanged), so
    # the routed rows, shingle lists included, are written without another copy.
    checks = checks[np.argsort(split_of(a[checks]).astype(np.int32), kind="stable")]
    values, offsets = shingle_sets(work, split, b[checks], minhash)
    shingles = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint32()))
    exact_schema = pair_schema(purpose, [("shingles_b", pa.large_list(pa.uint32()))])
    routed = pa.table([pa.array(a[checks]), pa.array(b[checks]), shingles, *[p.take(pa.array(checks)) for p in payload]],
                      schema=exact_schema)
    write_table_buckets(work, exact_out, routed, split_of(a[checks]), n_splits)
    return {**counts, "exact_checks": int(len(checks))}


def exact_wave(work: WorkDir, split: int, inputs: list[str], n_splits: int, purpose: str, rule: NearDuplicateRule,
               minhash: MinHashConfig, final_out: str) -> dict[str, Any]:
    """Close calls with a in ``split``: exact Jaccard of the shingle sets (and their difference in
    shingles, for ``rule``); final pairs to ``final_out``."""
    exact_schema = pair_schema(purpose, [("shingles_b", pa.large_list(pa.uint32()))])
    table = read_table_bucket(work, inputs, n_splits, split, exact_schema)
    a = table.column("a").to_numpy().astype(np.uint64)
    b = table.column("b").to_numpy().astype(np.uint64)
    similarity = np.zeros(0, np.float32)
    difference = np.zeros(0, np.int64)
    if len(a):
        # a's shingles once per document, repeats and all: the overlap kernel skips repeats while
        # it fills a's probe table, once for all the pairs of a (sorted by a here).
        left_values, left_offsets, left_of_pair = document_shingles(work, split, a, minhash)
        right_values, right_offsets = list_values(table.column("shingles_b"))
        shared, union = overlap_by_left(left_values, left_offsets, left_of_pair, right_values, right_offsets,
                                        np.argsort(left_of_pair, kind="stable"))
        similarity = jaccard_of_overlap(shared, union)
        difference = union - shared
    payload = [table.column(n) for n, _ in PAYLOAD[purpose]]
    return write_final(work, final_out, purpose, rule, n_splits, a, b, similarity, difference, payload)


def write_final(work: WorkDir, out: str, purpose: str, rule: NearDuplicateRule | None, n_splits: int, a: np.ndarray,
                b: np.ndarray, similarity: np.ndarray, difference: np.ndarray, payload: list[Any]) -> dict[str, Any]:
    """Write final pairs: duplicate edges (``verify``, decided by ``rule``; ``difference`` is the
    shingles the two sets do not share, -1 where unknown) or similarities to split(a) (``assign``,
    no rule: every pair is kept with its similarity)."""
    if purpose == "verify":
        assert rule is not None, "verify needs the near-duplicate rule"
        keep = rule.decide(similarity, difference)
        write_edges(work, out, a[keep], b[keep], n_splits, similarity[keep])
        return {"verified_pairs": int(keep.sum()), "rejected_pairs": int((~keep).sum()),
                "similarity_histogram": similarity_histogram(similarity, keep)}
    table = pa.table([pa.array(a, pa.uint64()), pa.array(b, pa.uint64()), pa.array(similarity, pa.float32()), *payload],
                     schema=ASSIGNED_SCHEMA)
    write_table_buckets(work, out, table, split_of(a), n_splits)
    return {"pairs": int(len(a))}


def write_edges(work: WorkDir, out: str, a: np.ndarray, b: np.ndarray, n_splits: int,
                similarity: np.ndarray | None = None) -> None:
    """Undirected edges in both orientations (u, v[, similarity]), routed by split(u)."""
    u = np.concatenate([a, b]).astype(np.uint64)
    v = np.concatenate([b, a]).astype(np.uint64)
    if similarity is None:
        table = pa.table({"u": u, "v": v}, schema=EDGE_SCHEMA)
    else:
        both = np.concatenate([similarity, similarity]).astype(np.float32)
        table = pa.table({"u": u, "v": v, "similarity": both}, schema=SCORED_EDGE_SCHEMA)
    write_table_buckets(work, out, table, split_of(u), n_splits)


def verify_first(work: WorkDir, split: int, inputs: list[str], n_splits: int, num_perm: int, out: str,
                 edges_out: str) -> dict[str, int]:
    """First wave of the candidate check, for pairs with a in ``split`` (from every partition).

    Exact-digest pairs are duplicates without a check: written as edges to ``edges_out``. LSH
    pairs found in several partitions (several bands) are checked once: repeats are dropped here,
    where all pairs of a given ``a`` meet.
    """
    table = read_table_bucket(work, inputs, n_splits, split, PAIRS_SCHEMA)
    exact = table.column("exact").to_numpy(zero_copy_only=False).astype(bool)
    a = table.column("a").to_numpy().astype(np.uint64)
    b = table.column("b").to_numpy().astype(np.uint64)
    write_edges(work, edges_out, a[exact], b[exact], n_splits)
    pairs = unique_pairs(np.stack([a[~exact], b[~exact]], axis=1))
    first_wave(work, split, pa.table({"a": pairs[:, 0], "b": pairs[:, 1]}, schema=pair_schema("verify")), "verify", out,
               n_splits, num_perm)
    return {"candidate_pairs": int(len(pairs)), "exact_pairs": int(exact.sum())}


def assign_first(work: WorkDir, split: int, inputs: list[str], scored_edges: list[str], n_splits: int, num_perm: int,
                 out: str, final_out: str) -> dict[str, int]:
    """First wave of the (removed, kept) similarity, for removed documents of ``split``.

    A pair that is a verified candidate edge (``scored_edges``, routed by split(u)) already has its
    similarity, measured the same way: it is final (``final_out``). The others go on to the join.
    """
    table = read_table_bucket(work, inputs, n_splits, split, pair_schema("assign"))
    a = table.column("a").to_numpy().astype(np.uint64)
    b = table.column("b").to_numpy().astype(np.uint64)
    edges = read_table_bucket(work, scored_edges, n_splits, split, SCORED_EDGE_SCHEMA)
    found, similarity = _lookup_pairs(edges, a, b)
    known = np.flatnonzero(found)
    write_final(work, final_out, "assign", None, n_splits, a[known], b[known], similarity[known],
                np.full(len(known), -1, dtype=np.int64), [table.column("kept_id").take(pa.array(known))])
    first_wave(work, split, table.filter(pa.array(~found)), "assign", out, n_splits, num_perm)
    return {"pairs": table.num_rows, "known": int(len(known))}


def _pair_hash(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from dedup.tokens import fmix64

    return fmix64(fmix64(np.asarray(u, dtype=np.uint64)) ^ np.asarray(v, dtype=np.uint64))


def _lookup_pairs(edges: pa.Table, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (a[i], b[i]): whether it is an edge (u, v) of ``edges``, and that edge's similarity."""
    found = np.zeros(len(a), dtype=bool)
    similarity = np.zeros(len(a), dtype=np.float32)
    if not edges.num_rows or not len(a):
        return found, similarity
    u = edges.column("u").to_numpy().astype(np.uint64)
    v = edges.column("v").to_numpy().astype(np.uint64)
    keys = _pair_hash(u, v)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    wanted = _pair_hash(a, b)
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    candidate = order[position]
    # A hash match counts only when the pair itself matches (collisions fall back to the join).
    found = (keys[position] == wanted) & (u[candidate] == a) & (v[candidate] == b)
    similarity[found] = edges.column("similarity").to_numpy()[candidate[found]]
    return found, similarity
