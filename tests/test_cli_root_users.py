"""A failing command removes what it created only when no other command uses the catalog: two jobs
started at once on a new root both list the root as missing, and the one that failed removed the
catalog the other was writing, with the files it had acknowledged (seen with two `--no-ray` jobs:
one in four runs ended with no catalog at all)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from catalog.errors import CatalogLockedError
from catalog.layout import RootLayout
from catalog.store import Store
from haybale.cli import stores
from haybale.cli.root_users import LOCK_NAME, RootUsers
from ingest.files_job import FilesJobConfig, run_files_job
from tests.catalog.conftest import make_files

REPO = Path(__file__).resolve().parents[1]


def test_the_command_that_fails_leaves_the_other_ones_catalog(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "root"
    files = make_files(tmp_path / "in", 40)
    args = argparse.Namespace(root=str(root), catalog_dir=None)
    listed_when_new = stores.new_paths(RootLayout.of(str(root), None))
    assert listed_when_new == [root]
    with stores.writable_store(args) as first:  # the command that won: creates the root, registers
        summary = run_files_job(first, [str(tmp_path / "in")], FilesJobConfig(), show_progress=False, local=True)
        assert summary.added == 40
        # the other command listed the root as missing before the first created it, then lost the lock
        monkeypatch.setattr(stores, "new_paths", lambda layout: list(listed_when_new))
        with pytest.raises(CatalogLockedError):
            with stores.writable_store(args):
                pass
        assert (root / "catalog").is_dir() and (root / "catalog-meta.json").is_file()
    monkeypatch.undo()
    with Store(str(root), read_only=True, create=False) as store:
        assert sum(1 for _ in store.list("")) == 40
        some = sorted(files)[7]
        assert store.cat(f"file://{some}") == files[some]


def test_a_command_alone_still_removes_what_it_created(tmp_path: Path) -> None:
    root = tmp_path / "new-root"
    args = argparse.Namespace(root=str(root), catalog_dir=None)
    with pytest.raises(RuntimeError, match="the job failed"):
        with stores.writable_store(args):
            raise RuntimeError("the job failed before writing anything")
    assert not root.exists()


def test_users_lock_shared_exclusive_and_removed_while_waiting(tmp_path: Path) -> None:
    catalog_dir = tmp_path / "catalog"
    one, two = RootUsers(catalog_dir).join(), RootUsers(catalog_dir).join()
    assert (catalog_dir / LOCK_NAME).is_file()
    assert not one.alone()  # two holds it
    two.leave()
    assert one.alone()
    # a third command waits while the one that is alone removes the directory, then starts over
    joined: list[RootUsers] = []
    waiter = threading.Thread(target=lambda: joined.append(RootUsers(catalog_dir).join()))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # blocked on the exclusive hold
    for entry in catalog_dir.iterdir():
        entry.unlink()
    catalog_dir.rmdir()
    one.leave()
    waiter.join(10)
    assert joined and (catalog_dir / LOCK_NAME).is_file()
    assert os.fstat(joined[0]._fd).st_ino == (catalog_dir / LOCK_NAME).stat().st_ino  # type: ignore[arg-type]
    joined[0].leave()


def test_two_no_ray_jobs_at_once_on_a_new_root_end_with_one_whole_catalog(tmp_path: Path) -> None:
    """The real race, a few times: two `ingest files --no-ray` started together on a new root. One
    may lose the catalog's lock (exit 2, and says so); every file the other reported is there."""
    make_files(tmp_path / "in", 300)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for attempt in range(4):
        root = tmp_path / f"root-{attempt}"
        cmd = [sys.executable, "-m", "haybale", "--root", str(root), "--quiet", "--json", "ingest", "files",
               str(tmp_path / "in"), "--no-ray", "--run-id", "same"]
        jobs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        outcomes = [(job.wait(120), *job.communicate()) for job in jobs]
        finished = [out for code, out, _ in outcomes if code == 0]
        assert finished, [err.decode() for _, _, err in outcomes]
        for code, _, err in outcomes:
            assert code == 0 or b"open for writing by another process: wait for that command to finish, or run both " \
                b"without --no-ray" in err, err.decode()
        with Store(str(root), read_only=True, create=False) as store:
            assert sum(1 for _ in store.list("")) == 300


def test_rebuild_in_place_is_refused_while_another_command_uses_the_catalog(tmp_path: Path) -> None:
    """An in-place rebuild sets the catalog directory aside; a `--no-ray` job writing it meanwhile
    would go on writing the catalog set aside. The rebuild now needs the directory to itself."""
    make_files(tmp_path / "in", 20)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    root = tmp_path / "root"
    haybale = [sys.executable, "-m", "haybale", "--root", str(root)]
    subprocess.run(haybale + ["ingest", "files", str(tmp_path / "in"), "--no-ray", "--quiet"], env=env, check=True,
                   timeout=120, capture_output=True)
    writer = RootUsers(root / "catalog").join()  # as a command writing the root holds it
    try:
        refused = subprocess.run(haybale + ["catalog", "rebuild", "--serial"], env=env, capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode == 2 and "in use by another haybale command" in refused.stderr, refused.stderr
        assert not list(root.glob("catalog.*"))  # nothing set aside
    finally:
        writer.leave()
    rebuilt = subprocess.run(haybale + ["catalog", "rebuild", "--serial", "--json"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    with Store(str(root), read_only=True, create=False) as store:
        assert sum(1 for _ in store.list("")) == 20
