"""Listing-index entries: the short (scheme tag) form, the long form, and keys written in either."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.catalog import Catalog
from catalog.keys import canonical_key, key_id
from catalog.listing import full_listing_entry, key_of_listing_entry, listing_entry
from catalog.location import Location

KEYS = [
    "https://example.com/a/b.html",
    "http://example.com/a/b.html",
    "https://www.example.com/",
    "http://www.www.example.org/x?a=1&b=2",
    "https://example.com:8443/port",  # a port: SURT spells it differently, long form
    "https://example.com/q?b=2&a=1",  # unsorted query: SURT sorts it, long form
    "https://example.com/Upper/Case",  # SURT lowercases the path, long form
    "https://user@example.com/login",
    "https://xn--bcher-kva.example/caf%C3%A9",
    "https://www/",
    "file:///data/one.txt",
    "s3://bucket/key with spaces",
    "plain-key-42",
]


@pytest.mark.parametrize("raw", KEYS)
def test_entries_decode_to_their_key_in_both_forms(raw: str) -> None:
    key = canonical_key(raw)
    assert key_of_listing_entry(listing_entry(key)) == key
    assert key_of_listing_entry(full_listing_entry(key)) == key


def test_the_short_form_is_used_when_the_surt_spells_the_url() -> None:
    short = listing_entry(canonical_key("https://www.example.com/a/b.html"))
    assert short == b"ucom,example)/a/b.html\x00\x04"
    # SURT lowercases the path: the path form keeps the URL's own path, the host comes from the SURT
    assert listing_entry(canonical_key("https://example.com/Upper")) == b"ucom,example)/upper\x00\x06/Upper"
    assert listing_entry(canonical_key("http://www.example.com/q?b=2&a=1")) == b"ucom,example)/q?a=1&b=2\x00\x07/q?b=2&a=1"
    # a port is spelled differently by SURT: the whole URL
    assert listing_entry(canonical_key("https://example.com:8443/p")).endswith(b"\x00https://example.com:8443/p")


def test_a_key_listed_in_the_path_form_reads_and_deletes(tmp_path: Path) -> None:
    keys = [canonical_key(k) for k in KEYS]
    with Catalog.open(tmp_path / "c", num_shards=2) as cat:
        cat.register_many((k, Location(1, i, 10, i)) for i, k in enumerate(keys))
        key = canonical_key("https://example.com/Upper/Case")
        shard = cat.shards[cat.shard_of(key_id(key))]
        assert shard.listing.get(listing_entry(key)) == b""  # written in the path form
        assert shard.listing.get(full_listing_entry(key)) is None
        assert list(cat.list("https://example.com/upper/")) == [key]
        assert cat.delete_many([key]) == 1
        assert sorted(cat.list()) == sorted(k for k in keys if k != key)


def test_a_key_listed_in_the_long_form_reads_and_deletes(tmp_path: Path) -> None:
    keys = [canonical_key(k) for k in KEYS]
    with Catalog.open(tmp_path / "c", num_shards=2) as cat:
        cat.register_many((k, Location(1, i, 10, i)) for i, k in enumerate(keys))
        # rewrite one key's entry into the long form, as a catalog from before the short form has it
        key = canonical_key("https://example.com/a/b.html")
        shard = cat.shards[cat.shard_of(key_id(key))]
        shard.listing.delete(listing_entry(key))
        shard.listing.put(full_listing_entry(key), b"")
        assert sorted(cat.list()) == sorted(keys)
        assert cat.delete_many([key]) == 1
        assert sorted(cat.list()) == sorted(k for k in keys if k != key)
        assert list(cat.list("https://example.com/a/")) == ["http://example.com/a/b.html"]
