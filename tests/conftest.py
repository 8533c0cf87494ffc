"""Shared fixtures.

One local Ray for the whole session (``ray.init`` costs seconds); tests that need Ray take the
``ray_session`` fixture. Nothing here ever runs ``ray stop`` or kills processes by name.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests import failing_storage, s3_server

# A home of the session's own, as on a machine where nothing ran before (set before Ray or any process
# starts): a Ray token the developer's home held once hid that a fresh machine could not start the
# local head. HAYBALE_TEST_REAL_HOME=1 keeps the real one.
if not os.environ.get("HAYBALE_TEST_REAL_HOME"):
    _SESSION_HOME = tempfile.mkdtemp(prefix="hb-test-home-")
    os.environ["HOME"] = _SESSION_HOME
    atexit.register(shutil.rmtree, _SESSION_HOME, True)

# before any Ray or worker process starts, so they all inherit the test S3 endpoint (tests/s3_server.py)
s3_server.configure_environment()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# Tests that start several Ray nodes on fixed loopback addresses and worker-port ranges
# (tests/multinode.py) run in one pytest worker, one after another (`make test` runs two workers,
# `--dist loadgroup`).
_LOOPBACK_CLUSTER_FILES = ("test_multinode_owners.py", "test_multinode.py", "test_s3_root.py",
                           "test_multinode_submit.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in _LOOPBACK_CLUSTER_FILES:
            item.add_marker(pytest.mark.xdist_group("loopback-cluster"))


def shared_data() -> Path:
    """Path of ``../shared/data`` (real test files nobody here wrote); skips if absent: the test, or,
    called while a module is collected (parametrized over the files), the whole module."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}", allow_module_level=True)
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    return shared_data()


@pytest.fixture(autouse=True)
def ray_auth_mode_kept() -> Iterator[None]:
    """A command run in-process (``haybale.cli.main``) sets ``RAY_AUTH_MODE`` for the Ray it connects
    to (ingest.ray_token). It is put back after each test: a later test's ``ray.init`` otherwise
    started Ray's processes under "token" while this process's Ray, imported before, read "disabled"
    (seen when tests/catalog/test_checkpoint_local_root.py ran before the session's Ray started)."""
    before = os.environ.get("RAY_AUTH_MODE")
    yield
    if before is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = before


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[s3_server.S3Server]:
    """moto's standalone S3 server on 127.0.0.1 (a subprocess, stopped by pid at the session's end);
    AWS_ENDPOINT_URL and test credentials already point every process of the session at it."""
    server = s3_server.start_server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: s3_server.S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the test S3 server, for one test; returns its name."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    s3_endpoint.make_bucket(name)
    return name


@pytest.fixture
def flaky() -> Iterator[type[failing_storage.FlakyFileSystem]]:
    """The in-memory fsspec filesystem whose reads fail on a byte range (tests/failing_storage.py),
    registered, empty and healthy; emptied again after the test."""
    failing_storage.reset()
    yield failing_storage.FlakyFileSystem
    failing_storage.reset()
