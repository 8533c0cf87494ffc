"""A file restored to an older version (``cp -p``, ``rsync -a``, ``tar x`` keep its older modification
time) and ingested again is the catalog's content; ``catalog rebuild`` must give the same.

File records were dated by the file's modification time, and a rebuild keeps each key's latest
capture by WARC-Date, so it brought back the version that had been replaced: the rebuilt catalog
served other bytes than the one it replaced, without a word. A record is now dated when it is packed
(the modification time is kept in ``WARC-File-Modified``). WARC-Dates have whole seconds: two
ingests of one changed file within the same second tie, and a rebuild then takes the capture in the
volume whose name sorts later; run ids made by haybale sort by time to the millisecond, so the two
ingests here (well within one second) check that too.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.store import Store
from haybale.cli import main

NEWER, OLDER = 1_780_000_000, 1_700_000_000  # 2026-05-28, 2023-11-14


def _ingest_then_restore(tmp_path: Path) -> tuple[str, Path]:
    src = tmp_path / "in"
    src.mkdir()
    doc = src / "doc.txt"
    doc.write_text("version 2, replaced later\n")
    os.utime(doc, (NEWER, NEWER))
    root = str(tmp_path / "root")
    assert main(["--root", root, "--quiet", "ingest", "files", str(src), "--no-ray"]) == 0
    doc.write_text("version 1, restored from a backup\n")
    os.utime(doc, (OLDER, OLDER))
    assert main(["--root", root, "--quiet", "ingest", "files", str(src), "--no-ray"]) == 0
    return root, doc


@pytest.mark.parametrize("serial", [True, pytest.param(False, marks=pytest.mark.ray)])
def test_a_rebuild_keeps_the_file_ingested_last(serial: bool, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not serial:
        request.getfixturevalue("ray_session")
    root, doc = _ingest_then_restore(tmp_path)
    key = doc.as_uri()
    with Store(root, read_only=True, create=False) as store:
        assert store.cat(key) == b"version 1, restored from a backup\n"
        record, _, _ = store.read(key)
        assert record.header("WARC-File-Modified") == "2023-11-14T22:13:20Z"
    rebuilt = str(tmp_path / "rebuilt")
    assert main(["--root", root, "--quiet", "catalog", "rebuild", "--into", rebuilt, *(["--serial"] if serial else [])]) == 0
    with Store(root, catalog_dir=rebuilt, read_only=True, create=False) as store:
        assert store.cat(key) == b"version 1, restored from a backup\n"
