"""Fixtures of the ingest tests: the misbehaving HTTP server, started once and stopped at the end."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.ingest.http_fixtures import MisbehavingServer


@pytest.fixture(scope="session")
def http_server() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer()
    server.start()
    yield server
    server.stop()
