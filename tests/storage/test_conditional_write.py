"""create_exclusive / replace_if_match on a local root and on S3 (moto's standalone server on loopback):
the first creator wins, a replacement succeeds only over the bytes it expects, races have one winner."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest

from catalog.conditional_write import create_exclusive, replace_if_match
from catalog.errors import RootError


@pytest.fixture(params=["local", "s3"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/root"


def _read(url: str) -> bytes:
    with fsspec.open(url, "rb") as fh:
        return fh.read()


def test_create_exclusive_first_creator_wins(base: str) -> None:
    url = f"{base}/catalog-meta.json"
    assert create_exclusive(url, b'{"epoch": 1}') is True
    assert create_exclusive(url, b'{"epoch": 99}') is False
    assert _read(url) == b'{"epoch": 1}'


def test_create_exclusive_race_has_one_winner(base: str) -> None:
    url = f"{base}/race.json"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: create_exclusive(url, f"writer {i}"), range(16)))
    assert results.count(True) == 1
    assert _read(url) == f"writer {results.index(True)}".encode()


def test_replace_if_match_needs_the_expected_bytes(base: str) -> None:
    url = f"{base}/meta.json"
    assert replace_if_match(url, b"v2", b"v1") is False  # missing: nothing written
    assert create_exclusive(url, b"v1")
    assert replace_if_match(url, b"v2", b"stale") is False
    assert _read(url) == b"v1"
    assert replace_if_match(url, "v2", "v1") is True
    assert _read(url) == b"v2"


def test_replace_race_has_one_winner(base: str) -> None:
    url = f"{base}/epoch.json"
    assert create_exclusive(url, b"epoch 1")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: replace_if_match(url, f"epoch 2 by {i}", b"epoch 1"), range(16)))
    assert results.count(True) == 1
    assert _read(url) == f"epoch 2 by {results.index(True)}".encode()


def test_missing_bucket_is_an_error_and_not_created(s3_endpoint: object) -> None:
    with pytest.raises(RootError, match="no-such-bucket-hb.*does not exist"):
        create_exclusive("s3://no-such-bucket-hb/root/meta.json", b"x")
    assert not fsspec.filesystem("s3").exists("no-such-bucket-hb")


def test_memory_urls_create_once_and_replace_only_a_match() -> None:
    url = "memory://conditional-test/meta.json"
    assert create_exclusive(url, b"v1") is True
    assert create_exclusive(url, b"other") is False
    assert replace_if_match(url, b"v2", b"stale") is False
    assert replace_if_match(url, b"v2", b"v1") is True
    assert fsspec.filesystem("memory").cat_file("/conditional-test/meta.json") == b"v2"


def test_other_stores_are_refused() -> None:
    with pytest.raises(RootError, match="local disk and S3 only"):
        create_exclusive("http://127.0.0.1:9/meta.json", b"x")
