"""``haybale catalog checkpoint`` on a local root (the embedded default): the checkpoint's files land
under ``ROOT/catalog-checkpoints`` (a local filesystem creates no parent directories on upload, as an
object store needs none), and a second checkpoint uploads only SST files it has not uploaded yet."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from haybale.cli import main as haybale_main


def test_checkpoint_of_a_local_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, root = tmp_path / "in", tmp_path / "root"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:03d}.txt").write_text(f"file {i} " * 20)
    assert haybale_main(["ingest", "files", str(src), "--root", str(root), "--no-ray", "--quiet"]) == 0
    capsys.readouterr()
    assert haybale_main(["catalog", "checkpoint", "--root", str(root), "--no-ray", "--json"]) == 0
    owners = json.loads(capsys.readouterr().out)["owners"]
    assert sum(m["records"] for m in owners) == 40
    for manifest in owners:
        base = root / "catalog-checkpoints" / manifest["catalog_id"] / f"owner-{manifest['owner']:04d}"
        written = json.loads((base / "manifests" / f"{manifest['seq']:010d}.json").read_text())
        named = [obj for entries in written["files"].values() for obj in entries.values()]
        assert named and all((base / obj).is_file() for obj in named)
    assert haybale_main(["catalog", "checkpoint", "--root", str(root), "--no-ray", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["owners"]
    assert [m["seq"] for m in again] == [m["seq"] + 1 for m in owners]
