"""Many writers on one root at once, on the embedded default (the root's persistent local Ray head),
through plain ``haybale`` commands: a files job, a WARC job over real files, a crawl of a loopback HTTP
server, a dedup job marking a prefix registered before, and a second WARC job whose captures of the same
URLs race the first one's with other WARC-Dates — all at the same time. The final counts are exact,
every input is there once, the marks are there, the latest WARC-Date won every race, and ``haybale
down`` stops the head by pid."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

from catalog.keys import canonical_key
from catalog.store import Store
from haybale.demo import generate_files
from ingest.local_head import read_state, state_dir_of, stop_head
from tests.conftest import shared_data
from tests.ingest.http_fixtures import MisbehavingServer

REPO = Path(__file__).resolve().parents[2]
REAL_WARC_NAMES = ("dolma-wget-sample-0000.warc.gz", "whirlwind.warc.gz", "example.warc.gz")


def _real_warcs() -> list[Path]:
    """The real WARCs the jobs read (skips the test where ../shared/data is absent)."""
    return [shared_data() / "warc" / name for name in REAL_WARC_NAMES]
RACE_URLS = [f"https://race.example/page/{n}" for n in range(10)]
OLD, NEW = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"
CRAWL_PAGES = 30


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HAYBALE_CLUSTER_IDLE_SECONDS": "300"}
    env.pop("RAY_ADDRESS", None)
    return env


def _haybale(root: Path, *argv: str) -> subprocess.Popen[str]:
    """Start a command; its output goes to files (a pipe nobody drains could stall it)."""
    out = tempfile.TemporaryFile("w+")
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-m", "haybale", *argv, "--root", str(root), "--json", "--quiet"],
                            cwd=REPO, env=_env(), stdout=out, stderr=err, text=True)
    proc.outputs = (out, err)  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen[str], timeout: float = 600) -> dict:
    proc.wait(timeout=timeout)
    out, err = proc.outputs  # type: ignore[attr-defined]
    out.seek(0)
    err.seek(0)
    text, problems = out.read(), err.read()
    out.close()
    err.close()
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}: {problems[-3000:]}"
    return json.loads(text)


def _race_warc(path: Path, later_when_even: bool) -> None:
    """A WARC of one response per race URL: this file's capture is the later one for even pages when
    ``later_when_even``, for odd pages otherwise."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for n, url in enumerate(RACE_URLS):
            date = NEW if (n % 2 == 0) == later_when_even else OLD
            body = f"<html><body><p>{url} captured {date}</p></body></html>".encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=headers,
                                                          warc_headers_dict={"WARC-Date": date}))


def _reference_warc_keys(tmp_path: Path) -> dict[str, int]:
    """Key -> digest of the real WARC files ingested alone (in this process, no Ray): what the
    concurrent run must hold for them."""
    ref = tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "haybale", "ingest", "warc", *map(str, _real_warcs()), "--root", str(ref),
                    "--no-ray", "--json", "--quiet"], cwd=REPO, env=_env(), check=True, capture_output=True, timeout=300)
    with Store(str(ref), read_only=True) as store:
        return {key: loc.digest for key, loc in store.items("")}


