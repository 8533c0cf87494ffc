"""What the inputs of a files job name, on a real directory with the entries real trees hold: names that
are not UTF-8, names with ``%`` and URI characters, empty files, symbolic links (inside a directory and
named on their own, one pointing nowhere), a FIFO, and a literal ``[`` in a name. Every entry is read,
or reported as not read with its reason; none is dropped without a word, and none takes another's key."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.keys import file_uri
from catalog.store import Store
from ingest.errors import IngestError
from ingest.file_sources import expand_inputs
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[2]
NOT_UTF8 = os.fsdecode(b"bad\xffname.txt")


def odd_tree(base: Path) -> tuple[Path, dict[str, bytes], set[str]]:
    """A directory of regular files (path -> bytes) and entries that are not regular files (paths)."""
    top = base / "in"
    (top / "sub").mkdir(parents=True)
    (top / "sp ace").mkdir()
    files = {
        str(top / "a b.txt"): b"space",
        str(top / "a%20b.txt"): b"percent, not a space",
        str(top / NOT_UTF8): b"latin-1 name",
        str(top / "empty.txt"): b"",
        str(top / "sub" / "q?x#y.txt"): b"uri characters",
        str(top / "sp ace" / "d[1].txt"): b"brackets",
    }
    for path, data in files.items():
        Path(path).write_bytes(data)
    os.symlink(top / "a b.txt", top / "sub" / "link.txt")
    os.symlink(base / "nowhere", top / "dangling")
    os.mkfifo(top / "fifo")
    return top, files, {str(top / "sub" / "link.txt"), str(top / "dangling"), str(top / "fifo")}


def test_every_entry_is_read_or_reported_with_its_reason(tmp_path: Path) -> None:
    top, files, others = odd_tree(tmp_path)
    found = expand_inputs([str(top)])
    assert [f.url for f in found.files] == sorted(files)
    assert {e["url"] for e in found.not_read} == others
    reasons = {Path(e["url"]).name: e["reason"] for e in found.not_read}
    assert "not followed" in reasons["link.txt"] and "to nothing" in reasons["dangling"]
    assert "not a regular file" in reasons["fifo"]

    # --follow-links: the link inside the directory is read (its path is the key, the target's bytes)
    followed = expand_inputs([str(top)], follow_links=True)
    link = str(top / "sub" / "link.txt")
    assert [(f.url, f.size) for f in followed.files if f.url == link] == [(link, 5)]
    assert {e["url"] for e in followed.not_read} == others - {link}

    # named on their own: a link is read (its own path is the key); a bracket is a name, not a pattern
    alone = expand_inputs([str(top / "sub" / "link.txt"), str(top / "sp ace" / "d[1].txt")])
    assert [(f.url, f.size) for f in alone.files] == [(str(top / "sp ace" / "d[1].txt"), 8),
                                                       (str(top / "sub" / "link.txt"), 5)]
    assert not alone.not_read
    for entry, said in [("fifo", "not a regular file or directory"), ("dangling", "symbolic link to nothing")]:
        with pytest.raises(IngestError, match=said):
            expand_inputs([str(top / entry)])


def test_files_job_keeps_every_odd_name_apart_and_counts_add_up(ray_session: None, tmp_path: Path) -> None:
    top, files, others = odd_tree(tmp_path)
    with Store(str(tmp_path / "root")) as store:
        summary = run_files_job(store, [str(top)], FilesJobConfig(run_id="odd"), show_progress=False)
        assert summary.added == summary.files == len(files) and not summary.rejected
        assert {e["url"] for e in summary.not_read} == others
        for path, data in files.items():
            assert store.cat(file_uri(path)) == data, path
        assert len(list(store.list(""))) == len(files)
        again = run_files_job(store, [str(top)], FilesJobConfig(run_id="odd"), show_progress=False)
        assert again.splits_skipped_done == again.splits and {e["url"] for e in again.not_read} == others


def test_cli_names_what_it_did_not_read_and_follows_links_when_asked(tmp_path: Path) -> None:
    top, files, others = odd_tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "haybale", "--root", str(tmp_path / "root"), "ingest", "files", str(top), "--no-ray"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"{len(files)} added" in run.stdout and "3 entries under the inputs not read" in run.stdout
    for path in others:
        assert path in run.stdout
    as_json = subprocess.run(cmd + ["--json", "--run-id", "again"], env=env, capture_output=True, timeout=120)
    out = json.loads(as_json.stdout)
    assert out["unchanged"] == len(files) and {e["url"] for e in out["not_read"]} == others
    followed = subprocess.run(cmd + ["--json", "--follow-links"], env=env, capture_output=True, timeout=120)
    out = json.loads(followed.stdout)
    assert out["added"] == 1 and len(out["not_read"]) == 2  # the link, under its own key
    link = subprocess.run([sys.executable, "-m", "haybale", "--root", str(tmp_path / "root"), "catalog", "cat",
                           str(top / "sub" / "link.txt")], env=env, capture_output=True, timeout=120)
    assert link.stdout == files[str(top / "a b.txt")], link.stderr
    cat = subprocess.run([sys.executable, "-m", "haybale", "--root", str(tmp_path / "root"), "catalog", "cat",
                          str(top / NOT_UTF8)], env=env, capture_output=True, timeout=120)
    assert cat.returncode == 0 and cat.stdout == b"latin-1 name", cat.stderr


def test_warc_job_reads_linked_archives_only_when_asked(tmp_path: Path) -> None:
    """A directory of links to WARCs (a download cache): not read, and named, unless --follow-links;
    followed, the records are indexed in place through the link's path."""
    warc = shared_data() / "warc" / "example.warc.gz"
    linked = tmp_path / "crawl"
    linked.mkdir()
    os.symlink(warc, linked / "segment-0.warc.gz")
    with Store(str(tmp_path / "root")) as store:
        plain = run_warc_job(store, [str(linked)], WarcJobConfig(run_id="plain"), show_progress=False, local=True)
        assert plain.records == 0 and [e["url"] for e in plain.not_read] == [str(linked / "segment-0.warc.gz")]
        followed = run_warc_job(store, [str(linked)], WarcJobConfig(run_id="followed", follow_links=True),
                                show_progress=False, local=True)
        assert followed.indexed == followed.added == 1 and not followed.not_read
        assert store.volume_url(store.catalog.get("http://example.com/").volume) == str(linked / "segment-0.warc.gz")


