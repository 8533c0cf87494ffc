"""Stage 3: connected components of the duplicate edges, and the kept document of each cluster.

Pure Python (no Ray). Components are computed by min-label propagation with pointer jumping in
numpy (every node ends labelled with the smallest ordinal of its component). Distributed as: one
forest per edge partition (:func:`partition_forest`), then forests merged two by two in rounds
(:func:`merge_forests`); a forest is a (node, root) edge list, so merging is components of the
union. Memory per task is bounded by the duplicate nodes it sees, never by all documents.

:func:`assign_clusters` then picks one kept document per cluster (policy ``first``, ``longest`` or
``priority``; ties to the lowest ordinal, so the choice is deterministic) and writes, per split,
every removed document with its kept document, reason and estimated similarity to it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dedup.candidates import pair_similarity
from dedup.split_stage import split_name
from dedup.workdir import WorkDir

FOREST_SCHEMA = pa.schema([("node", pa.uint64()), ("root", pa.uint64())])
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


def partition_forest(partition: int, work: WorkDir) -> int:
    """Forest of edge partition P, written as ``forest/0-P.parquet``; returns its node count."""
    edges = work.read_table(work.path("edges", f"{partition:05d}.parquet"), columns=["a", "b"])
    nodes, roots = connected_components(
        edges.column("a").to_numpy().astype(np.uint64), edges.column("b").to_numpy().astype(np.uint64)
    )
    work.write_table(work.path("forest", f"0-{partition:05d}.parquet"), pa.table({"node": nodes, "root": roots}, schema=FOREST_SCHEMA))
    return int(len(nodes))


def merge_forests(round_index: int, index: int, inputs: list[str], work: WorkDir) -> int:
    """Merge forests (paths) into ``forest/{round}-{index}.parquet``; returns its node count."""
    table = work.read_tables(inputs, FOREST_SCHEMA)
    nodes, roots = connected_components(
        table.column("node").to_numpy().astype(np.uint64), table.column("root").to_numpy().astype(np.uint64)
    )
    work.write_table(
        work.path("forest", f"{round_index}-{index:05d}.parquet"), pa.table({"node": nodes, "root": roots}, schema=FOREST_SCHEMA)
    )
    return int(len(nodes))


def _attributes(work: WorkDir, ordinals: np.ndarray) -> dict[str, np.ndarray]:
    """id, length, priority and digest of the given ordinals, read split by split."""
    splits = (ordinals >> np.uint64(32)).astype(np.int64)
    rows = (ordinals & np.uint64(0xFFFFFFFF)).astype(np.int64)
    out: dict[str, np.ndarray] = {
        "id": np.empty(len(ordinals), dtype=object),
        "length": np.zeros(len(ordinals), dtype=np.int64),
        "priority": np.zeros(len(ordinals), dtype=np.float64),
        "digest_hi": np.zeros(len(ordinals), dtype=np.uint64),
        "digest_lo": np.zeros(len(ordinals), dtype=np.uint64),
    }
    for split in np.unique(splits):
        chosen = np.flatnonzero(splits == split)
        table = work.read_table(work.path("docs", f"{split_name(int(split))}.parquet"), columns=list(out))
        for name in out:
            column = table.column(name)
            values = np.asarray(column.to_pylist(), dtype=object) if name == "id" else column.to_numpy()
            out[name][chosen] = values[rows[chosen]]
    return out


def assign_clusters(forest_path: str, keep: str, work: WorkDir, verify: str = "exact", threshold: float = 0.0) -> dict[str, object]:
    """Choose the kept document of every cluster and write ``assign/S.parquet`` per split.

    Returns summary data: number of clusters, removed documents, and a histogram of cluster sizes
    (``{size: count}``).
    """
    forest = work.read_table(forest_path)
    nodes = forest.column("node").to_numpy().astype(np.uint64)
    roots = forest.column("root").to_numpy().astype(np.uint64)
    attributes = _attributes(work, nodes)
    if keep == "longest":
        score = -attributes["length"].astype(np.float64)
    elif keep == "priority":
        score = -attributes["priority"]
    else:
        score = np.zeros(len(nodes))
    order = np.lexsort((nodes, score, roots))
    first_of_cluster = np.r_[True, roots[order][1:] != roots[order][:-1]] if len(nodes) else np.zeros(0, bool)
    kept_positions = order[first_of_cluster]
    cluster_roots = roots[kept_positions]
    kept_of_node = kept_positions[np.searchsorted(cluster_roots, roots)]
    removed = np.flatnonzero(kept_of_node != np.arange(len(nodes)))
    kept = kept_of_node[removed]
    exact = (attributes["digest_hi"][removed] == attributes["digest_hi"][kept]) & (
        attributes["digest_lo"][removed] == attributes["digest_lo"][kept]
    )
    pairs = np.stack([nodes[removed], nodes[kept]], axis=1) if len(removed) else np.zeros((0, 2), np.uint64)
    similarity = pair_similarity(work, pairs, verify, threshold)
    similarity[exact] = 1.0
    removed_splits = (nodes[removed] >> np.uint64(32)).astype(np.int64)
    for split in np.unique(removed_splits):
        chosen = np.flatnonzero(removed_splits == split)
        rows = removed[chosen]
        keeps = kept[chosen]
        table = pa.table(
            {
                "ordinal": nodes[rows],
                "id": pa.array(attributes["id"][rows].tolist(), pa.string()),
                "kept_ordinal": nodes[keeps],
                "kept_id": pa.array(attributes["id"][keeps].tolist(), pa.string()),
                "reason": pa.array(np.where(exact[chosen], "exact_duplicate", "near_duplicate").tolist(), pa.string()),
                "similarity": similarity[chosen],
            },
            schema=ASSIGN_SCHEMA,
        )
        work.write_table(work.path("assign", f"{split_name(int(split))}.parquet"), table)
    sizes = np.unique(roots, return_counts=True)[1] if len(roots) else np.zeros(0, np.int64)
    size_values, size_counts = np.unique(sizes, return_counts=True)
    return {
        "clusters": int(len(cluster_roots)),
        "removed": int(len(removed)),
        "exact_removed": int(exact.sum()),
        "cluster_sizes": {int(s): int(c) for s, c in zip(size_values, size_counts)},
    }
