"""clean_html_dir: X.txt for every X.html / X.html.gz, bad files listed with their reason."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from bench.aeb_metric import BenchmarkPage
from dedup.clean import CleanConfig, CleanDirError, clean_html, clean_html_dir


def test_writes_txt_for_html_and_html_gz_and_lists_bad_files(
    tmp_path: Path, aeb_pages: dict[str, BenchmarkPage], adblock_config: CleanConfig
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "nested").mkdir(parents=True)
    a, b = aeb_pages["4a44ab3e"], aeb_pages["0d461229"]
    (src / "a.html").write_bytes(a.html)
    (src / "nested" / "b.html.gz").write_bytes(gzip.compress(b.html))
    (src / "broken.html.gz").write_bytes(gzip.compress(b.html)[:200])  # truncated gzip
    (src / "notes.md").write_text("not html")
    log = io.StringIO()

    summary = clean_html_dir(str(src), str(dst), adblock_config, progress=log)

    assert (dst / "a.txt").read_text(encoding="utf-8") == clean_html(a.html, None, adblock_config).text
    assert (dst / "nested" / "b.txt").read_text(encoding="utf-8") == clean_html(b.html, None, adblock_config).text
    assert not (dst / "broken.txt").exists() and not (dst / "notes.txt").exists()
    assert summary["files"] == 3 and summary["written"] == 2
    assert [e["path"].endswith("broken.html.gz") for e in summary["errors"]] == [True]
    assert summary["errors"][0]["reason"].startswith("EOFError")
    assert summary["chars_out"] > 1000 and summary["removals"]["outside_main_container"] > 0
    assert "2/3 files written" in log.getvalue()


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CleanDirError, match="not a directory"):
        clean_html_dir(str(tmp_path / "nope"), str(tmp_path / "out"), progress=None)


def test_whole_aeb_dir(tmp_path: Path, aeb_dir: Path) -> None:
    summary = clean_html_dir(str(aeb_dir / "html"), str(tmp_path), progress=None)
    assert summary["written"] == 50 and summary["errors"] == []
    assert len(list(tmp_path.glob("*.txt"))) == 50


def test_works_on_any_fsspec_filesystem(aeb_pages: dict[str, BenchmarkPage]) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    page = aeb_pages["0d461229"]
    fs.pipe("/clean-src/x/page.html.gz", gzip.compress(page.html))
    try:
        summary = clean_html_dir("memory://clean-src", "memory://clean-dst", progress=None)
        assert summary["written"] == 1
        assert fs.cat("/clean-dst/x/page.txt").decode("utf-8") == clean_html(page.html).text
    finally:
        fs.rm("/clean-src", recursive=True)
        fs.rm("/clean-dst", recursive=True)
