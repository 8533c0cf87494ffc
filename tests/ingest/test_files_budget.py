"""The files job's error budget (``--max-errors``), with real unreadable files among real pages.

An unreadable file is one the operating system refuses to read: files made mode 000 (for a user
other than root) or, when the tests run as root (who reads any mode), ``/proc/sys/vm/compact_memory``
and ``/proc/sys/vm/drop_caches``, which are write-only even for root. Either way they sort before the
good files, so with one file per split they come first. The good files are real pages from
``../shared/data/aeb-dev``, copied at test time to ``tmp_path/pages`` (after ``/proc`` and after
``tmp_path/locked``): where ``../shared`` itself sits is the runner's business (a CI checkout at
``/check/...`` sorts before ``/proc``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from catalog.store import Store
from haybale.cli import main as haybale_main
from ingest.errors import FilesJobError
from ingest.files_job import FilesJobConfig, run_files_job
from tests.conftest import shared_data

WRITE_ONLY_FOR_ROOT = [Path("/proc/sys/vm/compact_memory"), Path("/proc/sys/vm/drop_caches")]


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False


@pytest.fixture
def unreadable(tmp_path: Path) -> list[Path]:
    """Two files this process cannot read, in the order the job plans them."""
    locked = []
    for name in ("a", "b"):
        path = tmp_path / "locked" / f"{name}.html"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"<p>nobody may read this</p>")
        path.chmod(0)
        locked.append(path)
    if not any(_readable(p) for p in locked):
        return locked
    if all(p.is_file() and not _readable(p) for p in WRITE_ONLY_FOR_ROOT):
        return WRITE_ONLY_FOR_ROOT
    pytest.skip("no unreadable file can be made here (root, and no write-only /proc/sys files)")


@pytest.fixture
def pages(tmp_path: Path) -> list[Path]:
    """Twelve real pages, at paths that sort after every unreadable file whatever the checkout's path."""
    copies = tmp_path / "pages"
    copies.mkdir()
    for page in sorted((shared_data() / "aeb-dev" / "html").glob("*.html.gz"))[:12]:
        shutil.copyfile(page, copies / page.name)
    return sorted(copies.iterdir())


def test_max_errors_0_refuses_the_split_before_registering(tmp_path: Path, pages: list[Path],
                                                          unreadable: list[Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root, bad = tmp_path / "root", unreadable[0]
    args = ["ingest", "files", *map(str, pages), str(bad), "--root", str(root), "--run-id", "b", "--no-ray",
            "--quiet"]
    code = haybale_main([*args, "--max-errors", "0"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "--max-errors 0" in err and "nothing of that split was registered" in err
    assert f"{bad}: refused (PermissionError" in err and "give the job read access" in err and "--run-id b" in err
    with Store(str(root), read_only=True) as store:
        assert store.catalog.stats()["records"] == 0
    leftovers = [p for p in (root / "volumes").rglob("*") if p.is_file()] if (root / "volumes").exists() else []
    assert leftovers == []  # the volume holding the split's good pages is gone too
    summary = json.loads((root / "runs" / "b" / "summary.json").read_text())
    assert [r["url"] for r in summary["rejected"]] == [str(bad)]
    assert "Permission denied" in summary["rejected"][0]["reason"]

    # as the message says: raise the budget and rerun the same run id; every good page is registered
    code = haybale_main([*args, "--max-errors", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["added"] == len(pages) and [r["url"] for r in out["rejected"]] == [str(bad)]
    with Store(str(root), read_only=True) as store:
        assert store.catalog.stats()["records"] == len(pages)
        assert store.cat(pages[3].resolve().as_uri()) == pages[3].read_bytes()


def test_the_budget_counts_the_whole_run_across_attempts(tmp_path: Path, pages: list[Path],
                                                         unreadable: list[Path]) -> None:
    inputs = [str(p) for p in [*unreadable, *pages]]

    def run(max_errors: int) -> object:
        return run_files_job(store, inputs, FilesJobConfig(run_id="s", split_files=1, max_errors=max_errors),
                             show_progress=False, local=True)

    with Store(str(tmp_path / "root")) as store:
        # split 0 (one unreadable file) fits a budget of 1; split 1 (the second) is refused, nothing after runs
        with pytest.raises(FilesJobError, match="to 2 unreadable files, over the error budget --max-errors 1") as err:
            run(1)
        assert str(unreadable[1]) in str(err.value)
        assert store.catalog.stats()["records"] == 0
        assert len(list((tmp_path / "root" / "runs" / "s" / "done").glob("*.json"))) == 1
        # the registered split's unreadable file still counts on a rerun with a smaller budget
        with pytest.raises(FilesJobError, match="1 files unreadable in the splits earlier attempts of run s"):
            run(0)
        summary = run(2)
        assert store.catalog.stats()["records"] == len(pages) == summary.added
        assert summary.splits == len(inputs) and summary.splits_skipped_done == 1
        assert [r["url"] for r in summary.rejected] == [str(unreadable[1])]  # this attempt's
