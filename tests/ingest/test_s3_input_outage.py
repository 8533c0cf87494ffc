"""``ingest files`` of objects on S3 whose server (moto's real server, tests/s3_server.py) stops mid-job,
through Ray workers: the split that finds it down fails as a storage failure naming the object, the
endpoint and the run id (nothing rejected as unreadable, nothing counted against --max-errors), what
earlier splits registered stays, and once the server answers again on the same port a rerun with the
run id ingests each file exactly once.

moto keeps objects in memory: the restarted server gets the bucket and objects again, as storage that
comes back after an outage holds them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog.store import Store
from ingest.errors import IngestJobError
from ingest.files_job import FilesJob, FilesJobConfig, run_files_job
from tests import s3_server

NAMES = "abc"


def _upload(bucket: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    urls = []
    for name in NAMES:
        fs.pipe(f"{bucket}/in/{name}.txt", f"object {name} ".encode() * 200)
        urls.append(f"s3://{bucket}/in/{name}.txt")
    return urls


def test_an_s3_server_stopped_mid_job_fails_the_split_naming_the_endpoint_and_a_rerun_ingests_each_file_once(
        s3_endpoint: s3_server.S3Server, s3_bucket: str, ray_session: None, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    urls = _upload(s3_bucket)
    prepare = FilesJob.prepare

    def stop_before_the_second_split(job: FilesJob, split: Any) -> Any:
        if split.index == 1:
            s3_endpoint.stop()  # by its pid: the first split is registered, the second finds no server
        return prepare(job, split)

    monkeypatch.setattr(FilesJob, "prepare", stop_before_the_second_split)
    root = tmp_path / "root"
    # one split in flight: split 0 is registered before split 1 is prepared
    config = FilesJobConfig(run_id="s1", split_files=1, max_errors=0, max_in_flight=1, task_retries=0)
    try:
        with Store(str(root)) as store:
            with pytest.raises(IngestJobError) as caught:
                run_files_job(store, urls, config, show_progress=False)
            message = str(caught.value)
            assert urls[1] in message and s3_endpoint.endpoint in message, message
            assert "not bad data" in message and "--run-id s1" in message, message
            saved = json.loads((root / "runs" / "s1" / "summary.json").read_text())
            assert saved["rejected"] == [] and saved["added"] == 1 and saved["failed"] == message
    finally:
        monkeypatch.setattr(FilesJob, "prepare", prepare)
        again = s3_server.start_server()  # the same port (the session's AWS_ENDPOINT_URL)
        s3_endpoint.proc, s3_endpoint.log = again.proc, again.log  # the session's fixture stops this one
    s3_endpoint.make_bucket(s3_bucket)
    _upload(s3_bucket)
    with Store(str(root)) as store:
        rerun = run_files_job(store, urls, config, show_progress=False)
        assert not rerun.failed and rerun.splits_skipped_done == 1 and rerun.added == 2 and rerun.rejected == []
        keys = sorted(store.catalog.list())
        assert len(keys) == 3 and [store.cat(k) for k in keys] == [f"object {n} ".encode() * 200 for n in NAMES]
