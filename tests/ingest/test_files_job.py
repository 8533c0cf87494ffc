"""The files ingest job on Ray: inputs from directories, globs and fsspec URLs; resume by run id;
SIGKILL of the whole job at named and random moments; a worker killed mid-task."""
from __future__ import annotations

import functools
import http.server
import json
import os
import random
import signal
import threading
from pathlib import Path

import fsspec
import pytest

from catalog.store import Store
from ingest.errors import IngestError
from ingest.file_sources import FileRef, Split, expand_inputs, plan_splits
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.packing import MAX_FILE_BYTES, PackWork, pack_split
from tests.catalog.conftest import make_files
from tests.ingest.job_runner import run_job_process

REPO = Path(__file__).resolve().parents[2]


def check_exactly_once(root: str, files: dict[str, bytes], run_id: str) -> None:
    """Every input once, every location readable with its bytes, every referenced volume belongs to a
    completed split of the run, and no volume file of the run is left that nothing references (what
    killed attempts left behind was swept by the rerun). Keys may also live in earlier runs' volumes
    (files found unchanged are not written again)."""
    with Store(root, read_only=True) as store:
        stats = store.catalog.stats()
        assert stats["records"] == len(files)
        marked: set[str] = set()
        for path in Path(root, "runs", run_id, "done").glob("*.json"):
            marked.update(json.loads(path.read_text())["volumes"])
        referenced = set()
        for path, data in files.items():
            key = f"file://{path}"
            assert store.cat(key) == data, f"{key} reads back different bytes"
            referenced.add(store.volume_url(store.catalog.get(key).volume))
        assert referenced <= marked, f"catalog references volumes of no completed split: {referenced - marked}"
        assert all(Path(u).exists() for u in referenced)
        run_dir = Path(root, "volumes", run_id)
        on_disk = {str(p) for p in run_dir.iterdir()} if run_dir.exists() else set()
        mine = {u for u in referenced if Path(u).parent == run_dir}  # files unchanged live in earlier runs' volumes
        sidecars = {u[: -len(".warc.gz")] + ".cdxj" for u in mine}
        assert on_disk == mine | sidecars, f"unreferenced files left: {sorted(on_disk - mine - sidecars)}"


def test_plan_and_pack_units(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 50)
    refs = expand_inputs([str(tmp_path / "in")]).files
    assert [r.url for r in refs] == sorted(files)
    assert [r.url for r in expand_inputs([str(tmp_path / "in" / "a" / "*.txt")]).files] == \
        sorted(p for p in files if "/a/" in p)
    splits = plan_splits(refs, max_files=7, max_bytes=10**9)
    assert [len(s.files) for s in splits] == [7] * 7 + [1]
    with pytest.raises(Exception, match="does not exist"):
        expand_inputs([str(tmp_path / "nope")])
    mem = fsspec.filesystem("memory")
    for i in range(5):
        mem.pipe(f"/hbpack/docs/{i}.txt", f"memory doc {i}".encode())
    mem_refs = expand_inputs(["memory://hbpack/docs/*.txt"]).files
    assert [r.key for r in mem_refs] == [f"memory:///hbpack/docs/{i}.txt" for i in range(5)]  # fsspec form
    mem_result = pack_split(Split(0, tuple(mem_refs)), PackWork(str(tmp_path / "vols"), 1 << 20))
    assert mem_result.files == 5 and not mem_result.rejects
    ghost = FileRef(str(tmp_path / "vanished.txt"), 10, f"file://{tmp_path}/vanished.txt")
    result = pack_split(Split(0, (refs[0], ghost)), PackWork(str(tmp_path / "vols"), 1 << 20))
    assert result.files == 1 and len(result.sealed) == 1
    assert result.rejects[0]["url"] == ghost.url and "gone since the inputs were listed" in result.rejects[0]["reason"]


