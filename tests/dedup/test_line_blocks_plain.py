"""The uncompressed-file path of dedup.line_blocks hands out exactly what the generic path does.

The plain path reads each block straight into its own buffer (no chunk objects, no copies); where it
cuts blocks decides the record batches and so the bytes of the output shards, so it must cut where
the generic path (the one compressed files take) cuts, report the same problems, and lose nothing.
"""
from __future__ import annotations

import io
import random
from typing import Any

import pytest

from dedup import line_blocks
from dedup.line_blocks import Block, Problem, iter_line_blocks


class _ReadOnly:
    """A file with ``read`` only: iter_line_blocks takes its generic (chunk by chunk) path."""

    def __init__(self, data: bytes, fail_at: int | None = None) -> None:
        self.file = io.BytesIO(data)
        self.fail_at = fail_at

    def read(self, size: int) -> bytes:
        if self.fail_at is not None and self.file.tell() + size > self.fail_at:
            raise OSError("disk error")
        return self.file.read(size)


class _Failing(io.BytesIO):
    """A file that raises OSError where a read would pass ``fail_at``."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        super().__init__(data)
        self.fail_at = fail_at

    def readinto(self, buffer: Any) -> int:
        if self.tell() + len(buffer) > self.fail_at:
            raise OSError("disk error")
        return super().readinto(buffer)


def _items(raw: Any, block_bytes: int, max_line: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in iter_line_blocks(raw, "x.jsonl", block_bytes=block_bytes, max_line=max_line):
        if isinstance(item, Block):
            out.append(("block", bytes(item.data), item.first_line))
        else:
            assert isinstance(item, Problem)
            out.append(("problem", item.line, item.offset, item.reason, item.rest))
    return out


def _corpus(rng: random.Random, lines: int, max_line: int) -> bytes:
    parts = []
    for _ in range(lines):
        kind = rng.random()
        length = 0 if kind < 0.1 else rng.randint(max_line + 1, 4 * max_line) if kind < 0.2 else rng.randint(1, max_line)
        parts.append(bytes(rng.choice(b"abcdefgh ") for _ in range(length)))
    data = b"\n".join(parts)
    return data if rng.random() < 0.5 else data + b"\n"


@pytest.mark.parametrize("seed", range(40))
def test_plain_path_cuts_and_reports_as_the_generic_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(line_blocks, "READ_SIZE", rng.choice([1, 3, 7, 16, 64]))
    max_line = rng.choice([5, 20, 50])
    block_bytes = rng.choice([1, 10, 40, 200])
    data = _corpus(rng, rng.randint(0, 60), max_line)
    expected = _items(_ReadOnly(data), block_bytes, max_line)
    got = _items(io.BytesIO(data), block_bytes, max_line)
    assert got == expected
    # nothing lost: every non-empty line is in a block or reported over the cap
    lines_in_blocks = [x for item in got if item[0] == "block" for x in item[1].split(b"\n") if x]
    over_cap = [item for item in got if item[0] == "problem"]
    assert len(lines_in_blocks) + len(over_cap) == len([x for x in data.split(b"\n") if x])


@pytest.mark.parametrize("seed", range(20))
def test_plain_path_reports_a_read_error_as_the_generic_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1000 + seed)
    size = rng.choice([4, 16])
    monkeypatch.setattr(line_blocks, "READ_SIZE", size)
    data = _corpus(rng, 40, 20)
    fail_at = rng.randint(0, max(1, len(data)))
    # an I/O error is raised, not reported as cut data (the lines after it were never seen), after
    # the same blocks on both paths
    expected = _items_until_raised(_ReadOnly(data, fail_at), 30, 20)
    got = _items_until_raised(_Failing(data, fail_at), 30, 20)
    assert got == expected and got[-1] == ("raised", "disk error")
    assert not any(item[0] == "problem" and item[4] for item in got)


def _items_until_raised(raw: Any, block_bytes: int, max_line: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    try:
        for item in iter_line_blocks(raw, "x.jsonl", block_bytes=block_bytes, max_line=max_line):
            out.append(("block", bytes(item.data), item.first_line) if isinstance(item, Block)
                       else ("problem", item.line, item.offset, item.reason, item.rest))
    except OSError as exc:
        out.append(("raised", str(exc)))
    return out


def test_plain_path_blocks_of_a_real_sized_file_equal_the_generic_path() -> None:
    rng = random.Random(7)
    data = b"".join(b'{"id": "%d", "text": "%s"}\n' % (i, b"w " * rng.randint(1, 3000)) for i in range(4000))
    expected = _items(_ReadOnly(data), 8 << 20, 64 << 20)
    got = _items(io.BytesIO(data), 8 << 20, 64 << 20)
    assert got == expected and len(got) > 1
