"""Stage 3: connected components of the duplicate edges, distributed over the splits.

Pure Python (no Ray). Nodes are document ordinals; a node belongs to the task of its split, and
every edge travels in both orientations (u, v), routed by split(u) (dedup/pair_join.write_edges).

1. :func:`forest_wave`: per split, the components of the edges it received (min-label propagation
   with pointer jumping in numpy, :func:`connected_components`), replaced by star edges
   (node, smallest node): fewer edges, same components.
2. Rounds of :func:`large_star` and :func:`small_star` (Kiveris et al., "Connected Components in
   MapReduce and Beyond", 2014) until the graph is a set of stars, each centred on the smallest
   node of its component. Each round is two waves of one task per split; no task ever holds more
   than the edges of its split's nodes (plus, for a star centre, its cluster).
3. Convergence is checked locally: the graph is a union of stars centred on their minima iff every
   node that has a smaller neighbour has exactly one neighbour. ``large_star`` counts the nodes
   that break this in its input; when the sum over all tasks is 0, that wave's output (leaf,
   centre), routed by split(leaf), plus the centres it lists, are the components.

Every node ends labelled with the smallest ordinal of its component, as a single-process
union-find would label it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.pair_join import EDGE_SCHEMA, split_of, write_edges
from dedup.shuffle import read_table_bucket, write_table_buckets
from dedup.workdir import WorkDir


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the undirected graph with edges (a[i], b[i]) over uint64 node ids.

    Returns (nodes, roots): every node that appears in an edge (sorted) and the smallest node id of
    its component.
    """
    if not len(a):
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    left, right = inverse[: len(a)], inverse[len(a) :]
    # Dense indices follow node order, so the smallest index of a component is its smallest node.
    labels = np.arange(len(nodes), dtype=np.int64)
    while True:
        smaller = np.minimum(labels[left], labels[right])
        updated = labels.copy()
        np.minimum.at(updated, left, smaller)
        np.minimum.at(updated, right, smaller)
        # Pointer jumping: follow labels to their labels until stable (halves path lengths each pass).
        while True:
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            break
        labels = updated
    return nodes, nodes[labels]


def _read_edges(work: WorkDir, inputs: list[str], n_splits: int, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct directed edges (u, v) with u in ``split``, sorted by (u, v)."""
    table = read_table_bucket(work, inputs, n_splits, split, EDGE_SCHEMA)
    u = table.column("u").to_numpy().astype(np.uint64)
    v = table.column("v").to_numpy().astype(np.uint64)
    if not len(u):
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    distinct = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
    return u[distinct], v[distinct]


def forest_wave(work: WorkDir, split: int, inputs: list[str], n_splits: int, out: str) -> dict[str, int]:
    """Components of the edges of ``split``'s nodes, written to ``out`` as star edges."""
    u, v = _read_edges(work, inputs, n_splits, split)
    nodes, roots = connected_components(u, v)
    leaves = nodes != roots
    write_edges(work, out, nodes[leaves], roots[leaves], n_splits)
    return {"edges": int(len(u)), "star_edges": int(leaves.sum())}


def large_star(work: WorkDir, split: int, inputs: list[str], n_splits: int, out: str, roots_out: str) -> dict[str, int]:
    """Large-star on the nodes of ``split``: each node's larger neighbours move to its smallest
    neighbour (or itself). Writes (v, m) routed by split(v) to ``out``, and the nodes that have no
    smaller neighbour (the centres, if this is the last round) to ``roots_out``.

    Returns ``violations``: nodes with a smaller neighbour and more than one neighbour (0 on all
    tasks = converged).
    """
    u, v = _read_edges(work, inputs, n_splits, split)
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
    keys = u[starts]
    degree = np.diff(np.r_[starts, len(u)])
    smallest = np.minimum(v[starts], keys) if len(u) else keys  # v sorted within each node
    has_smaller = v[starts] < keys if len(u) else np.zeros(0, bool)
    violations = int((has_smaller & (degree > 1)).sum())
    group = np.repeat(np.arange(len(starts)), degree)
    centre = smallest[group] if len(u) else u
    larger = v > u
    target = v[larger]
    write_table_buckets(
        work, out, pa.table({"u": target, "v": centre[larger]}, schema=EDGE_SCHEMA), split_of(target), n_splits
    )
    work.write_array(roots_out, keys[~has_smaller])
    return {"violations": violations, "edges": int(len(u))}


def small_star(work: WorkDir, split: int, inputs: list[str], n_splits: int, out: str) -> dict[str, int]:
    """Small-star on the nodes of ``split``: a node and its smaller neighbours all link to the
    smallest of them. Input: (u, v) with v < u; output: undirected edges for the next large-star."""
    u, v = _read_edges(work, inputs, n_splits, split)
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
    degree = np.diff(np.r_[starts, len(u)])
    smallest = np.repeat(v[starts], degree) if len(u) else v  # v sorted: the first is the smallest
    others = v != smallest
    a = np.concatenate([v[others], u[starts]])
    b = np.concatenate([smallest[others], v[starts]])
    write_edges(work, out, a, b, n_splits)
    return {"edges": int(len(u))}
