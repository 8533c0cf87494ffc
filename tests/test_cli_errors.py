"""Every ``haybale`` subcommand, given bad input: one line on stderr naming the input and what to do,
exit status 2, no traceback, and nothing left behind that the command created.

Most cases run the command in this process (``haybale.cli.main``), which is fast; a few run it as a
real subprocess to check the exit status and stderr a user sees. None of them may get as far as
starting Ray: bad input is refused before any work starts.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.store import Store
from catalog.warc_records import resource_record
from haybale.cli import main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    ("catalog", "get"), ("catalog", "cat"), ("catalog", "ls"), ("catalog", "stats"), ("catalog", "rebuild"),
    ("catalog", "delete"), ("catalog", "serve"), ("ingest", "files"), ("ingest", "warc"), ("ingest", "crawl"),
    ("dedup", "run"), ("dedup", "clean-html"),
}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a file, an empty seeds file, a seeds file of non-URLs, a non-empty
    directory and a root holding two registered files; HAYBALE_ROOT points at a root that does not
    exist yet (so a command that wrongly creates it is caught)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAYBALE_ROOT", str(tmp_path / "fresh-root"))
    monkeypatch.delenv("HAYBALE_CATALOG_DIR", raising=False)
    (tmp_path / "afile.txt").write_text("not a directory, not a WARC\n")
    (tmp_path / "empty-seeds.txt").write_text("# nothing here\n")
    (tmp_path / "bad-seeds.txt").write_text("ftp://example.com/\nnot a url\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with Store(str(tmp_path / "root")) as store:
        writer = store.writer()
        for name in ("a.txt", "b.txt"):
            key = f"file://{tmp_path}/in/{name}"
            writer.append(key, resource_record(key, name.encode() * 10))
        for sealed in writer.close():
            store.register_sealed(sealed)
    return tmp_path


def snapshot(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


ROOT = ["--root", "root"]
CASES = [
    # (argv, what the one line must mention)
    (["--root", "afile.txt", "catalog", "stats"], "afile.txt"),
    (["catalog", "stats", "--root", "afile.txt"], "is a file"),
    (["--catalog-dir", "afile.txt", "catalog", "stats"], "is a file"),
    (["--root", "s3://bucket/x", "catalog", "stats"], "--catalog-dir"),
    (["nope"], "invalid choice"),
    (["catalog", "nope"], "invalid choice"),
    (["catalog", "get"], "required"),
    (["catalog", "get", "https://example.com/"], "no catalog"),
    ([*ROOT, "catalog", "get", ""], "empty key"),
    ([*ROOT, "catalog", "get", "file:///no/such/file"], "file:///no/such/file"),
    ([*ROOT, "catalog", "get", "k", "--url", "http://127.0.0.1:1"], "no catalog service"),
    ([*ROOT, "catalog", "get", "k", "--url", "ftp://example.com"], "ftp://example.com"),
    ([*ROOT, "catalog", "cat", "/no/such/path.txt"], "file:///no/such/path.txt"),
    (["catalog", "cat", "https://example.com/"], "no catalog"),
    ([*ROOT, "catalog", "cat", "k", "--url", "http://127.0.0.1:1", "--whole"], "no catalog service"),
    ([*ROOT, "catalog", "cat", "k", "--max-decoded-bytes", "0"], "--max-decoded-bytes"),
    ([*ROOT, "catalog", "ls", "--limit", "-3"], "--limit"),
    ([*ROOT, "catalog", "ls", "--limit", "many"], "'many'"),
    (["catalog", "ls"], "no catalog"),
    (["catalog", "stats"], "no catalog"),
    ([*ROOT, "catalog", "rebuild", "--into", "full"], "not empty"),
    (["--root", "afile.txt", "catalog", "rebuild"], "is a file"),
    (["catalog", "delete", "https://example.com/"], "no catalog"),
    ([*ROOT, "catalog", "delete"], "no keys given"),
    ([*ROOT, "catalog", "delete", "--keys-from", "missing-keys.txt"], "missing-keys.txt"),
    (["catalog", "rebuild"], "nothing to rebuild from"),
    ([*ROOT, "catalog", "serve", "--port", "70000"], "port"),
    ([*ROOT, "catalog", "serve", "--threads", "0"], "--threads"),
    (["catalog", "serve", "--port", "0"], "no catalog"),
    (["ingest", "files", "missing-dir"], "missing-dir"),
    (["ingest", "files"], "required"),
    (["ingest", "files", "full", "--split-files", "0"], "--split-files"),
    (["ingest", "files", "full", "--compress-level", "9"], "--compress-level"),
    (["ingest", "files", "full", "--volume-bytes", "-1"], "--volume-bytes"),
    (["ingest", "files", "full", "--max-errors", "-1"], "--max-errors"),
    (["ingest", "files", "memory://somewhere"], "memory://somewhere"),
    (["ingest", "files", "full", "--run-id", "../escape"], "../escape"),
    (["ingest", "files", "http://127.0.0.1:1/x.txt"], "http://127.0.0.1:1/x.txt"),  # nothing listens there
    (["ingest", "warc", "afile.txt"], "afile.txt"),
    (["ingest", "warc", "http://127.0.0.1:1/x.warc.gz"], "http://127.0.0.1:1/x.warc.gz"),
    (["ingest", "warc", "missing.warc.gz"], "missing.warc.gz"),
    (["ingest", "warc", "full", "--max-errors", "-1"], "--max-errors"),
    (["ingest", "warc", "full", "--split-bytes", "0"], "--split-bytes"),
    (["ingest", "crawl"], "--seeds"),
    (["ingest", "crawl", "--seeds", "missing-seeds.txt"], "missing-seeds.txt"),
    (["ingest", "crawl", "--seeds", "empty-seeds.txt"], "empty-seeds.txt"),
    (["ingest", "crawl", "--seeds", "bad-seeds.txt"], "bad-seeds.txt"),
    (["ingest", "crawl", "--seeds", "bad-seeds.txt", "--concurrency", "0"], "--concurrency"),
    (["ingest", "crawl", "--seeds", "bad-seeds.txt", "--delay", "-1"], "--delay"),
    (["dedup", "run", "--input", "missing.jsonl", "--output", "out"], "missing.jsonl"),
    (["dedup", "run", "--input", "full"], "--output"),
    (["dedup", "run", "--input", "full", "--output", "out", "--bands", "4"], "--bands and --rows"),
    (["dedup", "run", "--input", "full", "--output", "out", "--threshold", "2"], "--threshold"),
    (["dedup", "run", "--input", "full", "--output", "out", "--num-perm", "0"], "--num-perm"),
    (["dedup", "run", "--input", "full", "--output", "out", "--max-bad-records", "-2"], "--max-bad-records"),
    (["dedup", "run", "--input", "full", "--output", "afile.txt"], "afile.txt"),
    (["dedup", "run", "--input", "catalog:", "--output", "out"], "no catalog"),
    (["dedup", "clean-html", "missing", "out"], "missing"),
    (["dedup", "clean-html", "full", "afile.txt"], "afile.txt"),
    (["dedup", "clean-html", "full", "out", "--adblock-list", "missing-list.txt"], "missing-list.txt"),
]


def test_every_subcommand_is_in_the_battery() -> None:
    named = {tuple(argv[i:i + 2]) for argv, _ in CASES for i in range(len(argv) - 1)}
    assert COMMANDS <= named, f"subcommands without a bad-input case: {sorted(COMMANDS - named)}"


@pytest.mark.parametrize("argv,mention", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(argv: list[str], mention: str, place: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(place)
    status = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, f"exit status {status}, stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("haybale"), f"not one line: {err!r}"
    assert "Traceback" not in err
    assert mention in lines[0], f"{mention!r} not named in: {lines[0]}"
    assert snapshot(place) == before, f"left behind: {sorted(snapshot(place) - before)}"


def test_a_missing_dependency_is_an_error_naming_it(place: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The command stays listed and says what is missing (a module hidden the way an uninstalled
    package is: its import raises ModuleNotFoundError)."""
    monkeypatch.setitem(sys.modules, "selectolax", None)
    monkeypatch.setitem(sys.modules, "selectolax.lexbor", None)
    for name in [m for m in sys.modules if m.startswith("dedup.clean")]:
        monkeypatch.delitem(sys.modules, name)
    status = main(["dedup", "clean-html", "full", "out"])
    err = capsys.readouterr().err
    assert status == 2 and "selectolax" in err and "install" in err and "Traceback" not in err
    assert main(["dedup", "--help"]) == 0 and "clean-html" in capsys.readouterr().out


