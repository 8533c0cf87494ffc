"""The growth benchmark's data and batching: distinct canonical URL keys, regenerable chunks, locations
that pack, batches that end at every measured size, and one small growth run through an owner store."""
from __future__ import annotations

import json
from pathlib import Path

from bench.catalog_growth import chunks_for, main
from bench.growth_keys import make_locations, make_urls
from catalog.keys import canonical_key
from catalog.listing import key_of_listing_entry, listing_entry
from catalog.location import LOCATION_SIZE, Location, split_fixed


def test_urls_are_distinct_canonical_and_regenerable() -> None:
    urls = make_urls(1000, 20_000, host_pool=5_000)
    assert len(set(urls)) == len(urls)
    assert all(canonical_key(u) == u for u in urls)  # registered as they are, no rewriting
    assert make_urls(1000, 20_000, host_pool=5_000) == urls  # a chunk is a function of its range
    assert make_urls(1010, 5, host_pool=5_000) != urls[10:15]  # ... and its start (its own random stream)
    assert 40 < sum(map(len, urls)) / len(urls) < 100
    assert len({u.split("/")[2] for u in urls}) > 500  # many hosts, not one
    for u in urls[:2000]:
        assert key_of_listing_entry(listing_entry(u)) == u


def test_locations_pack_into_1_gib_volumes() -> None:
    packed = make_locations(500_000, 10_000)
    assert packed.dtype.itemsize == LOCATION_SIZE and len(packed) == 10_000
    locs = [Location.unpack(v) for v in split_fixed(packed, LOCATION_SIZE)[::97]]
    assert all(0 <= loc.offset < 1 << 30 and 200 <= loc.length <= 1 << 20 for loc in locs)
    assert min(loc.volume for loc in locs) == 501  # this chunk's block of volume numbers
    assert len({loc.digest for loc in locs}) == len(locs)


def test_batches_end_at_every_measured_size() -> None:
    plan = chunks_for([100_000, 1_000_000, 2_100_000])
    ends = {start + count for start, count in plan}
    assert {100_000, 1_000_000, 2_100_000} <= ends
    assert sum(count for _, count in plan) == 2_100_000
    assert all(count <= 500_000 for _, count in plan)


def test_a_small_growth_run_measures_and_its_kept_directory_measures_again(tmp_path: Path) -> None:
    out = tmp_path / "growth.json"
    result = main(["--max-entries", "20000", "--workers", "1", "--gets", "1000",
                   "--workdir", str(tmp_path / "w"), "--keep", "--out", str(out)])
    (point,) = result["points"]
    assert point["catalog_count"] == 20_000
    assert 20 < point["bytes_per_entry"] < 200
    assert point["get_p99_us"] >= point["get_p50_us"] > 0
    assert point["cold_get_p99_us"] >= point["cold_get_p50_us"] > 0
    assert point["memory_bytes_per_entry"]["filter_bytes"] > 1.0  # 10 bits per key
    assert point["memory_bytes_per_entry"]["index_bytes"] > 0
    assert json.loads(out.read_text())["points"][0]["entries"] == 20_000
    assert out.with_suffix(".png").stat().st_size > 0
    again = main(["--remeasure", str(tmp_path / "w" / "owner-0000"), "--gets", "500", "--out", str(out)])
    (remeasured,) = again["remeasured"]
    assert remeasured["catalog_count"] == 20_000 and remeasured["sampled_from_listing"]
    assert remeasured["get_p99_us"] > 0
    assert len(again["points"]) == 1  # the run's own point is kept


def test_the_catalog_directory_is_removed_unless_kept(tmp_path: Path) -> None:
    main(["--max-entries", "2000", "--workers", "1", "--gets", "100", "--workdir", str(tmp_path / "w"),
          "--out", str(tmp_path / "g.json")])
    assert not (tmp_path / "w").exists()
