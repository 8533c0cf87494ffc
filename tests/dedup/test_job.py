"""The dedup job end to end on the shared local Ray: planted duplicates, keep policies, resume."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.errors import ConfigError
from dedup.sources import JsonlSource

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]


def _paragraph_edit(text: str, rng: random.Random) -> str:
    paragraphs = [p for p in text.split("\n") if p.strip()]
    if len(paragraphs) > 6:
        del paragraphs[rng.randrange(len(paragraphs))]
    return "\n".join(["Subscribe to our newsletter for more stories like this."] + paragraphs + ["Share this article"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, articles: list[str]) -> dict[str, Any]:
    """Originals in file 0; near and exact copies (known originals) in later files; bad input."""
    rng = random.Random(5)
    directory = tmp_path_factory.mktemp("corpus")
    originals = [{"id": f"orig-{i}", "text": t, "rank": i % 7} for i, t in enumerate(articles)]
    near = {f"near-{i}": f"orig-{i}" for i in range(0, 30, 2)}
    exact = {f"exact-{i}": f"orig-{i}" for i in range(31, 36)}
    copies = [{"id": k, "text": _paragraph_edit(articles[int(v.split("-")[1])], rng)} for k, v in near.items()]
    copies += [{"id": k, "text": articles[int(v.split("-")[1])]} for k, v in exact.items()]
    rng.shuffle(copies)
    (directory / "0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in originals))
    half = len(copies) // 2
    (directory / "1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in copies[:half]))
    (directory / "2.jsonl").write_bytes(
        "".join(json.dumps(r) + "\n" for r in copies[half:]).encode()
        + b'{"id": "empty-1", "text": "  ...  "}\n'
        + b'{"id": "broken", "text": "\xff"}\n'
        + b'{"id": "no-text"}\n'
    )
    return {"dir": directory, "near": near, "exact": exact, "originals": [r["id"] for r in originals]}


def _maybe_json(line: bytes) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


class ListSink:
    def __init__(self) -> None:
        self.marks: dict[str, tuple[str, str | None]] = {}

    def mark(self, ids: list[str], status: list[str], reason: list[str | None]) -> None:
        for i, s, r in zip(ids, status, reason):
            self.marks[i] = (s, r)


def _outputs(output: Path) -> tuple[set[str], dict[str, dict[str, Any]]]:
    kept = set(pq.read_table(output / "data").column("id").to_pylist())
    report = {row["id"]: row for row in pq.read_table(output / "removed").to_pylist()}
    return kept, report


def test_planted_duplicates_are_removed(ray_session: None, corpus: dict[str, Any], tmp_path: Path) -> None:
    from dedup.job import run_dedup

    sink = ListSink()
    output = tmp_path / "out"
    summary = run_dedup(JsonlSource([str(corpus["dir"])]), str(output), DedupConfig(partitions=4), run_id="t1", progress=False, mark_sink=sink)
    kept, report = _outputs(output)
    expected_removed = {**corpus["near"], **corpus["exact"]}
    for copy, original in expected_removed.items():
        assert copy in report, f"{copy} not removed"
        assert report[copy]["kept_id"] == original
        assert original in kept
    for copy in corpus["exact"]:
        assert report[copy]["reason"] == "exact_duplicate" and report[copy]["similarity"] == 1.0
    for copy in corpus["near"]:
        assert report[copy]["reason"] == "near_duplicate" and 0.5 <= report[copy]["similarity"] < 1.0
    assert set(corpus["originals"]) <= kept
    assert report["empty-1"]["reason"] == "empty" and report["empty-1"]["kept_id"] is None
    assert set(report) == set(expected_removed) | {"empty-1"}
    assert summary["documents"]["quarantined"] == 2
    quarantine = pq.read_table(output / "quarantine.parquet").to_pylist()
    assert {(Path(q["source"]).name, q["offset"]) for q in quarantine} == {("2.jsonl", 12), ("2.jsonl", 13)}
    assert summary["documents"]["kept"] == len(kept) == len(corpus["originals"])
    plots = summary["outputs"]["plots"]
    for name in ("cluster_sizes.png", "s_curve.png", "removals.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert plots[f"{output}/{name}"]  # the summary says what each plot shows
    from dedup.outputs import removal_counts
    from dedup.workdir import WorkDir

    # The removals plot is drawn from counts known before the writes; they are the writes' counts.
    counts = removal_counts(WorkDir(str(output), "t1"), summary["splits"], summary["documents"]["input"], summary["clusters"])
    assert counts == {"kept": summary["documents"]["kept"], **summary["documents"]["removed_by_reason"]}
    histogram = summary["candidate_similarity_histogram"]
    assert sum(histogram["merged"]) == summary["pairs"]["verified_pairs"]
    assert sum(histogram["rejected"]) == summary["pairs"]["rejected_pairs"]
    assert json.loads((output / "summary.json").read_text())["run_id"] == "t1"
    assert len(sink.marks) == len(kept) + len(report)
    assert sink.marks["orig-0"] == ("kept", None) and sink.marks["near-0"] == ("removed", "near_duplicate")


def test_keep_longest_and_priority(ray_session: None, corpus: dict[str, Any], tmp_path: Path) -> None:
    from dedup.job import run_dedup

    for config in (DedupConfig(partitions=2, keep="longest"), DedupConfig(partitions=2, keep="priority", priority_field="rank")):
        output = tmp_path / config.keep
        run_dedup(JsonlSource([str(corpus["dir"])]), str(output), config, run_id="k", progress=False)
        kept, report = _outputs(output)
        for row in report.values():
            if row["kept_id"] is not None:
                assert row["kept_id"] in kept, "a removed document must point at a kept one"
        groups: dict[str, list[str]] = {}
        for copy, original in corpus["near"].items():
            groups.setdefault(original, [original]).append(copy)
        # Each group keeps exactly one member.
        for members in groups.values():
            assert sum(m in kept for m in members) == 1
        if config.keep == "longest":
            lengths = {
                record["id"]: len(record["text"].encode())
                for path in corpus["dir"].glob("*.jsonl")
                for line in path.read_bytes().splitlines()
                if (record := _maybe_json(line)) and "text" in record
            }
            for members in groups.values():
                longest = max(members, key=lambda m: (lengths[m], -members.index(m)))
                assert longest in kept, f"{longest} is the longest of {members}"
        else:
            # Originals carry a rank, copies none (priority 0): an original with rank > 0 is kept.
            assert all(original in kept for original in corpus["near"].values() if int(original.split("-")[1]) % 7 > 0)


def test_resume_with_other_settings_is_refused(ray_session: None, corpus: dict[str, Any], tmp_path: Path) -> None:
    from dedup.job import run_dedup

    run_dedup(JsonlSource([str(corpus["dir"])]), str(tmp_path), DedupConfig(partitions=2), run_id="same", progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        run_dedup(JsonlSource([str(corpus["dir"])]), str(tmp_path), DedupConfig(partitions=3), run_id="same", progress=False)



def test_resume_of_a_run_started_by_an_older_version_is_refused(tmp_path: Path) -> None:
    """Work files of another version (e.g. other exact digests) must not be mixed with ours."""
    from dedup.job import WORK_FORMAT, _check_resume
    from dedup.workdir import WorkDir

    (tmp_path / "a.jsonl").write_text('{"id": 1, "text": "a b c"}\n')
    source = JsonlSource([str(tmp_path / "a.jsonl")])
    config = DedupConfig(partitions=1)
    work = WorkDir(str(tmp_path / "out"), "old")
    listed = [[s.kind, s.url, [list(o) for o in s.options]] for s in source.splits()]
    work.write_json(work.path("config.json"), {"config": config.fingerprint(), "splits": listed})  # format 1
    with pytest.raises(ConfigError, match="another version of haybale"):
        _check_resume(source.splits(), work, config)
    current = WorkDir(str(tmp_path / "out"), "new")
    _check_resume(source.splits(), current, config)
    assert current.read_json(current.path("config.json"))["work_format"] == WORK_FORMAT
    _check_resume(source.splits(), current, config)  # a resume by this version goes on


def test_resume_after_an_input_file_changed_is_refused(tmp_path: Path) -> None:
    """A resume reused what the first start read of a file changed since (a line appended after a
    crash was left out of every output without a word); now it is refused, naming the file."""
    from dedup.job import _check_resume
    from dedup.split_plan import plan_splits
    from dedup.workdir import WorkDir

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.jsonl").write_text(f'{{"id": "{name}", "text": "words of {name}"}}\n')
    config = DedupConfig(partitions=1)
    source, splits = plan_splits(JsonlSource([str(tmp_path / "*.jsonl")]), split_bytes=1 << 20)  # one group
    assert [s.kind for s in splits] == ["group"]
    work = WorkDir(str(tmp_path / "out"), "r")
    _check_resume(splits, work, config)
    _check_resume(splits, work, config)  # nothing changed: the resume goes on
    with open(tmp_path / "b.jsonl", "a") as handle:
        handle.write('{"id": "b2", "text": "appended after the crash"}\n')
    with pytest.raises(ConfigError, match=r"input .*b\.jsonl changed since run r started .*new --run-id"):
        _check_resume(splits, work, config)
    # a run recorded before files were stamped resumes as it did
    recorded = work.read_json(work.path("config.json"))
    del recorded["input_files"]
    work.write_json(work.path("config.json"), recorded)
    _check_resume(splits, work, config)


@pytest.mark.chaos
@pytest.mark.parametrize("wave", ["read", "vsecond", "large-0"])
def test_killed_job_resumes_to_the_same_output(ray_session: None, corpus: dict[str, Any], tmp_path: Path, wave: str) -> None:
    """Kill a subprocess running the job once 3 units of ``wave`` are done, rerun with the same run
    id, compare with a clean run byte for byte."""
    import ray

    from dedup.job import run_dedup

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    lines = []
    for path in sorted(corpus["dir"].glob("*.jsonl")):
        lines += [line for line in path.read_bytes().splitlines() if line.strip()]
    for index in range(24):  # many small splits, so the kill lands between units of work
        (inputs / f"{index:02d}.jsonl").write_bytes(b"\n".join(lines[index::24]) + b"\n")
    reference = tmp_path / "reference"
    run_dedup(JsonlSource([str(inputs)]), str(reference), DedupConfig(partitions=4), run_id="ref", progress=False)

    output = tmp_path / "resumed"
    command = [sys.executable, "-m", "haybale", "dedup", "run", "--input", str(inputs), "--output", str(output),
               "--run-id", "r", "--partitions", "4", "--quiet", "--address", ray.get_runtime_context().gcs_address]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    markers = output / "_work" / "r" / "markers"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if markers.is_dir() and len(list(markers.glob(f"{wave}-*.json"))) >= 3:
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the job ended before it could be killed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    done_before = {p.name for p in markers.glob("*.json")}
    assert len([n for n in done_before if n.startswith("write-")]) < 24
    assert len([n for n in done_before if n.startswith(f"{wave}-")]) >= 3

    summary = run_dedup(JsonlSource([str(inputs)]), str(output), DedupConfig(partitions=4), run_id="r", progress=False)
    assert summary["documents"]["input"] == sum(1 for line in lines) - 2  # two bad lines quarantined
    for name in ("data", "removed"):
        ours = {p.name: p.read_bytes() for p in (output / name).glob("*.parquet")}
        assert ours == {p.name: p.read_bytes() for p in (reference / name).glob("*.parquet")}, name


def test_html_input_is_cleaned(ray_session: None, shared_data_dir: Path, tmp_path: Path) -> None:
    clean = pytest.importorskip("dedup.clean")
    if not hasattr(clean, "clean_html"):
        pytest.skip("dedup.clean.clean_html not available yet")
    from dedup.job import run_dedup
    from dedup.warc_source import WarcSource

    warc = shared_data_dir / "warc"
    source = WarcSource([str(warc / "whirlwind.warc.gz"), str(warc / "dolma-wget-sample-0000.warc.gz")])
    summary = run_dedup(source, str(tmp_path), DedupConfig(partitions=2), run_id="h", progress=False)
    data = pq.read_table(tmp_path / "data").to_pylist()
    assert data and all("<html" not in row["text"].lower() for row in data)
    assert summary["documents"]["input"] == summary["documents"]["kept"] + summary["documents"]["removed"]
