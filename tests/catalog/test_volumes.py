"""Volumes: WARC compatibility, ranged reads, sealing, corruption handling, in-memory storage."""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest

from catalog.errors import CorruptRecordError
from catalog.location import Location
from catalog.store import Store
from catalog.volume import VolumeReader, VolumeWriter
from catalog.warc_records import gzip_member, resource_record, response_record
from ingest.files_job import FilesJobConfig, FilesJobSummary, run_files_job


def ingest_files(store: Store, directory: str, volume_bytes: int = 1 << 30) -> FilesJobSummary:
    """The files job, in this process (no Ray)."""
    return run_files_job(store, [directory], FilesJobConfig(volume_bytes=volume_bytes), show_progress=False,
                         local=True)


def test_warcio_and_fastwarc_read_our_volumes_unchanged(store: Store, small_files: dict[str, bytes], tmp_path: Path) -> None:
    from fastwarc.warc import ArchiveIterator as FastIterator
    from warcio.archiveiterator import ArchiveIterator

    src = tmp_path / "src"
    summary = ingest_files(store, str(src), volume_bytes=200_000)
    volumes = [v["url"] for v in store.catalog.volumes if not v.get("dropped")]
    assert summary.added == len(small_files) and summary.volumes == len(volumes) > 1
    seen: dict[str, bytes] = {}
    for url in volumes:
        with open(url, "rb") as fh:
            for rec in ArchiveIterator(fh):
                assert rec.rec_type == "resource"
                seen[rec.rec_headers.get_header("WARC-Target-URI")] = rec.content_stream().read()
        with open(url, "rb") as fh:
            n_fast = sum(1 for _ in FastIterator(fh, parse_http=False))
        assert n_fast > 0
    by_uri = {f"file://{p}": data for p, data in small_files.items()}
    assert seen == by_uri


def test_one_ranged_read_returns_exactly_one_record(store: Store, small_files: dict[str, bytes], tmp_path: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    ingest_files(store, str(tmp_path / "src"))
    path, data = sorted(small_files.items())[17]
    loc = store.catalog.get(f"file://{path}")
    url = store.volume_url(loc.volume)
    raw = store.reader.read_bytes(url, loc.offset, loc.length)
    records = list(ArchiveIterator(io.BytesIO(raw)))  # a member is a complete WARC file on its own
    assert len(records) == 1
    assert gzip.decompress(raw).count(b"WARC/1.0\r\n") == 1
    assert store.cat(f"file://{path}") == data


def test_volume_is_invisible_until_sealed_and_names_never_come_from_keys(tmp_path: Path) -> None:
    vol_dir = tmp_path / "vols"
    writer = VolumeWriter(str(vol_dir), max_bytes=10**9)
    evil = "file:///../../../../etc/passwd"
    assert writer.append(evil, resource_record(evil, b"x")) == []
    listed = os.listdir(vol_dir)
    assert len(listed) == 1 and listed[0].endswith(".warc.gz.tmp")  # only a temporary name so far
    sealed = writer.close()
    assert len(sealed) == 1
    names = sorted(os.listdir(vol_dir))
    assert len(names) == 2 and names[0].endswith(".cdxj") and names[1].endswith(".warc.gz")
    assert names[0][: -len(".cdxj")] == names[1][: -len(".warc.gz")]
    assert all(n.startswith("vol-") and "passwd" not in n and ".." not in n for n in names)
    assert all(Path(vol_dir, n).resolve().parent == vol_dir.resolve() for n in names)


def test_rotation_at_the_configured_size(tmp_path: Path) -> None:
    writer = VolumeWriter(str(tmp_path / "v"), max_bytes=50_000, compresslevel=0)
    sealed = []
    for i in range(40):
        sealed += writer.append(f"k{i}", resource_record(f"k{i}", os.urandom(4000)))
    sealed += writer.close()
    assert len(sealed) >= 3
    assert sum(len(s.records) for s in sealed) == 40
    assert all(s.bytes >= 50_000 for s in sealed[:-1])


def test_memory_filesystem_volumes(tmp_path: Path) -> None:
    import fsspec

    fsspec.filesystem("memory").store.clear()
    with Store("memory://hb-test", catalog_dir=str(tmp_path / "cat")) as store:
        writer = store.writer(max_bytes=1000)
        sealed = []
        for i in range(10):
            sealed += writer.append(f"mem-{i}", resource_record(f"mem-{i}", f"payload {i}".encode() * 50))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s)
        assert all(s.url.startswith("memory://") for s in sealed)
        assert store.cat("mem-7") == b"payload 7" * 50
        assert store.catalog.stats()["records"] == 10


def test_cat_decodes_chunked_and_gzipped_http_bodies(store: Store) -> None:
    body = b"<html><body>hello haybale</body></html>"
    gz = gzip.compress(body)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(gz), gz)
    rec = response_record("https://example.com/page", "HTTP/1.1 200 OK",
                          [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"),
                           ("Content-Encoding", "gzip")], chunked, ip="192.0.2.1")
    writer = store.writer()
    writer.append("https://example.com/page", rec)
    for s in writer.close():
        store.register_sealed(s)
    assert store.cat("https://EXAMPLE.com/page") == body
    raw = store.cat("https://example.com/page", raw=True)
    assert raw.startswith(b"WARC/1.0\r\n") and b"WARC-Type: response" in raw and chunked in raw