def test_a_file_over_the_record_limit_is_rejected_unread(tmp_path: Path) -> None:
    """A file whose record could not fit a location's 32-bit length was read whole into memory, and
    then failed the whole split ("the volume writer produced a bad record"). It is now one reject,
    named with its size and the limit, and never read (a sparse file here: nothing is allocated)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"small")
    with open(tmp_path / "in" / "huge.bin", "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    refs = expand_inputs([str(tmp_path / "in")]).files
    result = pack_split(Split(0, tuple(refs)), PackWork(str(tmp_path / "vols"), 1 << 20))
    assert result.files == 1 and result.bytes == 5
    assert [(r["url"], "over the 4,227,858,432-byte limit of one record" in r["reason"]) for r in result.rejects] == \
        [(str(tmp_path / "in" / "huge.bin"), True)]


@pytest.mark.ray
def test_job_packs_directories_globs_and_memory_urls(ray_session: None, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 400)
    root = str(tmp_path / "root")
    with Store(root) as store:
        summary = run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="r1", split_files=60),
                                show_progress=False)
        assert summary.files == summary.added == 400 and summary.splits == 7 and not summary.rejected
        again = run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="r1", split_files=60),
                              show_progress=False)
        assert again.splits_skipped_done == 7 and again.files == 0
    check_exactly_once(root, files, "r1")

    # remote URLs: files served over HTTP on loopback, read by the workers through fsspec
    served = tmp_path / "in" / "a"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        names = sorted(p.name for p in served.iterdir())[:25]
        urls = [f"http://127.0.0.1:{server.server_port}/{name}" for name in names]
        with Store(str(tmp_path / "root2")) as store:
            summary = run_files_job(store, urls, FilesJobConfig(split_files=8), show_progress=False)
            assert summary.added == 25 and summary.splits == 4 and not summary.rejected
            assert store.cat(urls[7]) == (served / names[7]).read_bytes()
            with pytest.raises(IngestError, match="Ray workers cannot see"):
                run_files_job(store, ["memory://x/*.txt"], FilesJobConfig(), show_progress=False)
    finally:
        server.shutdown()
        thread.join()


def _run_job(root: str, src: str, run_id: str, env_extra: dict[str, str], kill_after: float | None = None
             ) -> tuple[int, str]:
    return run_job_process(["haybale", "ingest", "files", src, "--root", root, "--run-id", run_id,
                            "--split-files", "40", "--num-cpus", "2", "--json", "--quiet"], env_extra, kill_after)


@pytest.mark.chaos
def test_sigkill_whole_job_at_many_points_then_rerun_ends_exactly_once(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 400, seed=3)
    root, src, run_id = str(tmp_path / "root"), str(tmp_path / "in"), "chaos"
    once = str(tmp_path / "fired")
    points = ["volume.after_append:25",      # mid-volume, inside a Ray worker: kills the whole job
              "volume.after_seal:2",         # a volume sealed, its records not registered
              "catalog.after_journal:2",     # mid-registration: journal durable, shards not applied
              "catalog.mid_apply:3",         # mid-registration: some shards applied
              "files_job.after_register:3"]  # registered, completion marker not written
    rng = random.Random(5)
    for n, point in enumerate(points):
        code, output = _run_job(root, src, run_id, {"HAYBALE_FAILPOINT": point,
                                                    "HAYBALE_FAILPOINT_ONCE": f"{once}-{n}"})
        assert code == -signal.SIGKILL or code != 0, f"{point} did not kill the job: {output[-2000:]}"
        assert os.path.exists(f"{once}-{n}"), f"fail point {point} was never reached"
    for _ in range(2):  # and at random moments
        _run_job(root, src, run_id, {}, kill_after=rng.uniform(4.0, 9.0))
    code, output = _run_job(root, src, run_id, {})
    assert code == 0, output[-3000:]
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["run_id"] == run_id
    check_exactly_once(root, files, run_id)


@pytest.mark.chaos
def test_worker_killed_mid_task_job_finishes_with_same_result(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in", 200, seed=4)
    root = str(tmp_path / "root")
    code, output = _run_job(root, str(tmp_path / "in"), "worker-kill", {
        "HAYBALE_FAILPOINT": "volume.after_append:15", "HAYBALE_FAILPOINT_SCOPE": "process",
        "HAYBALE_FAILPOINT_ONCE": str(tmp_path / "fired")})
    assert os.path.exists(tmp_path / "fired"), "the worker fail point was never reached"
    assert code == 0, output[-3000:]
    check_exactly_once(root, files, "worker-kill")
