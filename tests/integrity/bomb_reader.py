"""Run in a subprocess by the bomb tests: read one input the way a dedup worker does (stage 1,
``process_split``) and print the quarantine and the peak RSS, so the test can bound the memory a
single record may cost.

    python -m tests.integrity.bomb_reader KIND INPUT OUT_DIR [ROOT]

KIND: ``jsonl``, ``warc`` or ``catalog`` (INPUT: a prefix of the catalog at ROOT).
"""
from __future__ import annotations

import json
import sys

from dedup.config import DedupConfig
from dedup.split_stage import process_split
from dedup.workdir import WorkDir


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: reset by exec, unlike ru_maxrss, which a child started from a
    big parent inherits)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> int:
    kind, target, out = argv[:3]
    if kind == "catalog":
        from catalog.store import Store
        from dedup.catalog_source import plan_catalog_source

        with Store(argv[3], read_only=True) as store:
            source = plan_catalog_source(store.catalog, target, f"{out}/manifests")
    else:
        from dedup.inputs import source_for_inputs

        source = source_for_inputs([target])
    work = WorkDir(out, "bomb")
    stats = [process_split(i, split, source, DedupConfig(partitions=2), work).as_dict()
             for i, split in enumerate(source.splits())]
    import pyarrow.parquet as pq

    quarantine = [row for i in range(len(stats)) for row in
                  pq.read_table(work.path("quarantine", f"{i:06d}.parquet")).to_pylist()]
    print(json.dumps({"stats": stats, "quarantine": quarantine,
                      "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
