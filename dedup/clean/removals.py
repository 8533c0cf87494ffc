"""Counting what the cleaning filters remove: characters per filter name (``CleanResult.removals``)."""
from __future__ import annotations


class RemovalLog:
    """Accumulates removed-character counts per filter name, keeping first-seen order."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, name: str, chars: int) -> None:
        if chars > 0:
            self._counts[name] = self._counts.get(name, 0) + chars

    def as_tuple(self) -> tuple[tuple[str, int], ...]:
        return tuple(self._counts.items())


def visible_chars(text: str) -> int:
    """Number of non-whitespace characters of ``text`` (the unit of ``CleanResult.removals``)."""
    return len(text) - sum(text.count(ws) for ws in (" ", "\n", "\t", "\r", "\xa0"))
