"""Progress lines of long jobs (catalog.progress): counts, rates and ETA, once per interval, and a final
line that is not a copy of the last one in a log."""
from __future__ import annotations

import io

from catalog.progress import Progress, human_bytes


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_interval_and_no_repeated_final_line() -> None:
    out = io.StringIO()
    progress = Progress("ingest files [r1]", total=4, stream=out, interval=3600)
    progress.update(1, 1000)  # the first update always shows
    progress.update(1, 1000)  # within the interval: counted, not shown
    progress.done()  # the counts moved since the last line: a final line
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ingest files [r1]: 1/4 files |") and "ETA" in lines[0]
    assert lines[1].startswith("ingest files [r1]: 2/4 files |") and "0 errors" in lines[1]

    out = io.StringIO()
    progress = Progress("ingest warc [r2]", total=1, stream=out, interval=3600)
    progress.update(1, 3800)
    progress.done()  # nothing moved since the line above: not written again
    assert out.getvalue().count("ingest warc [r2]: 1/1 files") == 1


def test_a_terminal_line_is_rewritten_in_place_and_ended() -> None:
    out = Terminal()
    progress = Progress("dedup", stream=out, interval=0, unit="docs")
    progress.update(5, errors=1)
    progress.done()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "dedup: 5 docs" in text and "1 errors" in text


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    progress = Progress("quiet", stream=out, enabled=False)
    progress.update(3)
    assert progress.done() >= 0 and out.getvalue() == ""


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (950, 1400, 132e6, 5e15)] == ["950 B", "1.4 KB", "132 MB", "5000 TB"]
