"""``haybale catalog compact`` (in this process, ``--no-ray``): every owner's location index ends in one
sorted run that batched lookups read by seeks, and every key answers exactly as before."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from catalog.store import Store

REPO = Path(__file__).resolve().parents[2]


def _haybale(*argv: str) -> str:
    out = subprocess.run([sys.executable, "-m", "haybale", *argv], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_compact_leaves_one_sorted_run_per_owner_and_the_same_answers(tmp_path: Path) -> None:
    src = tmp_path / "in"
    root = tmp_path / "root"
    for batch in range(3):  # three jobs: several level-0 files per owner
        (src / str(batch)).mkdir(parents=True)
        for i in range(300):
            (src / str(batch) / f"f{i:04d}.txt").write_text(f"batch {batch} file {i}\n" * (1 + i % 7))
        _haybale("ingest", "files", "--no-ray", str(src / str(batch)), "--root", str(root), "--quiet", "--json")
    keys = _haybale("catalog", "ls", "file://", "--root", str(root)).split()
    assert len(keys) == 900
    with Store(str(root), read_only=True) as store:
        before = store.catalog.get_many(keys)
    assert all(loc is not None for loc in before)
    out = json.loads(_haybale("catalog", "compact", "--no-ray", "--root", str(root), "--json"))
    assert out["owners"] and all(s["level0_files"] == 0 and s["levels_with_files"] == 1 and s["seeks"]
                                 for s in out["owners"]), out
    with Store(str(root), read_only=True) as store:
        assert store.catalog.get_many(keys) == before
        assert store.stats()["records"] == len(keys)
