"""The one job runner: --no-ray runs the same jobs with the same rules (files, WARC, crawl), unchanged
files are skipped and file times kept on every path, a failure before any split is done leaves
nothing (a run refused by its error budget: only its report), a failure after keeps what is registered
and resumes."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from catalog.store import Store
from ingest.errors import IngestJobError, WarcJobError
from ingest.executors import Executor, LocalExecutor
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.registration import Registration, register_split
from ingest.runner import JobSummary, RunContext, SplitJob, run_split_job
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.catalog.conftest import make_files
from tests.ingest.test_crawl_job import job_config, page, write_seeds
from tests.ingest.test_files_job import check_exactly_once
from tests.ingest.test_warc_job import EXPECTED, _latest_captures


def _run_tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "catalog" not in p.parts}


@pytest.mark.parametrize("local", [True, pytest.param(False, marks=pytest.mark.ray)])
def test_files_skip_unchanged_keep_mtime_and_resume_the_same_on_both_paths(local: bool, request: pytest.FixtureRequest,
                                                                           tmp_path: Path) -> None:
    if not local:
        request.getfixturevalue("ray_session")
    files = make_files(tmp_path / "in", 120, seed=11)
    first = sorted(files)[0]
    os.utime(first, (1_500_000_000, 1_500_000_000))  # 2017-07-14T02:40:00Z
    root = str(tmp_path / "root")
    config = FilesJobConfig(run_id="a", split_files=25)
    with Store(root) as store:
        out = run_files_job(store, [str(tmp_path / "in")], config, show_progress=False, local=local)
        assert out.files == out.added == 120 and out.splits == 5 and out.unchanged == 0
        record, _, _ = store.read(f"file://{first}")
        assert record.header("WARC-File-Modified") == "2017-07-14T02:40:00Z"
        assert record.header("WARC-Date") >= time.strftime("%Y-%m-%dT", time.gmtime(time.time() - 86_400))
        # a new run over the same files: every file read, none written again
        again = run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="b", split_files=25),
                              show_progress=False, local=local)
        assert again.files == again.unchanged == 120 and again.added == again.volumes == 0
        Path(sorted(files)[7]).write_text("changed\n")
        third = run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="c", split_files=25),
                              show_progress=False, local=local)
        assert third.updated == 1 and third.unchanged == 119 and third.volumes == 1
        assert store.cat(f"file://{sorted(files)[7]}") == b"changed\n"
        files[sorted(files)[7]] = b"changed\n"
    # run c's markers name where each of its files lives, also the 119 it did not write again
    check_exactly_once(root, files, "c")
    summary = json.loads(Path(root, "runs", "c", "summary.json").read_text())
    assert summary["splits"] == 5 and summary["unchanged"] == 119


def test_warc_without_ray_matches_the_ray_job(shared_data_dir: Path, tmp_path: Path) -> None:
    """The same files, splits and expectations as tests/ingest/test_warc_job.py's Ray run."""
    warc_dir = shared_data_dir / "warc"
    with Store(str(tmp_path / "root")) as store:
        summary = run_warc_job(store, [str(warc_dir)], WarcJobConfig(run_id="w1", split_files=4),
                               show_progress=False, local=True)
        assert summary.splits == 6 and summary.files == 23 and summary.quarantined == 3
        assert {Path(u).name: tuple(v[k] for k in ("mode", "records", "indexed", "repacked", "skipped",
                                                  "quarantined"))
                for u, v in summary.per_file.items()} == EXPECTED
        expected = _latest_captures(sorted(warc_dir.iterdir()), tmp_path)
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected


def test_a_run_failing_before_any_split_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Store(str(root)) as store:
        before = _run_tree(root)
        with pytest.raises(IngestJobError, match="split 0 failed"):
            run_split_job(store, FailingJob(store, fail_at=0), local=True, show_progress=False)
        assert _run_tree(root) == before  # no run folder, no volumes or indexes of the run
        assert store.catalog.stats()["records"] == 0


def test_a_run_refused_by_its_error_budget_keeps_only_its_report(shared_data_dir: Path, tmp_path: Path) -> None:
    """The error names runs/RUN_ID/quarantine.jsonl: that report (with the plan and the summary) stays,
    nothing else of the run does."""
    root = tmp_path / "root"
    with Store(str(root)) as store:
        before = _run_tree(root)
        with pytest.raises(WarcJobError, match="over the error budget .*runs/x/quarantine.jsonl"):
            run_warc_job(store, [str(shared_data_dir / "warc" / "bad.arc")], WarcJobConfig(run_id="x", max_errors=0),
                         show_progress=False, local=True)
        left = _run_tree(root) - before
        assert {p for p in left if (root / p).is_file()} == {"runs/x/plan.json", "runs/x/quarantine.jsonl",
                                                            "runs/x/summary.json"}
        assert len((root / "runs" / "x" / "quarantine.jsonl").read_text().splitlines()) == 3
        assert store.catalog.stats()["records"] == 0


