"""The owners' block cache is a setting (catalog/owner_cache.py, issue 10): a serving owner sized for flat
single-get latency needs its location index in cache (deploy/SCALING.md), so ``HAYBALE_OWNER_CACHE_MB``
reaches owners started by a command, shows in the catalog's stats, and a bad value is named, not fatal."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.catalog_meta import load_meta
from catalog.location import Location
from catalog.owner_cache import CACHE_ENV, DEFAULT_CACHE_MB, owner_cache_bytes


def test_cache_setting_parsed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert owner_cache_bytes() == DEFAULT_CACHE_MB << 20
    monkeypatch.setenv(CACHE_ENV, "6144")
    assert owner_cache_bytes() == 6144 << 20
    assert capsys.readouterr().err == ""
    for bad in ("6GB", "1", "-5"):
        monkeypatch.setenv(CACHE_ENV, bad)
        assert owner_cache_bytes() == DEFAULT_CACHE_MB << 20
        err = capsys.readouterr().err
        assert CACHE_ENV in err and repr(bad) in err and "MiB" in err


def test_owners_on_ray_take_the_cache_setting(tmp_path: Path, ray_session: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Owners started by this process open their stores with the cache the setting names, and the
    catalog's stats report it per owner with what it holds."""
    from catalog.owner_actor import stop_owners
    from catalog.store import Store

    monkeypatch.setenv(CACHE_ENV, "48")
    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=2)
    try:
        keys = [f"https://h{i % 13}.example/c/{i}" for i in range(2000)]
        store.catalog.register_many([(k, Location(1, i, 10, i)) for i, k in enumerate(keys)])
        assert store.catalog.get(keys[7]) == Location(1, 7, 10, 7)
        per_owner = store.catalog.stats()["per_shard"]
        assert len(per_owner) == 2
        assert all(s["block_cache_bytes"] == 48 << 20 for s in per_owner), per_owner
        assert all(0 < s["block_cache_used_bytes"] <= 48 << 20 for s in per_owner), per_owner
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
