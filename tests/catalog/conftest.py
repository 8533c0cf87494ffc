"""Fixtures for catalog tests: a fresh deployment root per test and a directory of real-ish files."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import pytest

from catalog.store import Store


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "root")


@pytest.fixture
def store(root: str) -> Iterator[Store]:
    with Store(root) as s:
        yield s


def make_files(directory: Path, count: int, seed: int = 0) -> dict[str, bytes]:
    """``count`` text files of 100 B-8 KB in two subdirectories; returns name → bytes."""
    rng = random.Random(seed)
    words = ["hay", "bale", "needle", "volume", "catalog", "shard", "warc", "record", "crawl", "data"]
    files = {}
    for i in range(count):
        sub = directory / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 1500))) + f"\n#{i}\n"
        path = sub / f"file-{i:05d}.txt"
        path.write_text(text)
        files[str(path)] = text.encode()
    return files


@pytest.fixture
def small_files(tmp_path: Path) -> dict[str, bytes]:
    return make_files(tmp_path / "src", 300)
