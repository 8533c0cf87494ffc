"""Shared fixtures.

One local Ray for the whole session (``ray.init`` costs seconds); tests that need Ray take the
``ray_session`` fixture. Nothing here ever runs ``ray stop`` or kills processes by name.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data() -> Path:
    """Path of ``../shared/data`` (real test files nobody here wrote); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    return shared_data()


@pytest.fixture(scope="session", autouse=True)
def local_heads_stop_at_the_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Job commands run by tests start a persistent local Ray head for their root (ingest.local_head).
    They stop themselves after a short idle time here, and every one still running under this
    session's temp dir is stopped (by its supervisor's pid) when the session ends."""
    os.environ.setdefault("HAYBALE_CLUSTER_IDLE_SECONDS", "20")
    yield
    from ingest.local_head import STATE_NAME, stop_head

    for state in tmp_path_factory.getbasetemp().rglob(f"cluster/{STATE_NAME}"):
        stop_head(state.parent.parent)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A local Ray with 2 CPUs, started once per test session and shut down at its end."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