def test_files_warc_crawl_and_dedup_jobs_at_once_count_exactly(tmp_path: Path) -> None:
    root = tmp_path / "root"
    inputs = {name: tmp_path / name for name in ("a", "b")}
    for n, directory in enumerate(inputs.values()):
        generate_files(directory, 120, seed=10 + n)
    files = {name: sorted(p for p in d.rglob("*.txt")) for name, d in inputs.items()}
    race = [tmp_path / "race" / "first.warc.gz", tmp_path / "race" / "second.warc.gz"]
    race[0].parent.mkdir()
    _race_warc(race[0], later_when_even=True)
    _race_warc(race[1], later_when_even=False)
    warc_keys = _reference_warc_keys(tmp_path)
    assert len(warc_keys) >= 20 and not set(warc_keys) & {canonical_key(u) for u in RACE_URLS}
    server = MisbehavingServer()
    port = server.start()
    seeds = tmp_path / "seeds.txt"
    crawled = [f"http://127.0.0.1:{port}/page/c{n}" for n in range(CRAWL_PAGES)]
    seeds.write_text("\n".join(crawled) + "\n")
    try:
        # the prefix dedup reads, registered before (in this process's owners: the head starts below)
        first = _finish(_haybale(root, "ingest", "files", str(inputs["a"]), "--split-files", "40", "--no-ray"))
        assert first["added"] == len(files["a"])
        jobs = {"files": _haybale(root, "ingest", "files", str(inputs["b"]), "--split-files", "40"),
                "warc": _haybale(root, "ingest", "warc", *map(str, _real_warcs()), str(race[0])),
                "race": _haybale(root, "ingest", "warc", str(race[1])),
                "crawl": _haybale(root, "ingest", "crawl", "--seeds", str(seeds), "--allow-private", "--no-politeness",
                                  "--batch-urls", "10", "--actors", "1"),
                "dedup": _haybale(root, "dedup", "run", "--input", f"catalog:file://{inputs['a']}/",
                                  "--output", str(tmp_path / "dedup-out"))}
        heads = _heads_while_running(root, list(jobs.values()))
        done = {name: _finish(proc) for name, proc in jobs.items()}
        state = read_state(state_dir_of(root))
        assert state is not None and heads == {state["pid"]}, f"the jobs did not share one head: {heads}"
        assert done["files"]["added"] == len(files["b"])
        assert done["crawl"]["added"] == CRAWL_PAGES and done["crawl"]["outcomes"] == {"ok": CRAWL_PAGES}
        assert done["warc"]["added"] + done["race"]["added"] == len(warc_keys) + len(RACE_URLS)
        assert done["dedup"]["catalog_marks"] == len(files["a"]) == done["dedup"]["documents"]["records"]
        assert all(server.hits[f"127.0.0.1/page/c{n}"] == 1 for n in range(CRAWL_PAGES))  # each fetched once
        with Store(str(root), read_only=True) as store:  # read from the owners' directories, no Ray
            stats = store.stats()
            expected = len(files["a"]) + len(files["b"]) + len(warc_keys) + len(RACE_URLS) + CRAWL_PAGES
            assert stats["records"] == expected
            listed = list(store.list(""))
            assert len(listed) == len(set(listed)) == expected  # listed once each, nothing doubled
            for name, paths in files.items():
                assert all(loc is not None for loc in store.get_many([f"file://{p}" for p in paths])), name
            assert [loc.digest for loc in store.get_many(list(warc_keys))] == list(warc_keys.values())
            assert all(loc is not None for loc in store.get_many(crawled))
            assert all(store.mark_of(f"file://{p}") is not None for p in files["a"])
            assert all(store.mark_of(f"file://{p}") is None for p in files["b"])
            for url in RACE_URLS:  # the latest WARC-Date won, whichever job registered last
                assert store.read(url)[0].header("WARC-Date") == NEW, url
        # the head's owners hold the catalog open: replacing it under them is refused, a copy is the way
        refused = subprocess.run([sys.executable, "-m", "haybale", "catalog", "rebuild", "--root", str(root)],
                                 cwd=REPO, capture_output=True, text=True, timeout=120, env=_env())
        assert refused.returncode == 2, refused.stderr
        assert "a rebuild in place replaces the catalog its owners hold open; give --into DIR" in refused.stderr
        assert "haybale down --root" in refused.stderr
    finally:
        server.stop()
        pid = (read_state(state_dir_of(root)) or {}).get("pid")
        down = subprocess.run([sys.executable, "-m", "haybale", "down", "--root", str(root)], cwd=REPO,
                              capture_output=True, text=True, timeout=120, env=_env())
        if read_state(state_dir_of(root)) is not None:  # the test must not leave a head running
            stop_head(root)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert pid is not None and read_state(state_dir_of(root)) is None
    assert not _alive(pid), "haybale down left the head's supervisor running"


def _heads_while_running(root: Path, procs: list[subprocess.Popen[str]], timeout: float = 600) -> set[int]:
    """Pids of the root's head seen while ``procs`` run (polled), once they have all exited."""
    heads: set[int] = set()
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        state = read_state(state_dir_of(root))
        if state is not None:
            heads.add(state["pid"])
        time.sleep(0.2)
    return heads


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # exited, not yet reaped by its new parent
    except psutil.NoSuchProcess:
        return False
