"""One suite, three catalogs: the embedded store, the HTTP client of the catalog service and the
in-memory double answer the reader interface (catalog/reader.py) the same way, so code that reads
through it — the ``haybale catalog`` commands — need not know which one it has."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from catalog.client import CatalogClient
from catalog.errors import CatalogError, InvalidKeyError, KeyNotFoundError
from catalog.memory import MemoryCatalog
from catalog.reader import CatalogReader
from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from catalog.store import Store
from tests.catalog.service_helpers import HTML, build_root

MARKED = ("https://example.com/section/1/page-1.html", ("duplicate", "of page-5"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same catalog three ways, and what the embedded API says about it."""
    root = str(tmp_path_factory.mktemp("contract") / "root")
    expected = build_root(root)
    memory = MemoryCatalog("memory-double")
    with Store(root, read_only=True) as store:
        for key in expected["keys"]:
            described = store.describe(key)
            memory.put(key, expected["locations"][key], store.cat(key), raw=store.cat(key, raw=True),
                       volume_url=described["volume_url"])
            mark = store.mark_of(key)
            if mark:
                memory.mark(key, *mark)
    with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0, max_batch=7)) as service:
        yield {"root": root, "url": service.url, "memory": memory, **expected}


@pytest.fixture(params=["embedded", "service", "memory"])
def reader(request: pytest.FixtureRequest, world: dict[str, Any]) -> Iterator[CatalogReader]:
    if request.param == "embedded":
        opened: Any = Store(world["root"], read_only=True, create=False)
    elif request.param == "service":
        opened = CatalogClient(world["url"])
    else:
        opened = world["memory"]
    with opened as catalog:
        yield catalog


def test_is_a_reader(reader: CatalogReader) -> None:
    assert isinstance(reader, CatalogReader)


def test_get_and_get_many(reader: CatalogReader, world: dict[str, Any]) -> None:
    locations = world["locations"]
    for key, loc in locations.items():
        assert reader.get(key) == loc
    assert reader.get("HTTPS://Example.COM:443/gz") == locations["https://example.com/gz"]  # any spelling
    keys = list(locations)[::3] + ["https://nowhere.example/"]
    assert reader.get_many(keys) == [locations.get(k) for k in keys]
    with pytest.raises(KeyNotFoundError, match="https://nowhere.example/"):
        reader.get("https://nowhere.example/")
    with pytest.raises(InvalidKeyError, match="empty key"):
        reader.get("")


def test_list_and_items(reader: CatalogReader, world: dict[str, Any]) -> None:
    keys = world["keys"]
    assert list(reader.list()) == keys
    hosts = [k for k in keys if k.startswith("https://example.com/")]
    assert list(reader.list("https://example.com/")) == hosts and len(hosts) == 13
    assert list(reader.list("com,example)/section/2")) == [k for k in hosts if "/section/2/" in k]
    assert list(reader.list("file:///data/dir1/", limit=4)) == [k for k in keys if "/dir1/" in k][:4]
    assert list(reader.items("file:///data/dir2/")) == [(k, world["locations"][k]) for k in keys if "/dir2/" in k]
    assert list(reader.list("https://nowhere.example/")) == []


def test_stats_cat_mark_describe(reader: CatalogReader, world: dict[str, Any]) -> None:
    stats = reader.stats()
    assert stats["records"] == len(world["keys"])
    assert {"volumes", "volume_bytes", "shards", "slots", "catalog_disk_bytes", "catalog"} <= set(stats)
    for key in world["keys"][::5]:
        assert reader.cat(key) == world["contents"][key]
        assert reader.cat(key, raw=True).startswith(b"WARC/1.0\r\n")
    assert reader.cat("https://example.com/gz") == HTML  # transfer and content encodings removed
    assert reader.mark_of(MARKED[0]) == MARKED[1] and reader.mark_of(world["keys"][1]) is None
    described = reader.describe("https://example.com/gz")
    loc = world["locations"]["https://example.com/gz"]
    assert described["canonical_key"] == "https://example.com/gz"
    assert (described["volume"], described["offset"], described["length"]) == (loc.volume, loc.offset, loc.length)
    assert described["digest"] == f"{loc.digest:016x}" and described["volume_url"].endswith(".warc.gz")
    with pytest.raises(KeyNotFoundError):
        reader.cat("https://nowhere.example/")


def test_the_decoded_size_cap_refuses_and_whole_streams(reader: CatalogReader) -> None:
    """A body over the cap is an error naming the key and the cap, never a truncated body; ``cat_whole``
    streams it whole (the HTTP client fetches the stored record and decodes it itself)."""
    key = "https://example.com/gz"
    with pytest.raises(CatalogError, match="https://example.com/gz.*decoded-size cap of 10 bytes"):
        reader.cat(key, max_decoded=10)
    assert reader.cat(key, max_decoded=len(HTML)) == HTML
    pieces: list[bytes] = []
    assert reader.cat_whole(key, pieces.append) == len(HTML) and b"".join(pieces) == HTML
    for plain in ("https://example.com/section/2/page-6.html", "file:///data/dir1/doc-004.txt"):
        pieces.clear()  # a page with no encodings, and a file (a resource record: its bytes as stored)
        assert reader.cat_whole(plain, pieces.append) == len(reader.cat(plain)) > 0
        assert b"".join(pieces) == reader.cat(plain)


def test_the_commands_need_no_branch_on_the_reader() -> None:
    """haybale's catalog commands read through open_reader: none of them looks at --url itself."""
    source = (Path(__file__).resolve().parents[2] / "haybale" / "cli" / "catalog_commands.py").read_text()
    assert "args.url" not in source and "CatalogClient" not in source
