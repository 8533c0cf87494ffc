"""The command line: argument handling and clean-html."""
from __future__ import annotations

from pathlib import Path

import pytest

from dedup.config import DedupConfig
from haybale.cli import build_parser
from haybale.cli import main as haybale_main


def test_register_adds_the_dedup_group() -> None:
    args = build_parser().parse_args(["dedup", "run", "--root", "/x", "--input", "a.jsonl", "--input", "b/", "--output", "o", "--keep", "longest"])
    assert args.input == ["a.jsonl", "b/"] and args.keep == "longest" and args.root == "/x"
    defaults = DedupConfig()
    assert args.threshold == defaults.threshold and args.num_perm == 128 and args.ngram == defaults.minhash.ngram
    assert (args.small_difference, args.small_difference_threshold) == (defaults.small_difference, defaults.small_difference_threshold)


def test_bad_settings_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "text": "x"}\n')
    code = haybale_main(["dedup", "run", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--bands", "4"])
    assert code == 2 and "--bands and --rows" in capsys.readouterr().err
    code = haybale_main(["dedup", "run", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")])
    assert code != 0 and "not found" in capsys.readouterr().err


def test_clean_html_command(shared_data_dir: Path, tmp_path: Path) -> None:
    clean = pytest.importorskip("dedup.clean")
    if not hasattr(clean, "clean_html_dir"):
        pytest.skip("dedup.clean.clean_html_dir not available yet")
    source = tmp_path / "src"
    source.mkdir()
    pages = sorted((shared_data_dir / "aeb-dev" / "html").glob("*.html.gz"))[:3]
    for page in pages:
        (source / page.name).write_bytes(page.read_bytes())
    assert haybale_main(["dedup", "clean-html", str(source), str(tmp_path / "dst")]) == 0
    outputs = sorted((tmp_path / "dst").glob("*.txt"))
    assert len(outputs) == 3 and all(len(p.read_text()) > 200 for p in outputs)


def test_json_stdout_holds_the_summary_alone(capfd: pytest.CaptureFixture[str]) -> None:
    """With --json, whatever is written to stdout while the job runs (Python prints, writes to
    descriptor 1, child processes that inherit it: pool workers, Ray daemons) goes to stderr."""
    import os
    import subprocess
    import sys

    from haybale.cli.output import stdout_to_stderr

    with stdout_to_stderr():
        print("python noise")
        os.write(1, b"descriptor noise\n")
        subprocess.run([sys.executable, "-c", "print('child noise')"], check=True)
    print('{"summary": 1}')
    out, err = capfd.readouterr()
    assert out == '{"summary": 1}\n'
    assert "python noise" in err and "descriptor noise" in err and "child noise" in err


def test_a_priority_field_no_document_holds_is_counted_and_said(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in --priority-field ranked every document 0 without a word: the run kept the earliest of
    each duplicate set, as --keep first does, and exited 0 as if the ranks had been used."""
    import json

    import pyarrow.parquet as pq

    src = tmp_path / "in.jsonl"
    text = "the same words in the same order, copied from one page to another page of the same site"
    rows = [{"id": "a", "text": text, "score": 1}, {"id": "b", "text": text, "score": 5},
            {"id": "c", "text": "a document of its own with different words", "score": "n/a"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for field, without, kept in (("score", 1, ["b", "c"]), ("scroe", 3, ["a", "c"])):
        out = tmp_path / field
        assert haybale_main(["dedup", "run", "--input", str(src), "--output", str(out), "--keep", "priority",
                             "--priority-field", field, "--quiet"]) == 0
        said = capsys.readouterr().out
        summary = json.loads((out / "summary.json").read_text())
        assert summary["priority"] == {"field": field, "documents_without": without}
        assert f"{without} of 3 documents have no number in the priority field '{field}'" in said
        assert sorted(pq.read_table(out / "data").column("id").to_pylist()) == kept
