"""Documents sharing an id (dedup/id_hashes.py): hashed, counted per partition, reported by the run."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from dedup.id_hashes import id_hashes, shared_id_counts
from dedup.split_stage import DIGEST_DTYPE


def test_hashes_depend_on_the_bytes_only() -> None:
    ids = pa.array(["a", "b", "", "doc-1", "doc-1", "Doc-1", "doc-1 ", "é", "e\u0301", "x" * 1000])
    hashes = id_hashes(ids)
    assert hashes.shape == (10, 2) and hashes.dtype == np.uint64
    assert (hashes[3] == hashes[4]).all()
    distinct = {tuple(row) for row in hashes.tolist()}
    assert len(distinct) == 9  # only the two "doc-1" agree (no case or Unicode folding)
    # a slice (the JSONL reader hands out sliced batches) and a large_string array hash alike
    assert (id_hashes(ids.slice(3, 4)) == hashes[3:7]).all()
    assert (id_hashes(ids.cast(pa.large_string())) == hashes).all()
    assert id_hashes(pa.array([], pa.string())).shape == (0, 2)


def test_shared_counts() -> None:
    rows = np.zeros(6, DIGEST_DTYPE)
    rows["hi"] = [1, 2, 1, 3, 1, 2]
    rows["lo"] = [5, 5, 5, 5, 5, 6]
    assert shared_id_counts(rows) == (1, 3)  # (1, 5) three times; (2, 5) and (2, 6) differ in lo
    assert shared_id_counts(rows[:2]) == (0, 0)


def test_a_run_reports_ids_held_by_several_documents(tmp_path: Path, shared_data_dir: Path) -> None:
    """Shards that number their lines from 0, as many datasets do: kept_id named several documents
    and the run said nothing. Now summary.json counts the shared ids and the command warns."""
    from dedup.config import DedupConfig
    from dedup.job import run_dedup
    from dedup.sources import JsonlSource
    from haybale.cli.dedup_commands import describe_dedup_summary

    with gzip.open(shared_data_dir / "neardup-core" / "docs.jsonl.gz", "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle][:40]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for shard in range(2):  # ids 0..19 in each shard: 20 ids held by two documents each
        rows = [{"id": i, "text": text} for i, text in enumerate(texts[shard * 20:(shard + 1) * 20])]
        if shard == 1:
            rows.append({"id": "only-once", "text": "   "})  # dropped as empty: its id counts too
            rows.append({"id": 3, "text": ""})  # a third document with id 3
        (inputs / f"shard-{shard}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = run_dedup(JsonlSource([str(inputs)]), str(tmp_path / "out"), DedupConfig(partitions=3), progress=False)
    assert summary["ids"] == {"shared": 20, "documents_sharing": 41}
    assert "warning: 20 ids are each held by more than one document (41 documents)" in \
        describe_dedup_summary(summary, str(tmp_path / "out"))
    (inputs / "shard-1.jsonl").write_text("".join(json.dumps({"id": f"b{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    summary = run_dedup(JsonlSource([str(inputs)]), str(tmp_path / "out2"), DedupConfig(partitions=3), progress=False)
    assert summary["ids"] == {"shared": 0, "documents_sharing": 0}
    assert "warning" not in describe_dedup_summary(summary, str(tmp_path / "out2"))