@pytest.mark.parametrize("argv,mention,status", [
    (["ingest", "warc", "README.md", "--root", "{tmp}/r"], "README.md", 2),
    (["dedup", "clean-html", "{tmp}/missing", "{tmp}/out"], "missing", 2),
    (["catalog", "ls", "--limit", "-3", "--root", "{tmp}/r"], "--limit", 2),
])
def test_as_a_user_sees_it(argv: list[str], mention: str, status: int, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HAYBALE_DEBUG", None)
    out = subprocess.run([sys.executable, "-m", "haybale", *[a.format(tmp=tmp_path) for a in argv]], cwd=REPO,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == status, out.stderr
    assert out.stderr.count("\n") == 1 and mention in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "out").exists()


def test_haybale_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HAYBALE_DEBUG": "1"}
    out = subprocess.run([sys.executable, "-m", "haybale", "catalog", "stats", "--root", str(tmp_path / "none")],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "Traceback" in out.stderr and "CatalogNotFoundError" in out.stderr


def test_cat_of_a_record_whose_storage_stopped_answering_names_it(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A WARC indexed in place over HTTP, its server then gone: ``catalog cat`` names the file it could
    not read and says to check that its storage is reachable (exit 1), not "unexpected ... (a bug)"."""
    import functools
    import http.server
    import io
    import threading

    from ingest.warc_job import WarcJobConfig, run_warc_job
    from tests.conftest import shared_data

    class RangeHandler(http.server.SimpleHTTPRequestHandler):
        """Answers ``Range: bytes=A-B`` with 206 and those bytes, as web servers and object stores do."""

        def log_message(self, *args: object) -> None:
            pass

        def send_head(self):  # type: ignore[no-untyped-def]
            wanted = self.headers.get("Range", "")
            if not wanted.startswith("bytes=") or self.command != "GET":
                return super().send_head()
            data = Path(self.translate_path(self.path)).read_bytes()
            first, _, last = wanted[len("bytes="):].partition("-")
            start, stop = int(first), min(int(last) + 1 if last else len(data), len(data))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
            self.send_header("Content-Length", str(stop - start))
            self.end_headers()
            return io.BytesIO(data[start:stop])

    handler = functools.partial(RangeHandler, directory=str(shared_data() / "warc"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/example.warc.gz"
    try:
        with Store(str(tmp_path / "root")) as store:
            assert run_warc_job(store, [url], WarcJobConfig(), show_progress=False, local=True).indexed == 1
            assert store.cat("http://example.com/").startswith(b"<!doctype html>")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    status = main(["catalog", "cat", "http://example.com/", "--root", str(tmp_path / "root")])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1, err
    assert url in err and "reachable" in err and "a bug" not in err, err


def test_an_error_raised_in_a_ray_task_is_its_own_one_line_message() -> None:
    """A haybale error raised in a Ray task or actor (an owner that cannot open its directory) reached
    the user as Ray's whole remote traceback, ANSI colours and all, on one line."""
    from ray.exceptions import RayTaskError

    from catalog.errors import CatalogError
    from haybale.cli import describe_failure

    try:
        raise CatalogError("owner 0: its catalog directory /d failed (IO error): free space on that disk")
    except CatalogError as exc:
        remote = RayTaskError("OwnerServer.call", "Traceback (most recent call last):\n  File \"x\", line 1\n"
                              "catalog.errors.CatalogError: owner 0 ...", exc).as_instanceof_cause()
    assert isinstance(remote, CatalogError)  # how Ray hands it back: its text is the traceback
    assert describe_failure(remote) == ("owner 0: its catalog directory /d failed (IO error): free space on that "
                                        "disk", 2)
    try:
        raise Exception("IO error: No space left on device: While appending to file: /d/000004.log")
    except Exception as exc:  # noqa: BLE001 - RocksDB's own error, a plain Exception
        remote = RayTaskError("OwnerServer.call", "Traceback ...", exc).as_instanceof_cause()
    message, status = describe_failure(remote)
    assert status == 1 and message.startswith("Exception: IO error: No space left on device")
    assert message.endswith("a disk this command writes to is full or over quota: free space there, then run "
                            "the command again"), message
