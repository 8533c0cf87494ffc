"""Habits every ``haybale`` command shares: global options before or after the subcommand, local paths
as keys, human output in prose and tables with rounded figures."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog.store import Store
from catalog.warc_records import resource_record
from haybale.cli import main
from haybale.cli.ingest_commands import describe_files_summary
from haybale.cli.options import GLOBAL_OPTIONS


@pytest.fixture
def root(tmp_path: Path) -> tuple[str, Path]:
    """A root holding the files of ``tmp_path/in`` (a.txt, b.txt, sub/c.txt) under their file:// keys."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (src / name).write_text(f"the content of {name}\n")
    root = str(tmp_path / "root")
    with Store(root) as store:
        writer = store.writer()
        for path in sorted(src.rglob("*.txt")):
            key = f"file://{path}"
            writer.append(key, resource_record(key, path.read_bytes()))
        for sealed in writer.close():
            store.register_sealed(sealed)
    return root, src


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_global_options_before_or_after_the_subcommand(root: tuple[str, Path], capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path, _ = root
    monkeypatch.setenv("HAYBALE_ROOT", str(tmp_path / "elsewhere"))  # neither spelling may fall back to it
    spellings = [["--root", path, "catalog", "stats", "--json"], ["catalog", "stats", "--root", path, "--json"],
                 ["--json", "--root", path, "catalog", "stats"], ["--root", path, "--json", "catalog", "stats"],
                 ["--catalog-dir", f"{path}/catalog", "catalog", "stats", "--json"],
                 ["catalog", "stats", "--json", "--catalog-dir", f"{path}/catalog"]]
    answers = [json.loads(run(argv, capsys)) for argv in spellings]
    assert all(a["records"] == 3 for a in answers)
    # given on both sides, the value after the subcommand is the one used
    assert json.loads(run(["--root", str(tmp_path / "x"), "catalog", "stats", "--root", path, "--json"],
                          capsys))["records"] == 3
    assert "records" in run(["--quiet", "--root", path, "catalog", "stats"], capsys)


def test_global_options_are_defined_once() -> None:
    sources = {p.name: p.read_text() for p in (Path(__file__).resolve().parents[1] / "haybale" / "cli").rglob("*.py")}
    for option in GLOBAL_OPTIONS:
        flag = "--" + option.replace("_", "-")
        places = [name for name, text in sources.items() for _ in re.findall(rf'add_argument\(\s*"{flag}"', text)]
        assert places == ["options.py"], f"{flag} is defined in {places}"


def test_a_local_path_means_its_file_key(root: tuple[str, Path], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path, src = root
    assert run(["--root", path, "catalog", "cat", str(src / "a.txt")], capsys) == "the content of a.txt\n"
    got = json.loads(run(["--root", path, "catalog", "get", str(src / "sub" / "c.txt")], capsys))
    assert got["key"] == f"file://{src}/sub/c.txt" and got["length"] > 0
    assert run(["--root", path, "catalog", "ls", f"{src}/sub/"], capsys).split() == [f"file://{src}/sub/c.txt"]
    monkeypatch.chdir(src)  # relative paths too
    assert run(["--root", path, "catalog", "cat", "b.txt"], capsys) == "the content of b.txt\n"
    assert run(["--root", path, "catalog", "ls", "./sub/"], capsys).split() == [f"file://{src}/sub/c.txt"]
    assert len(run(["--root", path, "catalog", "ls", "."], capsys).split()) == 3
    # URLs and other keys are taken as they are
    assert run(["--root", path, "catalog", "ls", "https://"], capsys) == ""


def test_a_local_directory_lists_what_is_under_it_not_its_namesakes(root: tuple[str, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``ls /data/in`` named a plain string prefix: it also listed ``/data/in2/…`` and ``/data/in.bak``."""
    path, src = root
    sibling = tmp_path / "in2"
    sibling.mkdir()
    (sibling / "d.txt").write_text("d")
    assert main(["--root", path, "--quiet", "ingest", "files", str(sibling), "--no-ray"]) == 0
    capsys.readouterr()
    assert len(run(["--root", path, "catalog", "ls", str(src)], capsys).split()) == 3
    assert run(["--root", path, "catalog", "ls", str(sibling)], capsys).split() == [f"file://{sibling}/d.txt"]
    # a key prefix typed as a URI is the string prefix it always was
    assert len(run(["--root", path, "catalog", "ls", f"file://{src}"], capsys).split()) == 4


def test_human_output_is_prose_with_rounded_figures(root: tuple[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = root
    stats = run(["--root", path, "catalog", "stats"], capsys)
    assert "{" not in stats and re.search(r"records\s+3\n", stats)
    assert re.search(r"volumes\s+1 \([0-9.]+ [KM]?B\)", stats), stats
    summary = {"run_id": "r1", "files": 1234, "bytes": 132_400_000, "volumes": 2, "seconds": 6.59405644599974,
               "added": 1200, "updated": 0, "unchanged": 34,
               "rejected": [{"url": "/x/y", "reason": "unreadable: PermissionError(13)"}]}
    text = describe_files_summary(summary)
    assert "6.6 s" in text and "132 MB" in text and "1,234 files" in text and "6.594" not in text
    assert "{" not in text and "/x/y: unreadable" in text


def test_a_long_list_says_how_many_more_and_where_all_of_them_are() -> None:
    from haybale.cli.crawl_command import format_summary
    rejected = [{"url": f"/x/{i}", "reason": "unreadable: FileNotFoundError(2)"} for i in range(25)]
    summary = {"run_id": "r1", "files": 10, "bytes": 100, "volumes": 1, "seconds": 1.0, "added": 10,
               "updated": 0, "unchanged": 0, "rejected": rejected, "run_state": "/root/runs/r1"}
    text = describe_files_summary(summary)
    assert text.count("rejected: /x/") == 20
    assert '... and 5 more (all of them: "rejects" in /root/runs/r1/done/*.json)' in text
    # a crawl lists at most 1,000 rejects in its summary: the count of the rest is of all of them
    crawl = {"run_id": "c1", "results": 5, "seconds": 1.0, "pages": 5, "records": 5, "body_bytes": 10,
             "volumes": 1, "added": 5, "updated": 0, "unchanged": 0, "outcomes": {"ok": 5}, "seeds": 5,
             "seeds_invalid": 0, "seeds_duplicate": 0, "skipped_known": 0, "splits": 1, "splits_skipped_done": 0,
             "rejects_total": 1500, "rejected": [{"url": f"http://h/{i}", "outcome": "http_error"}
                                                  for i in range(1000)], "run_state": "/root/runs/c1"}
    assert "... and 1,480 more (all of them: " in format_summary(crawl)
    # a WARC run keeps the first 1,000 quarantine entries and warnings in its summary, every one elsewhere
    from haybale.cli.warc_command import describe_warc_summary
    entries = [{"file": "a.warc", "offset": i, "reason": "bad"} for i in range(1000)]
    warc = {"run_id": "w1", "records": 9, "files": 1, "bytes": 9, "seconds": 1.0, "indexed": 0, "repacked": 0,
            "volumes": 0, "skipped": {}, "quarantined": 3000, "quarantine": entries, "added": 0, "updated": 0,
            "unchanged": 0, "captures_replaced": 0, "unkeyed_copied": 0, "quarantine_file": "/root/runs/w1/q.jsonl",
            "warned": 1001, "warnings": entries, "run_state": "/root/runs/w1"}
    text = describe_warc_summary(warc)
    assert "... and 2,980 more (all of them: /root/runs/w1/q.jsonl)" in text
    assert '... and 981 more (all of them: "warnings" in /root/runs/w1/done/*.json)' in text
