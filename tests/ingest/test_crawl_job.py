"""The crawl job: seeds → batches → fetcher actors → volumes → catalog, against the misbehaving server.

Plain-Python pieces first (no Ray), then the job on the shared Ray session, then chaos: a fetcher actor
killed mid-batch, and the whole job SIGKILLed at fail points then rerun with the same run id.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from catalog.store import Store
from ingest.crawl import CrawlConfig, CrawlSession, FetchResult, HttpExchange, Outcome
from ingest.crawl_records import canonical_seeds, crawl_batch, host_of, plan_batches, read_seeds, records_of
from ingest.errors import IngestError
from tests.ingest.http_fixtures import PAGE, MisbehavingServer
from tests.ingest.test_crawl_misbehaving import HOSTS, config

REPO = Path(__file__).resolve().parents[2]


def page(n: object) -> bytes:
    return PAGE.format(n=n).encode()


JOB_HOSTS = (*HOSTS, "links.test", "elsewhere.test", "kill-a.test", "kill-b.test")


def job_config(**overrides: Any) -> CrawlConfig:
    return config(**{"max_retries": 1, "total_timeout": 1.0, "static_hosts": {h: "127.0.0.1" for h in JOB_HOSTS},
                     **overrides})


def write_seeds(path: Path, urls: list[str]) -> str:
    path.write_text("# seeds\n\n" + "\n".join(urls) + "\n")
    return str(path)


# ---- no Ray -----------------------------------------------------------------------------------------

def test_seeds_are_read_canonicalized_deduplicated_and_planned_by_host(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "s.txt", ["  http://A.test/x ", "# comment", "http://a.test/x#frag",
                                             "ftp://a.test/f", "http://b.test:8080/./y", "not a url"])
    raw = read_seeds(seeds)
    assert raw == ["http://A.test/x", "http://a.test/x#frag", "ftp://a.test/f", "http://b.test:8080/./y", "not a url"]
    check = canonical_seeds(raw)
    assert check.urls == ["http://a.test/x", "http://b.test:8080/y"] and check.duplicates == 1
    assert [r["url"] for r in check.invalid] == ["ftp://a.test/f", "not a url"]
    assert host_of("http://b.test:8080/y") == "http://b.test:8080"
    urls = [f"http://h{i % 3}.test/{i}" for i in range(10)] + [f"http://big.test/{i}" for i in range(7)]
    batches = plan_batches(urls, 4)
    assert sorted(u for b in batches for u in b.urls) == sorted(urls)
    assert all(len(b.urls) <= 4 for b in batches) and [b.index for b in batches] == list(range(len(batches)))
    for b in batches:  # a batch lists exactly the hosts of its URLs
        assert set(b.hosts) == {host_of(u) for u in b.urls}
    assert sum("http://big.test" in b.hosts for b in batches) == 2  # 7 URLs of one host: two batches
    with pytest.raises(IngestError, match="cannot read seeds file"):
        read_seeds(str(tmp_path / "missing.txt"))


def test_records_of_hops_truncation_and_rejects() -> None:
    hop = HttpExchange("http://a.test/old", 301, "HTTP/1.1 301 Moved", [("Location", "/new")], b"", None, "1.2.3.4", 1.0)
    final = HttpExchange("http://a.test/new", 200, "HTTP/1.1 200 OK", [("Content-Type", "text/html")], b"<p>cut",
                         "length", "1.2.3.4", 2.0)
    stored = records_of(FetchResult("http://a.test/old", "http://a.test/old", Outcome.TOO_LARGE, response=final,
                                    redirects=[hop]))
    assert [k for k, _ in stored] == ["http://a.test/old", "http://a.test/new"]
    assert ("WARC-Truncated", "length") in stored[1][1].extra_headers and stored[1][1].payload == b"<p>cut"
    assert not any(k == "WARC-Truncated" for k, _ in stored[0][1].extra_headers)
    for outcome in (Outcome.HTTP_ERROR, Outcome.CONTENT_TYPE_REJECTED, Outcome.TIMEOUT, Outcome.REDIRECT):
        assert records_of(FetchResult("http://a.test/x", "http://a.test/x", outcome, response=final)) == []


def test_crawl_batch_stores_pages_and_lists_the_rest(http_server: MisbehavingServer, tmp_path: Path) -> None:
    port = http_server.port
    urls = [f"http://site.test:{port}/page/b{i}" for i in range(5)] + [
        f"http://site.test:{port}/hops/2", f"http://site.test:{port}/endless", f"http://site.test:{port}/image",
        f"http://polite.test:{port}/private/x", f"http://site.test:{port}/always500"]
    with CrawlSession(job_config(max_body_bytes=100_000)) as session:
        result = crawl_batch(session, 7, urls, str(tmp_path / "vols"), volume_bytes=1 << 20)
    assert result.index == 7 and result.results == 10 and len(result.sealed) == 1
    assert result.outcomes == {"ok": 6, "too_large": 1, "content_type_rejected": 1, "robots_disallowed": 1,
                               "http_error": 1}
    assert result.pages == 7 and result.records == 9  # /hops/2 stores two hops and the final page
    assert sorted(r["outcome"] for r in result.rejects) == ["content_type_rejected", "http_error", "robots_disallowed"]
    assert {k for k, *_ in result.sealed[0].records} == set(result.stored_keys)


def test_polite_crawl_finishes_on_uvloop(http_server: MisbehavingServer) -> None:
    """Ray workers run uvloop, whose timers can fire a little before their time; the per-host delay
    must still re-arm (without the scheduler fix, most of these crawls stall for ever)."""
    import asyncio

    uvloop = pytest.importorskip("uvloop")
    finished: list[dict[str, int]] = []

    def crawl_all() -> None:
        for n, delay in enumerate((0.01, 0.02, 0.05)):
            urls = [f"http://kill-b.test:{http_server.port}/page/uv{n}-{i}" for i in range(10)]
            with CrawlSession(job_config(politeness=True, per_host_concurrency=1, delay=delay)) as session:
                finished.append(dict(session.crawl_collect(urls)[1].outcomes))

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        thread = threading.Thread(target=crawl_all, daemon=True)
        thread.start()
        thread.join(20)
    finally:
        asyncio.set_event_loop_policy(previous)
    assert not thread.is_alive(), f"a polite crawl stalled on uvloop after {len(finished)} of 3 crawls"
    assert finished == [{"ok": 10}] * 3


# ---- on Ray -----------------------------------------------------------------------------------------

def run_job(store: Store, seeds: str, crawl: CrawlConfig, show_progress: bool = False, **job: Any) -> dict[str, Any]:
    from ingest.crawl_job import CrawlJobConfig, run_crawl_job

    return run_crawl_job(store, seeds, crawl, CrawlJobConfig(**job), show_progress=show_progress).as_dict()


@pytest.mark.ray
def test_job_stores_pages_counts_outcomes_skips_known_and_resumes(
        ray_session: None, http_server: MisbehavingServer, tmp_path: Path) -> None:
    port = http_server.port
    pages = [f"http://{h}:{port}/page/j{h[0]}{i}" for h in ("site.test", "other.test", "flaky.test") for i in range(30)]
    odd = [f"http://site.test:{port}/endless", f"http://site.test:{port}/hang", f"http://site.test:{port}/image",
           f"http://site.test:{port}/limited/job", f"http://polite.test:{port}/private/job",
           f"http://site.test:{port}/always500", "mailto:someone@example.org"]
    seeds = write_seeds(tmp_path / "seeds.txt", pages + odd + [pages[0].upper().replace("/PAGE/JS0", "/page/js0")])
    root = str(tmp_path / "root")
    crawl = job_config(max_body_bytes=50_000)
    with Store(root) as store:
        out = run_job(store, seeds, crawl, run_id="r1", batch_urls=20, actors=2)
        assert out["seeds"] == 98 and out["seeds_invalid"] == 1 and out["seeds_duplicate"] == 1
        assert out["results"] == 96 and out["splits"] == 6 and out["splits_skipped_done"] == 0
        assert out["outcomes"] == {"ok": 91, "too_large": 1, "timeout": 1, "content_type_rejected": 1,
                                   "robots_disallowed": 1, "http_error": 1}
        assert out["pages"] == out["added"] == 92 and out["rejects_total"] == 5  # 4 not stored + 1 invalid seed
        for url in pages[:3] + pages[-3:]:
            assert store.cat(url) == page(url.rsplit("/", 1)[1])
        record, _, _ = store.read(f"http://site.test:{port}/endless")
        assert record.header("WARC-Truncated") == "length" and len(store.cat(f"http://site.test:{port}/endless")) == 50_000
        assert store.cat(f"http://site.test:{port}/limited/job") == page("limited")  # 429 then retried
        assert http_server.hits["site.test/limited/job"] == 2
        summary_file = Path(root, "runs", "r1", "summary.json")
        assert json.loads(summary_file.read_text())["pages"] == 92

        again = run_job(store, seeds, crawl, run_id="r1", batch_urls=20)
        assert again["splits_skipped_done"] == 6 and again["results"] == 0

        hits_before = sum(http_server.hits[f"{u.split('//')[1].split(':')[0]}/page/{u.rsplit('/', 1)[1]}"] for u in pages)
        new = [f"http://site.test:{port}/page/new{i}" for i in range(3)]
        seeds2 = write_seeds(tmp_path / "seeds2.txt", pages + new)
        fresh = run_job(store, seeds2, crawl, run_id="r2", batch_urls=20)
        assert fresh["skipped_known"] == len(pages) and fresh["results"] == 3 and fresh["added"] == 3
        hits_after = sum(http_server.hits[f"{u.split('//')[1].split(':')[0]}/page/{u.rsplit('/', 1)[1]}"] for u in pages)
        assert hits_after == hits_before  # already stored: not requested again
        assert store.catalog.stats()["records"] == 95


@pytest.mark.ray
def test_discovered_links_already_in_the_catalog_are_not_fetched(
        ray_session: None, http_server: MisbehavingServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    port = http_server.port
    root = str(tmp_path / "root")
    crawl = job_config(politeness=True, per_host_concurrency=2, delay=0.0)
    with Store(root) as store:
        first = run_job(store, write_seeds(tmp_path / "a.txt", [f"http://links.test:{port}/page/1"]), crawl)
        assert first["added"] == 1 and http_server.hits["links.test/page/1"] == 1
        follow = dataclasses.replace(crawl, follow_links=True, max_depth=1, allowed_domains=("links.test",))
        capfd.readouterr()
        out = run_job(store, write_seeds(tmp_path / "b.txt", [f"http://links.test:{port}/links"]), follow,
                      show_progress=True)
        err = capfd.readouterr().err
        # the fetchers' constructor arguments stay small (the known-URL exchange by name, not by handle):
        # arguments in the object store cannot be restored when an actor restarts after a node loss
        assert "constructor arguments in the object store" not in err, err
        # pages found on the way are not in the plan: no total (it said "2/1 pages"), no ETA
        last = [ln for ln in err.splitlines() if ln.startswith("ingest crawl [")][-1]
        assert last.split(" | ")[0].endswith(": 2 pages"), last
        assert out["results"] == 2 and out["skipped_known"] == 1  # /links and /page/2; /page/1 known
        assert (out["links_found"], out["links_off_domain"]) == (4, 1)  # the summary says what was not followed
        assert http_server.hits["links.test/page/1"] == 1 and http_server.hits["links.test/page/2"] == 1
        assert store.cat(f"http://links.test:{port}/page/2") == page(2)
        assert http_server.hits["elsewhere.test/page/9"] == 0  # outside the allowed domain


@pytest.mark.ray
@pytest.mark.chaos
def test_fetcher_actor_killed_mid_batch_is_restarted_and_batch_retried(
        ray_session: None, http_server: MisbehavingServer, tmp_path: Path) -> None:
    import ray

    port = http_server.port
    hosts = ("kill-a.test", "kill-b.test")
    pages = [f"http://{h}:{port}/page/k{i}" for h in hosts for i in range(20)]
    crawl = job_config(politeness=True, per_host_concurrency=1, delay=0.05)
    killed: list[int] = []

    def killer() -> None:  # kill the actor crawling kill-a.test once it is part-way through its batch
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            done = sum(http_server.hits[f"kill-a.test/page/k{i}"] for i in range(20))
            if done >= 6:
                for i in range(2):
                    actor = ray.get_actor(f"haybale-crawl-kill-{i}")
                    ray.kill(actor, no_restart=False)
                    killed.append(done)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with Store(str(tmp_path / "root")) as store:
        out = run_job(store, write_seeds(tmp_path / "s.txt", pages), crawl, run_id="kill", batch_urls=20, actors=2)
        thread.join(5)
        assert killed and killed[0] < 20, "the actor was not killed mid-batch"
        assert out["added"] == 40 and out["outcomes"] == {"ok": 40}
        assert store.catalog.stats()["records"] == 40
        assert all(store.cat(u) == page(u.rsplit("/", 1)[1]) for u in pages)
    assert sum(http_server.hits[f"kill-a.test/page/k{i}"] for i in range(20)) > 20  # the batch was redone


# ---- SIGKILL of the whole job ------------------------------------------------------------------------

def _run_cli(root: str, seeds: str, run_id: str, env_extra: dict[str, str]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **env_extra}
    cmd = [sys.executable, "-m", "haybale", "ingest", "crawl", "--seeds", seeds, "--root", root, "--run-id", run_id,
           "--allow-private", "--no-politeness", "--batch-urls", "40", "--actors", "2", "--num-cpus", "2",
           "--json", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    descendants: list[psutil.Process] = []
    try:
        while proc.poll() is None:
            try:
                descendants = psutil.Process(proc.pid).children(recursive=True) or descendants
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        out, err = proc.communicate(timeout=120)
    finally:
        for child in descendants:  # whatever this job started that outlived it, by pid
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
    return proc.returncode, out + err


@pytest.mark.chaos
def test_sigkill_whole_job_at_fail_points_then_rerun_ends_exactly_once(
        http_server: MisbehavingServer, tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{http_server.port}/page/x{i}" for i in range(200)]
    seeds = write_seeds(tmp_path / "seeds.txt", urls)
    root, run_id, once = str(tmp_path / "root"), "chaos", str(tmp_path / "fired")
    points = ["volume.after_append:25",        # mid-volume, inside a fetcher actor: kills the whole job
              "catalog.after_journal:2",       # mid-registration: journal durable, shards not applied
              "crawl_job.after_register:3"]    # registered, completion marker not written
    for n, point in enumerate(points):
        code, output = _run_cli(root, seeds, run_id, {"HAYBALE_FAILPOINT": point, "HAYBALE_FAILPOINT_ONCE": f"{once}-{n}"})
        assert code != 0, f"{point} did not kill the job: {output[-2000:]}"
        assert os.path.exists(f"{once}-{n}"), f"fail point {point} was never reached: {output[-2000:]}"
    code, output = _run_cli(root, seeds, run_id, {})
    assert code == 0, output[-3000:]
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["run_id"] == run_id and summary["splits"] == 5
    with Store(root, read_only=True) as store:
        assert store.catalog.stats()["records"] == len(urls)
        marked: set[str] = set()
        for path in Path(root, "runs", run_id, "done").glob("*.json"):
            marked.update(json.loads(path.read_text())["volumes"])
        referenced = set()
        for url in urls:
            assert store.cat(url) == page(url.rsplit("/", 1)[1])
            referenced.add(store.volume_url(store.catalog.get(url).volume))
        assert referenced <= marked and all(Path(u).exists() for u in referenced)


@pytest.mark.chaos
def test_actor_killed_after_registering_its_batch_through_the_owners_is_retried_once(
        http_server: MisbehavingServer, tmp_path: Path) -> None:
    """On the embedded default the fetcher actors register their batches straight to the owners; one dies
    right after the owners acknowledged: Ray restarts it and retries the batch, which registers nothing twice."""
    from ingest.local_head import stop_head

    urls = [f"http://127.0.0.1:{http_server.port}/page/r{i}" for i in range(120)]
    seeds = write_seeds(tmp_path / "seeds.txt", urls)
    root, fired = str(tmp_path / "root"), tmp_path / "fired"
    env = {"HAYBALE_FAILPOINT": "crawl_job.actor_registered:1", "HAYBALE_FAILPOINT_SCOPE": "process",
           "HAYBALE_FAILPOINT_ONCE": str(fired)}
    try:
        code, output = _run_cli(root, seeds, "retried", env)
    finally:
        stop_head(root)
    assert code == 0, output[-3000:]
    assert fired.exists(), "no actor registered a batch itself"
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["splits"] == 3 and summary["added"] + summary["unchanged"] >= len(urls)
    assert summary["unchanged"] > 0  # the retried batch found its pages registered by the killed attempt
    with Store(root, read_only=True) as store:
        assert store.catalog.stats()["records"] == len(urls)
        for url in urls:
            assert store.cat(url) == page(url.rsplit("/", 1)[1])
