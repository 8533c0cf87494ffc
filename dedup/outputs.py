"""Stage 4 and the run's outputs: clean Parquet shards, the removal report, summary and plots.

Layout of ``--output``::

    data/part-S.parquet       kept documents of split S: id, url, text, metadata
    removed/part-S.parquet    one row per removed document: id, reason, kept_id, similarity, detail
                              (reasons: exact_duplicate, near_duplicate, empty, ad_or_boilerplate,
                              clean_error; detail names the cleaning filters that removed text)
    quarantine.parquet        bad input records: source, offset, reason
    summary.json              counts, settings, timings
    s_curve.png               measured similarity of the candidate pairs over the LSH S-curve
    cluster_sizes.png         duplicate clusters by size group (clusters, documents removed)
    removals.png              documents kept and removed per reason
                              (the plots are drawn by dedup/plots.py)
"""
from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from dedup.split_stage import QUARANTINE_SCHEMA, split_name
from dedup.workdir import WorkDir

OUTPUT_SCHEMA = pa.schema(
    [("id", pa.string()), ("url", pa.string()), ("text", pa.large_string()), ("metadata", pa.string())]
)
REPORT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("reason", pa.string()),
        ("kept_id", pa.string()),
        ("similarity", pa.float32()),
        ("detail", pa.string()),
    ]
)


def data_path(work: WorkDir, split: int) -> str:
    return f"{work.output}/data/part-{split_name(split)}.parquet"


def report_path(work: WorkDir, split: int) -> str:
    return f"{work.output}/removed/part-{split_name(split)}.parquet"


def write_split_outputs(split: int, work: WorkDir, assigned: pa.Table) -> dict[str, int]:
    """Write the clean shard and the removal report of one split; returns kept/removed counts.

    ``assigned``: the split's removed duplicates (dedup.clusters.ASSIGN_SCHEMA), in ordinal order.
    """
    name = split_name(split)
    docs = work.read_ipc(work.path("docs", f"{name}.arrow"))
    removed = pc.is_in(docs.column("ordinal"), value_set=assigned.column("ordinal"))
    kept = docs.filter(pc.invert(removed)).select(["id", "url", "text", "metadata"]).cast(OUTPUT_SCHEMA)
    work.write_table(data_path(work, split), kept, compression="zstd")
    dropped = work.read_table(work.path("dropped", f"{name}.parquet"))
    report = pa.concat_tables(
        [
            pa.table(
                {
                    "id": assigned.column("id"),
                    "reason": assigned.column("reason"),
                    "kept_id": assigned.column("kept_id"),
                    "similarity": assigned.column("similarity"),
                    "detail": pa.nulls(assigned.num_rows, pa.string()),
                },
                schema=REPORT_SCHEMA,
            ),
            pa.table(
                {
                    "id": dropped.column("id"),
                    "reason": dropped.column("reason"),
                    "kept_id": pa.nulls(dropped.num_rows, pa.string()),
                    "similarity": pa.nulls(dropped.num_rows, pa.float32()),
                    "detail": dropped.column("detail"),
                },
                schema=REPORT_SCHEMA,
            ),
        ]
    )
    work.write_table(report_path(work, split), report, compression="zstd")
    reasons = report.column("reason").to_pylist()
    counts: dict[str, int] = {"kept": kept.num_rows}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def iter_marks(work: WorkDir, n_splits: int) -> Iterator[tuple[list[str], list[str], list[str | None]]]:
    """(ids, status, reason) per split for a MarkSink: every kept and every removed document."""
    for split in range(n_splits):
        kept = work.read_table(data_path(work, split), columns=["id"]).column("id").to_pylist()
        report = work.read_table(report_path(work, split), columns=["id", "reason"])
        removed = report.column("id").to_pylist()
        reasons = report.column("reason").to_pylist()
        yield kept + removed, ["kept"] * len(kept) + ["removed"] * len(removed), [None] * len(kept) + reasons


def removal_counts(work: WorkDir, n_splits: int, documents_in: int, cluster_stats: dict[str, Any]) -> dict[str, int]:
    """Documents kept and removed per reason, known before stage 4 writes anything: duplicates from
    the cluster assignment, drops from stage 1's per-split tables (equal to the write stage's counts)."""
    counts: dict[str, int] = {}
    for split in range(n_splits):
        for reason in work.read_table(work.path("dropped", f"{split_name(split)}.parquet"), columns=["reason"]).column("reason").to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
    exact = int(cluster_stats.get("exact_removed", 0))
    counts["exact_duplicate"] = exact
    counts["near_duplicate"] = int(cluster_stats.get("removed", 0)) - exact
    counts["kept"] = documents_in - sum(counts.values())
    return {k: v for k, v in counts.items() if v or k == "kept"}


def write_quarantine(work: WorkDir, n_splits: int, path: str, row_group_rows: int = 1 << 16) -> int:
    """Write every quarantined record of the run to ``path``, split by split; returns the count.

    Streams: at most ~``row_group_rows`` records (plus one split's) are in memory, gathered into
    one row group, so a run with few bad records writes one row group as a single write would.
    """
    pending: list[pa.Table] = []
    rows = total = 0
    with work.table_writer(path, QUARANTINE_SCHEMA) as writer:
        for split in range(n_splits):
            table = work.read_table(work.path("quarantine", f"{split_name(split)}.parquet"))
            pending.append(table)
            rows += table.num_rows
            if rows >= row_group_rows:
                writer.write_table(pa.concat_tables(pending))
                total += rows
                pending, rows = [], 0
        if pending and (rows or not total):
            writer.write_table(pa.concat_tables(pending))
            total += rows
    return total
