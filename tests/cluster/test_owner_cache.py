"""The owners' block cache is a setting (catalog/owner_cache.py, issue 10): a serving owner sized for flat
single-get latency needs its location index in cache (deploy/SCALING.md), so ``HAYBALE_OWNER_CACHE_MB``
reaches owners started by a command, shows in the catalog's stats, and a bad value is named, not fatal;
owners given a big cache (or asked to) start with malloc in huge pages."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.catalog_meta import load_meta
from catalog.location import Location
from catalog.owner_cache import CACHE_ENV, DEFAULT_CACHE_MB, HUGE_PAGES_ENV, owner_cache_bytes, owner_process_env
from catalog.owner_warm import WARM_ENV


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


def test_owner_process_env() -> None:
    """Huge pages for owners given a big cache (auto) or when asked; never when turned off."""
    huge = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert owner_process_env({}) == {}  # the default 256 MiB cache: no runtime env, no cost at start
    assert owner_process_env({CACHE_ENV: "1023"}) == {}
    assert owner_process_env({CACHE_ENV: "1024"}) == huge
    assert owner_process_env({HUGE_PAGES_ENV: "1"}) == huge
    assert owner_process_env({HUGE_PAGES_ENV: "0", CACHE_ENV: "8192"}) == {}
    assert owner_process_env({CACHE_ENV: "6144", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}) == {
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
    assert owner_process_env({HUGE_PAGES_ENV: "1", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == {
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}


def test_owners_on_ray_take_the_cache_setting(tmp_path: Path, ray_session: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Owners started by this process open their stores with the cache the setting names, and the
    catalog's stats report it per owner with what it holds."""
    from catalog.owner_actor import stop_owners
    from catalog.store import Store

    monkeypatch.setenv(CACHE_ENV, "48")
    monkeypatch.setenv(HUGE_PAGES_ENV, "1")
    monkeypatch.setenv(WARM_ENV, "1")  # owners warm their (empty) cache at start: the setting reaches them
    root = str(tmp_path / "r")
    store = Store(root, cluster=True, num_shards=2)
    try:
        keys = [f"https://h{i % 13}.example/c/{i}" for i in range(2000)]
        store.catalog.register_many([(k, Location(1, i, 10, i)) for i, k in enumerate(keys)])
        assert store.catalog.get(keys[7]) == Location(1, 7, 10, 7)
        per_owner = store.catalog.stats()["per_shard"]
        assert len(per_owner) == 2
        assert all(s["block_cache_bytes"] == 48 << 20 for s in per_owner), per_owner
        memory = store.catalog.owner_memory()
        assert [m["owner"] for m in memory] == [0, 1]
        assert all(m["cache_bytes"] == 48 << 20 and 0 < m["cache_used_bytes"] <= 48 << 20 for m in memory), memory
        assert all(m["cache_warm"]["state"] == "done" for m in memory), memory
        # each owner is a process of its own that started with malloc in huge pages, and uses them
        pids = {m["process"]["pid"] for m in memory}
        assert len(pids) == 2 and os.getpid() not in pids
        for s in memory:
            environ = Path(f"/proc/{s['process']['pid']}/environ").read_bytes().split(b"\0")
            assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ
            if Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().find("[never]") < 0:
                assert s["process"]["anon_huge_page_bytes"] > 0, s["process"]
    finally:
        meta = load_meta(root)
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