class FailingJob(SplitJob):
    """A job of three splits whose second one fails on its worker: the runner's contract, without a
    real job's details. Each split registers one small volume."""

    kind, unit = "test", "splits"

    def __init__(self, store: Store, fail_at: int | None) -> None:
        self.store, self.fail_at = store, fail_at
        self.summary = JobSummary("failing")

    def plan(self, ctx: RunContext) -> list[Any]:
        saved = ctx.state.load_plan()
        if saved is None:
            ctx.state.save_plan({"splits": [0, 1, 2]})
        from ingest.file_sources import Split

        return [Split(i, ()) for i in range(3)]

    def executor(self, ctx: RunContext) -> Executor:
        volumes_url = ctx.volumes_url

        def work(split: Any, payload: Any) -> Any:
            if split.index == self.fail_at:
                raise OSError(f"disk full while packing split {split.index}")
            from catalog.volume import VolumeWriter
            from catalog.warc_records import resource_record

            out = VolumeWriter(volumes_url)
            key = f"test:{split.index}"
            out.append(key, resource_record(key, f"split {split.index}".encode()))
            return out.close()

        return LocalExecutor(work, ctx.run_id)

    def register(self, ctx: RunContext, split: Any, payload: Any, result: Any) -> tuple[Registration, dict[str, Any]]:
        return register_split(ctx.store, result), {}

    def account(self, marker: dict[str, Any], result: Any | None) -> None:
        pass

    def progress(self, split: Any, payload: Any, result: Any) -> tuple[int, int, int]:
        return 1, 0, 0


def test_a_failed_split_stops_the_job_keeps_what_is_registered_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Store(str(root)) as store:
        with pytest.raises(IngestJobError, match="split 1 failed .*disk full.*--run-id failing") as info:
            run_split_job(store, FailingJob(store, fail_at=1), local=True, show_progress=False)
        assert info.value.exit_status == 1
        assert store.get("test:0") and not store.catalog.exists("test:1")
        assert sorted(p.name for p in (root / "runs" / "failing" / "done").iterdir()) == ["00000000.json"]
        assert (root / "runs" / "failing" / "summary.json").exists()
        resumed = run_split_job(store, FailingJob(store, fail_at=None), local=True, show_progress=False)
        assert resumed.splits_skipped_done == 1 and resumed.added == 2
        assert [store.cat(f"test:{i}") for i in range(3)] == [b"split 0", b"split 1", b"split 2"]


def test_crawl_without_ray(http_server: Any, tmp_path: Path) -> None:
    from ingest.crawl_job import CrawlJobConfig, run_crawl_job

    port = http_server.port
    pages = [f"http://site.test:{port}/page/local{i}" for i in range(12)]
    seeds = write_seeds(tmp_path / "seeds.txt", pages)
    with Store(str(tmp_path / "root")) as store:
        out = run_crawl_job(store, seeds, job_config(), CrawlJobConfig(run_id="l", batch_urls=5),
                            show_progress=False, local=True).as_dict()
        assert out["results"] == out["added"] == 12 and out["splits"] == 3
        assert store.cat(pages[4]) == page("local4")


def test_the_sweep_removes_what_a_killed_atomic_write_left(tmp_path: Path) -> None:
    """SIGKILLed inside an atomic write (catalog.storage.atomic_writer), a job leaves
    ``NAME.tmp-<32 hex>``: the sweep removed only names ending in ``.tmp``, so a volume's or sidecar's
    temporary file stayed for good (seen once in the files job's SIGKILL test)."""
    from ingest.volume_sweep import sweep_run

    make_files(tmp_path / "in", 5)
    with Store(str(tmp_path / "root")) as store:
        run_files_job(store, [str(tmp_path / "in")], FilesJobConfig(run_id="r"), show_progress=False, local=True)
        run_dir = tmp_path / "root" / "volumes" / "r"
        kept = sorted(p.name for p in run_dir.iterdir())
        left = ["vol-s000001-20261201034651-742f4431bd-00001.cdxj.tmp-c52b46659874484dabc3b318fa9d1e04",
                "vol-s000001-20261201034651-742f4431bd-00001.warc.gz.tmp-0f1e2d3c4b5a69788796a5b4c3d2e1f0"]
        for name in left:
            (run_dir / name).write_bytes(b"half written")
        assert sweep_run(store, store.volumes_url + "/r", {0}) == 1  # the volume's temporary file counts
        assert sorted(p.name for p in run_dir.iterdir()) == kept
