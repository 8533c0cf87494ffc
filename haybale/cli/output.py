"""How the ``haybale`` command prints: JSON when asked (``--json``), else prose and aligned tables with
rounded figures — never a Python repr, never ``6.59405644599974 s``."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, Iterable, Iterator, Sequence

from catalog.progress import human_bytes


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a job runs, stdout (``sys.stdout`` and file descriptor 1) goes to stderr.

    With ``--json`` stdout must hold the summary alone, one JSON document; whatever a library, a
    pool worker or a Ray process started by the driver writes to stdout meanwhile (they inherit
    descriptor 1) lands on stderr instead.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def count(n: int) -> str:
    """``1234567`` -> ``1,234,567``."""
    return f"{int(n):,}"


def size(n: float) -> str:
    """Bytes in decimal units: ``132 MB``, ``1.4 GB``."""
    return human_bytes(n)


def seconds(s: float | None) -> str:
    """A duration rounded for reading: ``0.42 s``, ``6.6 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if s is None:
        return "-"
    if s < 1:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def rate(n: float, s: float | None, unit: str) -> str:
    """``n`` per second over ``s`` seconds: ``12,408 files/s``."""
    if not s:
        return f"- {unit}/s"
    return f"{n / s:,.0f} {unit}/s"


def counts(mapping: dict[str, int]) -> str:
    """``{"duplicate": 3, "near": 12}`` -> ``near 12, duplicate 3`` (largest first), or ``none``."""
    if not mapping:
        return "none"
    return ", ".join(f"{name} {n:,}" for name, n in sorted(mapping.items(), key=lambda kv: (-kv[1], kv[0])))


def table(rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    """Rows of cells as text columns, left-aligned, two spaces apart."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        return ""
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells)))]
    lines = [indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def listed(items: Sequence[Any], limit: int, describe: Any, label: str, *, total: int | None = None,
           all_in: str = "") -> str:
    """Up to ``limit`` items, one per line (``describe(item)``), and how many more there are: ``total``
    (default ``len(items)``) less those shown, and where all of them are kept (``all_in``), if given."""
    lines = [f"  {label}: {describe(item)}" for item in items[:limit]]
    more = (len(items) if total is None else total) - len(lines)
    if more > 0:
        lines.append(f"  ... and {more:,} more" + (f" (all of them: {all_in})" if all_in else ""))
    return "\n".join(lines)


def not_read_lines(out: dict[str, Any]) -> list[str]:
    """The lines naming the entries under a job's inputs that it did not read (symbolic links inside
    input directories, FIFOs, files of no format the job reads), with their count and reasons; none
    when there are none."""
    entries = out.get("not_read") or []
    if not entries:
        return []
    noun = "entry" if len(entries) == 1 else "entries"
    return [f"  {count(len(entries))} {noun} under the inputs not read:",
            listed(entries, 20, lambda e: f"{e['url']}: {e['reason']}", "not read")]


def say(text: str) -> None:
    """A line of human output on stdout."""
    if text:
        print(text)


def warn(text: str) -> None:
    print(text, file=sys.stderr)
