"""An output directory holds one run's files: another run is refused, the same run resumes in place,
``--overwrite`` clears the directory first."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.errors import ConfigError
from dedup.sources import JsonlSource
from haybale.cli import main as haybale_main

pytestmark = pytest.mark.ray


@pytest.fixture()
def inputs(tmp_path: Path, articles: list[str]) -> Path:
    directory = tmp_path / "in"
    directory.mkdir()
    records = [{"id": f"a{i}", "text": t} for i, t in enumerate(articles[:6])] + [{"id": "copy", "text": articles[2]}]
    (directory / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return directory


def _kept(output: Path) -> list[str]:
    return sorted(pq.read_table(output / "data").column("id").to_pylist())


def test_another_runs_output_is_refused_and_the_same_run_continues(ray_session: None, inputs: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from dedup.job import run_dedup

    output = tmp_path / "out"
    config = DedupConfig(partitions=2)
    first = run_dedup(JsonlSource([str(inputs)]), str(output), config, run_id="first", progress=False)
    with pytest.raises(ConfigError) as refused:
        run_dedup(JsonlSource([str(inputs)]), str(output), config, run_id="second", progress=False)
    message = str(refused.value)
    assert str(output) in message and "first" in message and "--overwrite" in message
    assert not (output / "_work" / "second").exists(), "a refused run must not write anything"

    again = run_dedup(JsonlSource([str(inputs)]), str(output), config, run_id="first", progress=False)
    assert again["documents"] == first["documents"] and _kept(output) == [f"a{i}" for i in range(6)]

    code = haybale_main(["dedup", "run", "--input", str(inputs), "--output", str(output), "--run-id", "third", "--partitions", "2",
                       "--quiet"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    code = haybale_main(["dedup", "run", "--input", str(inputs), "--output", str(output), "--run-id", "third", "--partitions", "2",
                       "--quiet", "--overwrite"])
    assert code == 0
    assert sorted(p.name for p in (output / "_work").iterdir()) == ["third"]
    assert _kept(output) == [f"a{i}" for i in range(6)]


def test_files_without_their_run_are_refused(ray_session: None, inputs: Path, tmp_path: Path) -> None:
    """A finished run whose work dir was deleted still owns its outputs: a new run must not mix in."""
    from dedup.job import run_dedup

    output = tmp_path / "out"
    (output / "data").mkdir(parents=True)
    (output / "data" / "part-000000.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match="files of another run \\(data\\)"):
        run_dedup(JsonlSource([str(inputs)]), str(output), DedupConfig(partitions=2), run_id="new", progress=False)
    run_dedup(JsonlSource([str(inputs)]), str(output), DedupConfig(partitions=2), run_id="new", progress=False, overwrite=True)
    assert _kept(output) == [f"a{i}" for i in range(6)]
