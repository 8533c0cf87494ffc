"""clean_html_dir: X.txt for every X.html / .htm / .xhtml (optionally .gz), bad files listed with their
reason, other files listed as not read."""
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
    assert [Path(e["url"]).name for e in summary["not_read"]] == ["notes.md"]


def test_every_html_name_is_cleaned_and_no_text_overwrites_another(tmp_path: Path) -> None:
    """.htm, .xhtml and upper-case names are HTML too (they were passed over without a word), and
    b.html beside b.html.gz wrote one b.txt over the other: they now keep their whole names."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    pages = {name: f"<html><body><p>Page {name} has a paragraph of its own words to keep.</p></body></html>"
             for name in ("b.html", "b.html.gz", "C.HTM", "sub/d.xhtml", "E.HTML.GZ")}
    for name, html in pages.items():
        data = html.encode()
        (src / name).write_bytes(gzip.compress(data) if name.lower().endswith(".gz") else data)
    summary = clean_html_dir(str(src), str(dst), progress=None)
    assert summary["written"] == summary["files"] == 5 and not summary["errors"] and not summary["not_read"]
    written = {str(p.relative_to(dst)): p.read_text() for p in dst.rglob("*.txt")}
    assert sorted(written) == ["C.txt", "E.txt", "b.html.gz.txt", "b.html.txt", "sub/d.txt"]
    assert "Page b.html.gz has" in written["b.html.gz.txt"] and "Page b.html has" in written["b.html.txt"]
    assert "Page E.HTML.GZ has" in written["E.txt"]


def test_a_file_it_did_not_write_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    """clean-html wrote over any file of an output's name (notes in DST, or page.txt beside
    page.html when DST is SRC) without a word. Now only what an earlier run wrote is replaced."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "page.html").write_text("<html><body><p>" + "A page of enough words to keep. " * 5 + "</p></body></html>")
    (src / "other.html").write_text("<html><body><p>" + "Another page of words to keep. " * 5 + "</p></body></html>")
    (dst / "page.txt").write_text("my notes")
    with pytest.raises(CleanDirError, match=r"would replace 1 files in .*dst that it did not write \(page.txt\)"):
        clean_html_dir(str(src), str(dst), progress=None)
    assert (dst / "page.txt").read_text() == "my notes" and not (dst / "other.txt").exists()
    assert clean_html_dir(str(src), str(dst), progress=None, overwrite=True)["written"] == 2
    assert (dst / "page.txt").read_text().startswith("A page of enough words")
    assert clean_html_dir(str(src), str(dst), progress=None)["written"] == 2  # its own files: refreshed
    (src / "page.txt").write_text("kept beside its page")
    with pytest.raises(CleanDirError, match="page.txt"):
        clean_html_dir(str(src), str(src), progress=None)
    assert (src / "page.txt").read_text() == "kept beside its page"


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


def test_the_clean_html_command_imports_only_what_cleaning_needs(tmp_path: Path, aeb_dir: Path) -> None:
    """Start-up is most of a small batch's time (bench.dedup_clean times it): building the command
    line and cleaning local files must not import the job's or the catalog's machinery."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    src = tmp_path / "src"
    src.mkdir()
    page = sorted((aeb_dir / "html").glob("*.html.gz"))[0]
    (src / page.name).write_bytes(page.read_bytes())
    easylist = aeb_dir.parent / "easylist.txt.gz"
    heavy = {"ray", "pyarrow", "pyarrow.dataset", "datasketch", "numba", "numpy", "fsspec", "rocksdict",
             "aiohttp", "catalog.store", "catalog.volume", "dedup.job", "ingest.runner"}
    for argv in (["dedup", "clean-html", "--help"],
                 ["dedup", "clean-html", str(src), str(tmp_path / "dst"), "--adblock-list", str(easylist), "--quiet"]):
        code = ("import sys\nfrom haybale.cli import main\nrc = main(sys.argv[1:])\n"
                "print('MODULES', ' '.join(sorted(sys.modules)))\nsys.exit(rc)")
        out = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        loaded = set(out.stdout.rsplit("MODULES", 1)[1].split())
        assert "argparse" in loaded  # the check sees imports
        assert not heavy & loaded, sorted(heavy & loaded)
    assert (tmp_path / "dst" / page.name.replace(".html.gz", ".txt")).read_text(encoding="utf-8")


def test_a_page_that_cleans_to_no_text_is_listed(tmp_path: Path, aeb_pages: dict[str, BenchmarkPage]) -> None:
    """A page of navigation or scripts only, or an empty file, was written as an empty X.txt and
    counted as written, with no word of it: now each is listed under ``empty`` with its reason."""
    from haybale.cli.dedup_commands import describe_clean_result

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "article.html").write_bytes(aeb_pages["4a44ab3e"].html)
    (src / "empty.html").write_bytes(b"")
    (src / "nav.html").write_text('<html><body><nav><a href="/a">Home</a> <a href="/b">About</a></nav></body></html>')
    (src / "script.html.gz").write_bytes(gzip.compress(b"<html><head><script>var x = 1;</script></head></html>"))
    summary = clean_html_dir(str(src), str(dst), progress=None)
    assert summary["written"] == summary["files"] == 4 and not summary["errors"]
    assert (dst / "article.txt").read_text() and (dst / "nav.txt").read_text() == ""
    empty = {Path(e["path"]).name: e["reason"] for e in summary["empty"]}
    assert sorted(empty) == ["empty.html", "nav.html", "script.html.gz"]
    assert empty["empty.html"] == "no visible text in the page"
    assert empty["nav.html"].startswith("no text left after cleaning (characters removed by filter: ")
    text = describe_clean_result(summary, str(dst))
    assert "3 pages cleaned to no text" in text and f"empty: {src / 'nav.html'}: no text left" in text


def test_a_rerun_removes_the_earlier_text_of_a_page_that_now_fails(tmp_path: Path,
                                                                  aeb_pages: dict[str, BenchmarkPage]) -> None:
    """Rerun into the same folder after a page was damaged (a cut .gz): the page was listed as an
    error, but its X.txt from the earlier run stayed and passed for its current text."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    a, b = aeb_pages["4a44ab3e"], aeb_pages["0d461229"]
    (src / "a.html.gz").write_bytes(gzip.compress(a.html))
    (src / "b.html").write_bytes(b.html)
    assert clean_html_dir(str(src), str(dst), progress=None)["written"] == 2
    (dst / "notes.txt").write_text("the user's own file")
    (src / "a.html.gz").write_bytes(gzip.compress(a.html)[:300])  # damaged since
    (src / "notes.html.gz").write_bytes(b"not gzip")  # fails too, and its notes.txt is not ours
    summary = clean_html_dir(str(src), str(dst), progress=None, overwrite=True)
    reasons = {Path(e["path"]).name: e["reason"] for e in summary["errors"]}
    assert sorted(reasons) == ["a.html.gz", "notes.html.gz"]
    assert not (dst / "a.txt").exists() and reasons["a.html.gz"].endswith("(the a.txt an earlier run wrote from it is removed)")
    assert (dst / "notes.txt").read_text() == "the user's own file" and "removed" not in reasons["notes.html.gz"]
    assert (dst / "b.txt").read_text() == clean_html(b.html).text
