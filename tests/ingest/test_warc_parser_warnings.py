"""warcio's warnings land in the job's report, not on the terminal of ``ingest warc --quiet``.

warcio writes its warnings straight to stderr ("Replacing spaces in invalid WARC-Target-URI: ...", for
``example-space-in-url.arc``; "Record not followed by newline, perhaps Content-Length is invalid") or
logs them, so ``--quiet`` printed them all the same and no report kept them. They are now caught per
record (:mod:`catalog.warc_messages`) and listed as the job's warnings with file and offset.
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from catalog.warc_messages import caught
from catalog.warc_reader import SourceRecord, iter_records
from haybale.cli import main as haybale_main

SPACES = "Replacing spaces in invalid WARC-Target-URI"


def test_quiet_ingest_prints_nothing_and_reports_warcio_warnings(shared_data_dir: Path, tmp_path: Path,
                                                                   capfd: object, caplog: object) -> None:
    arc = shared_data_dir / "warc" / "example-space-in-url.arc"
    code = haybale_main(["--root", str(tmp_path / "root"), "ingest", "warc", str(arc), "--no-ray", "--quiet", "--json"])
    printed = capfd.readouterr()  # type: ignore[attr-defined]
    assert code == 0 and printed.err == ""
    # warcio's log messages reach no handler (outside pytest, Python's last-resort handler prints them)
    assert not [r for r in caplog.records if r.name.startswith("warcio")]  # type: ignore[attr-defined]
    out = json.loads(printed.out)
    assert out["repacked"] == 1 and out["warned"] == 1
    [warning] = out["warnings"]
    assert (warning["file"], warning["offset"]) == (str(arc), 151) and SPACES in warning["reason"]


def test_reader_notes_the_warning_on_its_record_and_leaves_other_output_alone(
        shared_data_dir: Path, capfd: object) -> None:
    items = [r for r in iter_records(str(shared_data_dir / "warc" / "example-space-in-url.arc"))
             if isinstance(r, SourceRecord)]
    assert [r.offset for r in items if r.notes and SPACES in r.notes[0]] == [151]
    # only the catching thread's output is caught, and only inside the block
    seen: list[str] = []
    with caught(seen):
        print("caught", file=sys.stderr)
        other = threading.Thread(target=lambda: print("from another thread", file=sys.stderr))
        other.start()
        other.join()
    print("after", file=sys.stderr)
    assert seen == ["caught", "\n"]
    err = capfd.readouterr().err  # type: ignore[attr-defined]
    assert "from another thread" in err and "after" in err and "caught" not in err
