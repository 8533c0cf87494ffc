"""``dedup run --overwrite`` never deletes what the run reads (dedup/output_place.py).

``--overwrite`` deletes what ``--output`` holds. With ``--output`` naming the input folder, a folder
above it, a deployment root whose catalog is the input, or the folder of a WARC file indexed in
place, it deleted the user's data and then failed on the files it had removed. Each case is now
refused (exit 2) before anything is deleted, and a refused catalog run leaves no plan behind.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from catalog.store import Store
from haybale.cli import main


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} " * 20}) + "\n" for i in range(3)))
    return path


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("output", [".", ".."])
def test_overwrite_of_a_folder_holding_the_input_is_refused(output: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    docs = _docs(tmp_path / "data" / "in")
    before = _tree(tmp_path / "data")
    target = (docs.parent / output).resolve()
    assert main(["dedup", "run", "--input", str(docs.parent), "--output", str(target), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"holds the input {docs}" in err and "--overwrite would delete it" in err
    assert _tree(tmp_path / "data") == before
    # without --overwrite too: a run does not write among what it reads
    assert main(["dedup", "run", "--input", str(docs.parent), "--output", str(target)]) == 2
    assert "would write its files among what it reads" in capsys.readouterr().err


def test_overwrite_of_a_catalog_inputs_root_or_of_a_warc_indexed_in_place_is_refused(
        tmp_path: Path, shared_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    warcs = tmp_path / "crawl"
    warcs.mkdir()
    shutil.copy(shared_data_dir / "warc" / "example.warc.gz", warcs)
    assert main(["--root", str(root), "--quiet", "ingest", "warc", str(warcs), "--no-ray"]) == 0
    with Store(str(root), read_only=True) as store:
        records = store.catalog.stats()["records"]
    before = _tree(warcs)
    for output in (root, root / "volumes", warcs):
        assert main(["--root", str(root), "dedup", "run", "--input", "catalog:", "--output", str(output),
                     "--overwrite"]) == 2
        assert "holds the input" in capsys.readouterr().err
    assert _tree(warcs) == before
    assert not (root / "runs").exists() or not [p for p in (root / "runs").iterdir() if p.name.startswith("dedup-")]
    with Store(str(root), read_only=True) as store:
        assert store.catalog.stats()["records"] == records
    # beside the root is fine
    assert main(["--root", str(root), "--quiet", "dedup", "run", "--input", "catalog:", "--output",
                 str(root / "dedup-out")]) == 0
