"""The ``haybale`` command end to end (subprocesses, like a user)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def haybale(*args: str, root: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HAYBALE_ROOT": root, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "haybale", *args], cwd=REPO, capture_output=True,
                         env=env, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"haybale {' '.join(args)} failed: {out.stderr.decode()}")
    return out


@pytest.fixture
def ingested(tmp_path: Path, small_files: dict[str, bytes]) -> tuple[str, dict[str, bytes]]:
    root = str(tmp_path / "root")
    out = haybale("ingest", "files", "--no-ray", str(tmp_path / "src"), "--json", "--volume-bytes", "200000", root=root)
    summary = json.loads(out.stdout)
    assert summary["files"] == summary["added"] == len(small_files)
    assert summary["volumes"] >= 2
    return root, small_files


def test_get_cat_ls_stats(ingested: tuple[str, dict[str, bytes]]) -> None:
    root, files = ingested
    path, data = sorted(files.items())[3]
    loc = json.loads(haybale("catalog", "get", f"file://{path}", root=root).stdout)
    assert set(loc) >= {"key", "volume", "offset", "length", "digest", "volume_url"}
    assert haybale("catalog", "cat", f"file://{path}", root=root).stdout == data
    raw = haybale("catalog", "cat", "--raw", f"file://{path}", root=root).stdout
    assert raw.startswith(b"WARC/1.0") and data in raw
    listed = haybale("catalog", "ls", f"file://{Path(path).parent}/", root=root).stdout.decode().split()
    assert listed == sorted(f"file://{p}" for p in files if Path(p).parent == Path(path).parent)
    lines = haybale("catalog", "ls", "--json", "--limit", "2", root=root).stdout.decode().splitlines()
    assert len(lines) == 2 and "offset" in json.loads(lines[0])
    stats = json.loads(haybale("catalog", "stats", "--json", root=root).stdout)
    assert stats["records"] == len(files) and stats["volumes"] >= 2 and stats["shards"] == 4
    assert stats["volume_bytes"] > 0


def test_rerun_is_idempotent_and_rebuild_in_place(ingested: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    root, files = ingested
    again = json.loads(haybale("ingest", "files", "--no-ray", str(tmp_path / "src"), "--json", root=root).stdout)
    assert again["unchanged"] == len(files) and again["added"] == 0 and again["volumes"] == 0
    before = haybale("catalog", "ls", "--long", root=root).stdout
    report = json.loads(haybale("catalog", "rebuild", "--json", root=root).stdout)
    assert report["records"] == len(files) and report["skipped"] == 0
    assert report["previous_catalog"] and Path(report["previous_catalog"]).is_dir()
    after = haybale("catalog", "ls", "--long", root=root).stdout
    # volume numbers may be reassigned; keys, offsets and lengths may not
    def strip(text: bytes) -> list[str]:
        return [line.split("\t")[0] + line.split("\t")[1].split(" ", 1)[1] for line in text.decode().splitlines()]

    assert strip(before) == strip(after)


def test_errors_are_one_clear_line(tmp_path: Path, ingested: tuple[str, dict[str, bytes]]) -> None:
    root, _ = ingested
    out = haybale("catalog", "get", "file:///no/such/file", root=root, check=False)
    assert out.returncode == 2
    err = out.stderr.decode()
    assert err.startswith("haybale: error:") and "file:///no/such/file" in err and "Traceback" not in err
    out = haybale("catalog", "stats", root=str(tmp_path / "empty"), check=False)
    assert out.returncode == 2 and "no catalog" in out.stderr.decode()
    out = haybale("ingest", "files", str(tmp_path / "missing-dir"), root=root, check=False)
    assert out.returncode == 2 and "missing-dir" in out.stderr.decode()
    out = haybale("catalog", "get", "", root=root, check=False)
    assert out.returncode == 2 and "empty key" in out.stderr.decode()


def test_help_on_every_command() -> None:
    for args in (["--help"], ["catalog", "--help"], ["catalog", "get", "--help"], ["ingest", "files", "--help"]):
        out = haybale(*args, root="unused")
        assert b"usage: haybale" in out.stdout
