"""A ``catalog rebuild --into DIR`` copy is another catalog (its own id): it reads, and it refuses every
write, on the local Ray head's path as in this process.

``haybale --catalog-dir COPY catalog checkpoint`` used to start the root's local head with owners on
the copy and upload the copy's data as a checkpoint of the root's catalog (under the root's id), from
which a lost owner of the root would have been restored, with the copy's volume numbers.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from haybale.cli import main


def test_a_rebuilt_copy_reads_and_refuses_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"doc {i}")
    root = str(tmp_path / "root")
    copy = str(tmp_path / "copy")
    assert main(["--root", root, "--quiet", "ingest", "files", str(src), "--no-ray"]) == 0
    assert main(["--root", root, "--quiet", "catalog", "rebuild", "--serial", "--into", copy]) == 0
    capsys.readouterr()
    assert main(["--root", root, "--catalog-dir", copy, "catalog", "ls"]) == 0
    assert capsys.readouterr().out.split() == [(src / f"f{i}.txt").as_uri() for i in range(3)]
    for write in (["catalog", "checkpoint"], ["catalog", "compact"], ["catalog", "delete", str(src / "f0.txt")],
                  ["ingest", "files", str(src), "--no-ray"], ["ingest", "files", str(src)]):
        assert main(["--root", root, "--catalog-dir", copy, *write]) == 2, write
        assert "holds catalog" in capsys.readouterr().err, write
    assert not (tmp_path / "root" / "catalog-checkpoints").exists()
    assert main(["--root", root, "cluster", "status"]) == 0
    assert "no local Ray head runs" in capsys.readouterr().out  # no write started the root's head