def _corrupt(url: str, loc: Location, mode: str) -> None:
    with open(url, "r+b") as fh:
        if mode == "flip":
            fh.seek(loc.offset + loc.length // 2)
            byte = fh.read(1)
            fh.seek(loc.offset + loc.length // 2)
            fh.write(bytes([byte[0] ^ 0xFF]))
        else:  # truncate the volume in the middle of this (its last) record
            fh.truncate(loc.offset + loc.length // 2)


@pytest.mark.parametrize("mode", ["flip", "truncate"])
def test_corrupted_record_is_a_clear_error_and_others_still_read(store: Store, tmp_path: Path, mode: str) -> None:
    writer = store.writer()
    payloads = {f"doc-{i}": os.urandom(2000) for i in range(20)}
    for key, data in payloads.items():
        writer.append(key, resource_record(key, data))
    for s in writer.close():
        store.register_sealed(s)
    victim = "doc-19" if mode == "truncate" else "doc-7"
    loc = store.catalog.get(victim)
    url = store.volume_url(loc.volume)
    _corrupt(url, loc, mode)
    store.reader.close()
    with pytest.raises(CorruptRecordError) as err:
        store.cat(victim)
    assert url in str(err.value) and f"offset {loc.offset}" in str(err.value)
    for key, data in payloads.items():
        if key != victim:
            assert store.cat(key) == data

    from catalog.rebuild import rebuild

    with Store(store.root, catalog_dir=str(tmp_path / "rebuilt")) as target:
        report = rebuild(store.volumes_url, target, progress=lambda _: None)
        assert report.records == 19
        assert [s["offset"] for s in report.skipped] == [loc.offset]
        assert not target.catalog.exists(victim)
        assert target.cat("doc-3") == payloads["doc-3"]


def test_rebuilt_catalog_equals_the_original(store: Store, small_files: dict[str, bytes], tmp_path: Path) -> None:
    ingest_files(store, str(tmp_path / "src"), volume_bytes=100_000)
    extra = store.writer()
    extra.append("https://example.org/x", response_record("https://example.org/x", "HTTP/1.1 200 OK", [], b"hi"))
    for s in extra.close():
        store.register_sealed(s)

    def snapshot(s: Store) -> list[tuple]:
        return [(k, s.volume_url(loc.volume), loc.offset, loc.length, loc.digest) for k, loc in s.catalog.items()]

    from catalog.rebuild import rebuild

    with Store(store.root, catalog_dir=str(tmp_path / "rebuilt")) as target:
        report = rebuild(store.volumes_url, target, progress=lambda _: None)
        assert report.skipped == [] and report.records == len(small_files) + 1
        assert snapshot(target) == snapshot(store)
        assert target.catalog.stats()["records"] == store.catalog.stats()["records"]


def test_rebuild_scans_a_volume_whose_sidecar_is_lost(store: Store, tmp_path: Path) -> None:
    writer = store.writer()
    for i in range(5):
        writer.append(f"file:///f{i}", resource_record(f"file:///f{i}", b"data %d" % i))
    (sealed,) = writer.close()
    store.register_sealed(sealed)
    os.unlink(sealed.sidecar)
    from catalog.rebuild import rebuild

    with Store(store.root, catalog_dir=str(tmp_path / "rebuilt")) as target:
        report = rebuild(store.volumes_url, target, progress=lambda _: None)
        assert report.records == 5 and report.scanned_without_sidecar == [sealed.url]
        assert target.cat("file:///f3") == b"data 3"


def test_reader_refuses_a_misdirected_location(store: Store) -> None:
    writer = store.writer()
    writer.append("a", resource_record("a", b"AAAA"))
    writer.append("b", resource_record("b", b"BBBB"))
    for s in writer.close():
        store.register_sealed(s)
    a, b = store.catalog.get("a"), store.catalog.get("b")
    url = store.volume_url(a.volume)
    wrong = Location(b.volume, b.offset, b.length, a.digest)  # b's bytes, a's digest
    with pytest.raises(CorruptRecordError, match="checksum"):
        VolumeReader().read(url, wrong)


def test_gzip_member_is_standard_gzip() -> None:
    assert gzip.decompress(gzip_member(b"abc" * 100)) == b"abc" * 100


def test_a_server_that_ignores_range_requests_is_named_as_such(tmp_path: Path) -> None:
    """``python -m http.server`` answers a ranged read with the whole file; the reader called that
    volume "truncated" (it holds more than asked, not less)."""
    import functools
    import http.server
    import threading

    from catalog.errors import VolumeError

    (tmp_path / "v.warc").write_bytes(b"x" * 5000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(VolumeError, match="ignores HTTP range requests") as caught:
            VolumeReader().read_bytes(f"http://127.0.0.1:{server.server_port}/v.warc", 1000, 200)
        assert "truncated" not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
