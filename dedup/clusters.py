"""The kept document of every duplicate cluster, chosen per root partition (no whole-run step).

Pure Python (no Ray). After the components (dedup/components.py) every node knows its root (the
smallest ordinal of its cluster), in the task of the node's split:

1. :func:`attach_wave` (per split): each node of the split gets what the kept choice needs from
   the split's own documents (score, digest, id) and is routed to the split of its root.
2. :func:`kept_wave` (per root split): all members of each cluster meet; the kept document is the
   first by (score, ordinal) — policy ``first`` (input order), ``longest`` (bytes of clean text) or
   ``priority`` (highest ``priority_field``), ties to the lowest ordinal, so the choice is
   deterministic. Every other member is removed: as an exact duplicate (similarity 1) when its
   digest equals the kept document's, otherwise its similarity to the kept document is measured
   by the join of dedup/pair_join.py. Both go to the removed document's split.
3. :func:`assigned_rows` (per split, in the write task): the removed documents of the split with
   their kept document, reason and similarity, in ordinal order.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from dedup.pair_join import ASSIGNED_SCHEMA, EDGE_SCHEMA, pair_schema, row_of, split_of
from dedup.shuffle import read_table_bucket, write_table_buckets
from dedup.split_stage import split_name
from dedup.workdir import WorkDir

ASSIGN_SCHEMA = pa.schema(
    [
        ("ordinal", pa.uint64()),
        ("id", pa.string()),
        ("kept_ordinal", pa.uint64()),
        ("kept_id", pa.string()),
        ("reason", pa.string()),
        ("similarity", pa.float32()),
    ]
)
MEMBER_SCHEMA = pa.schema(
    [
        ("root", pa.uint64()),
        ("node", pa.uint64()),
        ("score", pa.float64()),
        ("digest_hi", pa.uint64()),
        ("digest_lo", pa.uint64()),
        ("id", pa.string()),
    ]
)


def _docs_columns(work: WorkDir, split: int, columns: list[str]) -> pa.Table:
    return work.read_table(work.path("keys", f"{split_name(split)}.parquet"), columns=columns)


def attach_wave(work: WorkDir, split: int, leaf_inputs: list[str], roots_path: str, n_splits: int, keep: str,
                out: str) -> dict[str, int]:
    """Nodes of ``split`` with their root and attributes, routed by split(root) to ``out``."""
    leaves = read_table_bucket(work, leaf_inputs, n_splits, split, EDGE_SCHEMA)
    centres = np.asarray(work.open_array(roots_path), dtype=np.uint64)
    nodes = np.concatenate([leaves.column("u").to_numpy().astype(np.uint64), centres])
    roots = np.concatenate([leaves.column("v").to_numpy().astype(np.uint64), centres])
    nodes, first = np.unique(nodes, return_index=True)
    roots = roots[first]
    docs = _docs_columns(work, split, ["id", "length", "priority", "digest_hi", "digest_lo"]) if len(nodes) else None
    rows = pa.array(row_of(nodes))
    if docs is None:
        score = np.zeros(0)
        hi = lo = np.zeros(0, np.uint64)
        ids: Any = pa.array([], pa.string())
    else:
        if keep == "longest":
            score = -docs.column("length").take(rows).to_numpy().astype(np.float64)
        elif keep == "priority":
            score = -docs.column("priority").take(rows).to_numpy().astype(np.float64)
        else:
            score = np.zeros(len(nodes))
        hi = docs.column("digest_hi").take(rows).to_numpy()
        lo = docs.column("digest_lo").take(rows).to_numpy()
        ids = docs.column("id").take(rows)
    table = pa.table([pa.array(roots), pa.array(nodes), pa.array(score, pa.float64()), pa.array(hi, pa.uint64()),
                      pa.array(lo, pa.uint64()), ids], schema=MEMBER_SCHEMA)
    write_table_buckets(work, out, table, split_of(roots), n_splits)
    return {"nodes": int(len(nodes))}


def kept_wave(work: WorkDir, split: int, inputs: list[str], n_splits: int, exact_out: str, pairs_out: str) -> dict[str, Any]:
    """Clusters whose root is in ``split``: choose the kept member, route the removed ones.

    Exact duplicates go to ``exact_out`` as final rows (ASSIGNED_SCHEMA, similarity 1); the others
    to ``pairs_out`` as (removed, kept, kept_id) pairs for the similarity join. Returns cluster
    counts and the histogram of cluster sizes.
    """
    table = read_table_bucket(work, inputs, n_splits, split, MEMBER_SCHEMA)
    roots = table.column("root").to_numpy().astype(np.uint64)
    nodes = table.column("node").to_numpy().astype(np.uint64)
    score = table.column("score").to_numpy()
    hi = table.column("digest_hi").to_numpy()
    lo = table.column("digest_lo").to_numpy()
    order = np.lexsort((nodes, score, roots))
    first_of_cluster = np.r_[True, roots[order][1:] != roots[order][:-1]] if len(nodes) else np.zeros(0, bool)
    kept_positions = order[first_of_cluster]
    kept_of_node = kept_positions[np.searchsorted(roots[kept_positions], roots)] if len(nodes) else order
    removed = np.flatnonzero(kept_of_node != np.arange(len(nodes)))
    kept = kept_of_node[removed]
    exact = (hi[removed] == hi[kept]) & (lo[removed] == lo[kept])
    kept_ids = table.column("id").take(pa.array(kept))
    a, b = nodes[removed], nodes[kept]
    finals = pa.table([pa.array(a[exact]), pa.array(b[exact]), pa.array(np.ones(int(exact.sum()), np.float32)),
                       kept_ids.filter(pa.array(exact))], schema=ASSIGNED_SCHEMA)
    write_table_buckets(work, exact_out, finals, split_of(a[exact]), n_splits)
    near = ~exact
    pairs = pa.table([pa.array(a[near]), pa.array(b[near]), kept_ids.filter(pa.array(near))], schema=pair_schema("assign"))
    write_table_buckets(work, pairs_out, pairs, split_of(a[near]), n_splits)
    sizes = np.unique(roots, return_counts=True)[1] if len(roots) else np.zeros(0, np.int64)
    size_values, size_counts = np.unique(sizes, return_counts=True)
    return {
        "clusters": int(len(kept_positions)),
        "removed": int(len(removed)),
        "exact_removed": int(exact.sum()),
        "cluster_sizes": {str(int(s)): int(c) for s, c in zip(size_values, size_counts)},
    }


def assigned_rows(work: WorkDir, split: int, exact_inputs: list[str], near_inputs: list[str], n_splits: int) -> pa.Table:
    """The removed documents of ``split`` (ASSIGN_SCHEMA), in ordinal order."""
    exact = read_table_bucket(work, exact_inputs, n_splits, split, ASSIGNED_SCHEMA)
    near = read_table_bucket(work, near_inputs, n_splits, split, ASSIGNED_SCHEMA)
    both = pa.concat_tables([exact, near])
    if not both.num_rows:
        return ASSIGN_SCHEMA.empty_table()
    ordinals = both.column("a").to_numpy().astype(np.uint64)
    order = np.argsort(ordinals, kind="stable")
    both = both.take(pa.array(order))
    is_exact = np.r_[np.ones(exact.num_rows, bool), np.zeros(near.num_rows, bool)][order]
    ids = _docs_columns(work, split, ["id"]).column("id").take(pa.array(row_of(ordinals[order])))
    return pa.table(
        [
            both.column("a").combine_chunks(),
            ids.combine_chunks(),
            both.column("b").combine_chunks(),
            both.column("kept_id").combine_chunks(),
            pa.array(np.where(is_exact, "exact_duplicate", "near_duplicate").tolist(), pa.string()),
            both.column("similarity").combine_chunks(),
        ],
        schema=ASSIGN_SCHEMA,
    )
