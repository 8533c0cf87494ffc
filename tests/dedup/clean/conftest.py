"""Fixtures for the cleaning-stage tests: real aeb-dev pages and the real EasyList (by path)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.aeb_metric import BenchmarkPage, load_benchmark
from dedup.clean import CleanConfig


@pytest.fixture(scope="session")
def aeb_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "aeb-dev"
    if not (path / "ground-truth.json").is_file():
        pytest.skip(f"aeb-dev benchmark not found at {path}")
    return path


@pytest.fixture(scope="session")
def easylist_path(shared_data_dir: Path) -> str:
    path = shared_data_dir / "easylist.txt.gz"
    if not path.is_file():
        pytest.skip(f"EasyList not found at {path}")
    return str(path)


@pytest.fixture(scope="session")
def aeb_pages(aeb_dir: Path) -> dict[str, BenchmarkPage]:
    """All aeb-dev pages keyed by the first 8 characters of their id."""
    return {p.page_id[:8]: p for p in load_benchmark(aeb_dir)}


@pytest.fixture(scope="session")
def adblock_config(easylist_path: str) -> CleanConfig:
    return CleanConfig(adblock_list=easylist_path)
