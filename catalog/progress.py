"""Progress display for long jobs: items/s, bytes/s, errors and ETA on stderr, at most every second.

Writes one updating line on a terminal and plain periodic lines otherwise (CI logs stay readable).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    """Bytes in decimal units (as the summaries' ``mb_per_s``): ``950 B``, ``1.4 KB``, ``132 MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(n)} B"
            return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    """Counts items, bytes and errors; ``update`` is cheap enough to call per batch."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "files",
                 stream: TextIO | None = None, interval: float = 1.0, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.items = 0
        self.bytes = 0
        self.errors = 0
        self.started = time.perf_counter()
        self._last = float("-inf")  # the first update is shown
        self._shown: tuple[int, int, int] | None = None  # the counts of the last line written
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, items: int = 0, nbytes: int = 0, errors: int = 0) -> None:
        self.items += items
        self.bytes += nbytes
        self.errors += errors
        now = time.perf_counter()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._emit(final=False)

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.items / elapsed
        parts = [f"{self.label}: {self.items:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}",
                 f"{rate:,.0f} {self.unit}/s", f"{human_bytes(self.bytes / elapsed)}/s",
                 f"{self.errors} errors"]
        if self.total and rate > 0 and self.items < self.total:
            parts.append(f"ETA {(self.total - self.items) / rate:,.0f} s")
        parts.append(f"{elapsed:,.1f} s")
        return " | ".join(parts)

    def _emit(self, final: bool) -> None:
        text = self.line()
        self._shown = (self.items, self.bytes, self.errors)
        if self._tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> float:
        """Print the final line (in a log, only if the counts moved since the last line: a job whose
        last update was just written ends without the same line twice); returns elapsed seconds."""
        if self.enabled and (self._tty or self._shown != (self.items, self.bytes, self.errors)):
            self._emit(final=True)
        return time.perf_counter() - self.started
