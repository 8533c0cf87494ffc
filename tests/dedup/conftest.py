"""Fixtures for the dedup tests: real article texts from the shared data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def articles(shared_data_dir: Path) -> list[str]:
    """The 50 real article bodies of aeb-dev (news and blog text)."""
    truth = json.loads((shared_data_dir / "aeb-dev" / "ground-truth.json").read_text())
    return [truth[key]["articleBody"] for key in sorted(truth)]