def test_the_deployments_own_files_are_never_inputs(tmp_path: Path) -> None:
    """`haybale ingest files .` in a folder holding the default root (./haybale-data) registered the
    root's own catalog, lock and run files as documents (84 of 87 keys in a 3-file folder); a second
    run would have packed its volumes again. Files a user keeps under the root stay inputs."""
    work = tmp_path / "corpus"
    (work / "haybale-data" / "mine").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "haybale-data/mine/c.txt"):
        (work / name).write_text(f"text of {name}")
    env = {**{k: v for k, v in os.environ.items() if k != "HAYBALE_ROOT"}, "PYTHONPATH": str(REPO)}
    for attempt in range(2):
        run = subprocess.run([sys.executable, "-m", "haybale", "ingest", "files", ".", "--no-ray", "--json"],
                             cwd=work, env=env, capture_output=True, timeout=120)
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert (out["added"], out["unchanged"]) == ((3, 0) if attempt == 0 else (0, 3))
        own = {Path(e["url"]).name for e in out["not_read"]}
        assert {"catalog", "catalog-meta.json"} <= own and ("volumes" in own) == (attempt == 1)
    with Store(str(work / "haybale-data"), read_only=True, create=False) as store:
        assert sorted(store.list("")) == sorted(file_uri(str(work / n)) for n in ("a.txt", "b.txt",
                                                                                 "haybale-data/mine/c.txt"))
    named = subprocess.run([sys.executable, "-m", "haybale", "ingest", "warc", "haybale-data/volumes", "--no-ray"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert named.returncode == 2 and "is the deployment's own" in named.stderr, named.stderr
