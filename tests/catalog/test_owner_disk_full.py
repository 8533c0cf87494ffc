"""An owner whose catalog disk fills: the write fails naming the disk, and once space is freed the
owner writes again without a restart (RocksDB refuses every write after an I/O error until it is
opened again; owner actors live as long as the cluster). Nothing registered before the failure is lost.

A real full disk: a small tmpfs mounted for the test and grown after (needs the right to mount; the
test is skipped where that is refused). The owner's body runs in this process (the actor wraps it)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from catalog.catalog_meta import ensure_meta
from catalog.disk_full import disk_full
from catalog.errors import CatalogError
from catalog.keys import canonical_key
from catalog.location import Location
from catalog.owner_actor import OwnerServer


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _batch(b: int) -> list[tuple[str, bytes]]:
    return [(canonical_key(f"https://example.com/{b}/{i}-{'x' * 50}"), Location(1, i * 100, 50, i + 1).pack())
            for i in range(2000)]


def test_an_owner_writes_again_once_its_disk_has_room(small_disk: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    meta = ensure_meta(root, 1)
    owner = OwnerServer(root, str(small_disk / "node"), 0)
    try:
        registered, failure = 0, None
        for b in range(200):
            try:
                owner.call("register", _batch(b), meta.epoch)
            except Exception as exc:  # noqa: BLE001 - RocksDB's own error, a plain Exception
                failure = exc
                break
            registered += 2000
        assert failure is not None and disk_full(failure), failure
        assert registered > 0
        # still full: the owner cannot open its directory again and says what to do
        with pytest.raises(CatalogError, match=r"owner 0: its catalog directory .* free space on that disk"):
            owner.call("stats")
        subprocess.run(["mount", "-o", "remount,size=60m", str(small_disk)], check=True)
        assert owner.call("register", _batch(1000), meta.epoch) == (2000, 0, 0)
        # every batch acknowledged before the failure is there (the failed one may be too: its
        # journal record is replayed when the owner opens again; its caller was told it failed)
        assert owner.call("stats")["records"] >= registered + 2000
        for b in range(registered // 2000):
            keys = [k for k, _ in _batch(b)]
            assert all(owner.store.catalog.get(k) is not None for k in keys[::97])
    finally:
        owner.store.close()
