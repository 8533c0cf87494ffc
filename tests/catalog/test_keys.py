"""Canonical keys, key ids and SURT listing keys."""
from __future__ import annotations

import pytest

from catalog.errors import InvalidKeyError
from catalog.keys import (
    MAX_KEY_BYTES,
    canonical_key,
    file_uri,
    key_id,
    listing_prefix,
    sort_key,
    surt,
    unquote_file_uri,
)


@pytest.mark.parametrize("raw, canonical", [
    ("HTTP://WWW.Example.COM:80/a/./b/../c d?x=1#frag", "http://www.example.com/a/c%20d?x=1"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com:443/%7euser/%2f", "https://example.com/~user/%2F"),
    ("http://a.com:8080/x", "http://a.com:8080/x"),
    ("https://例え.jp/パス", "https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9"),
    ("file:///data/with space.txt", "file:///data/with%20space.txt"),
    ("s3://bucket/key", "s3://bucket/key"),
])
def test_canonical_key_normalizes_and_is_idempotent(raw: str, canonical: str) -> None:
    assert canonical_key(raw) == canonical
    assert canonical_key(canonical) == canonical


def test_key_id_is_128_bits_and_stable() -> None:
    kid = key_id("https://example.com/")
    assert len(kid) == 16
    assert kid == key_id(canonical_key("HTTPS://EXAMPLE.COM"))
    assert kid != key_id("https://example.com/a")


@pytest.mark.parametrize("bad", ["", "x" * (MAX_KEY_BYTES + 1), "a\x00b", "http:///nohost"])
def test_bad_keys_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidKeyError) as err:
        canonical_key(bad)
    assert str(err.value)  # names the key and what to do
    assert any(word in str(err.value) for word in ("empty", "limit", "NUL", "host"))


def test_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="not str"):
        canonical_key(b"bytes")  # type: ignore[arg-type]


def test_surt_matches_cdx_convention() -> None:
    assert surt("https://www.example.com/Path?b=2&a=1") == "com,example)/path?a=1&b=2"
    assert surt("http://sub.example.co.uk:8080/") == "uk,co,example,sub:8080)/"
    assert sort_key("https://example.com/") == "ucom,example)/"
    assert sort_key("file:///x") == "kfile:///x"


def test_listing_prefix_forms() -> None:
    assert listing_prefix("https://example.com") == "ucom,example)"
    assert listing_prefix("https://example.com/a/") == "ucom,example)/a/"
    assert listing_prefix("com,example)/a") == "ucom,example)/a"
    assert listing_prefix("file:///data/") == "kfile:///data/"
    assert listing_prefix("") == ""
    assert listing_prefix("https://") == "u"


def test_a_file_uri_prefix_is_escaped_as_its_keys_are(tmp_path) -> None:
    """``catalog ls 'file:///data/a b'`` lists ``file:///data/a%20b.txt``, as ``catalog cat`` of the whole
    URI finds it (the prefix was used unescaped and listed nothing)."""
    key = canonical_key(f"file://{tmp_path}/sub dir/a b.txt")
    assert key.endswith("/sub%20dir/a%20b.txt")
    for prefix in (f"file://{tmp_path}/sub dir", f"file://{tmp_path}/sub dir/a b", f"file://{tmp_path}/sub%20dir/"):
        assert sort_key(key).startswith(listing_prefix(prefix)), prefix


def test_file_uri_is_absolute_and_escaped(tmp_path) -> None:
    uri = file_uri(str(tmp_path / "a b.txt"))
    assert uri.startswith("file:///") and uri.endswith("/a%20b.txt")
    assert canonical_key(uri) == uri


def test_file_names_with_percent_or_bytes_that_are_not_utf8_get_keys_of_their_own(tmp_path) -> None:
    """A "%" in a file name is a byte of the name (``a%20b.txt`` is not ``a b.txt``: one key for both
    would register one file over the other), and a name that is not UTF-8 (surrogate escapes in
    Python) is escaped byte by byte instead of failing; every key gives its path back."""
    names = ["a b.txt", "a%20b.txt", "100%.txt", "bad\udcffname.txt", "q?x#y.txt", "caf\u00e9.txt"]
    uris = [file_uri(str(tmp_path / name)) for name in names]
    assert len(set(uris)) == len(names)
    assert uris[1].endswith("/a%2520b.txt") and uris[2].endswith("/100%25.txt")
    assert uris[3].endswith("/bad%FFname.txt") and uris[5].endswith("/caf%C3%A9.txt")
    for name, uri in zip(names, uris):
        assert canonical_key(uri) == uri and uri.isascii()
        assert unquote_file_uri(uri) == str(tmp_path / name)
