"""Two writers register captures of the same URL at once through the owner actors: the latest WARC-Date
wins whatever the order of arrival (issue 8's rule, issue 10's many writers).

The race is forced, not hoped for: writer A decides against what the catalog holds, then writer B
registers its capture, then A writes. A decision made against a location that changed meanwhile must
not be written blindly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import catalog.captures as captures
from catalog.store import Store
from catalog.volume import SealedVolume
from tests.ingest.test_warc_bulk_registration import _seal as seal_captures

URLS = [f"https://race.example/page/{n}" for n in range(6)]
OLD, NEW = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


def _assert_the_latest_won(store: Store, later: SealedVolume) -> None:
    """Every URL points into ``later`` (the NEW captures' volume) and reads back NEW; no record doubled."""
    for url, loc in zip(URLS, store.get_many(URLS)):
        assert loc is not None and store.volume_url(loc.volume) == later.url, f"{url}: the earlier capture won"
        assert store.read(url)[0].header("WARC-Date") == NEW
    assert store.stats()["records"] == len(URLS)


def _seal(store: Store, date: str, tag: str) -> SealedVolume:
    """One volume with a capture of every URL, dated ``date``."""
    return seal_captures(store, URLS, date, tag, tag)


@pytest.mark.ray
@pytest.mark.parametrize("first_date", [OLD, NEW])
def test_the_latest_warc_date_wins_a_race_whatever_the_order(tmp_path: Path, ray_session: None,
                                                             monkeypatch: pytest.MonkeyPatch, first_date: str) -> None:
    from catalog.catalog_meta import load_meta
    from catalog.owner_actor import stop_owners

    second_date = NEW if first_date == OLD else OLD
    root = str(tmp_path / "root")
    a, b = Store(root, cluster=True), Store(root, cluster=True)
    try:
        sealed_a, sealed_b = _seal(a, first_date, "a"), _seal(b, second_date, "b")
        real = captures._decide
        raced: list[bool] = []

        def a_decides_then_b_registers(store: Any, found: list[captures.Capture]) -> Any:
            decided = real(store, found)
            if store is a and not raced:
                raced.append(True)
                b.register_sealed(sealed_b, dates=[second_date] * len(URLS))  # lands between A's read and write
            return decided
        monkeypatch.setattr(captures, "_decide", a_decides_then_b_registers)
        a.register_sealed(sealed_a, dates=[first_date] * len(URLS))
        monkeypatch.undo()
        assert raced
        _assert_the_latest_won(a, sealed_a if first_date == NEW else sealed_b)
    finally:
        meta = load_meta(root)
        a.close()
        b.close()
        if meta is not None:
            stop_owners(meta.catalog_id, meta.num_owners)


@pytest.mark.ray
@pytest.mark.parametrize("first_date", [OLD, NEW])
def test_a_warc_split_registered_from_a_worker_keeps_the_latest_date_in_a_race(
        tmp_path: Path, ray_session: None, monkeypatch: pytest.MonkeyPatch, first_date: str) -> None:
    """The WARC job's own per-split path (ingest.warc_registration, what its workers run): A's split
    looks its keys up, B registers its captures, then A writes — conditionally, so A's decision made
    against the old catalog is taken again against B's captures."""
    from catalog.catalog_meta import load_meta
    from catalog.owner_actor import stop_owners
    from ingest.warc_indexing import WarcSplitResult
    from ingest.warc_registration import register_warc_split

    second_date = NEW if first_date == OLD else OLD
    root = str(tmp_path / "root")
    a, b = Store(root, cluster=True), Store(root, cluster=True)
    try:
        sealed_a, sealed_b = _seal(a, first_date, "a"), _seal(b, second_date, "b")
        split = WarcSplitResult(split=0, sealed=[sealed_a], repack_sources=[(0, n) for n in range(len(URLS))],
                                repack_dates=[first_date] * len(URLS))
        real_get_many = a.catalog.get_many
        raced: list[bool] = []

        def a_looks_up_then_b_registers(keys: list[str]) -> Any:
            found = real_get_many(keys)
            if not raced:
                raced.append(True)
                b.register_sealed(sealed_b, dates=[second_date] * len(URLS))  # lands between A's read and write
            return found
        monkeypatch.setattr(a.catalog, "get_many", a_looks_up_then_b_registers)
        registration, fields = register_warc_split(a, split, "race")
        monkeypatch.undo()
        assert raced
        _assert_the_latest_won(a, sealed_a if first_date == NEW else sealed_b)
        assert fields["captures_replaced"] == len(URLS)  # each URL had two captures, one replaced
    finally:
        meta = load_meta(root)
        a.close()
        b.close()
        if meta is not None:
            stop_owners(meta.catalog_id, meta.num_owners)
