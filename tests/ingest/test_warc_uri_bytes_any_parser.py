"""The same target URI gets the same key whichever parser read it, when its bytes are not UTF-8.

FastWARC's path keeps a Latin-1 byte percent-escaped (``caf%E9``); warcio — the parser of every ARC
file and the last resort for WARC — decodes such a header line as Latin-1, so the same URL got the key
``caf%C3%A9`` from an ARC file (or a WARC record warcio read) and two keys for one URL in the catalog.
"""
from __future__ import annotations

from pathlib import Path

from catalog.rebuild import rebuild
from catalog.store import Store
from catalog.warc_reader import SourceRecord, iter_records
from ingest.warc_indexing import record_key
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.ingest.test_warc_job import expected_documents


def _with_uri(shared_data_dir: Path, tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    data = (shared_data_dir / "warc" / name).read_bytes()
    assert old in data
    path = tmp_path / f"{new.hex()}-{name}"
    path.write_bytes(data.replace(old, new))
    return path


def _response_keys(path: Path, parsers: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    return [(r.parser, record_key(r.target_uri)) for r in iter_records(str(path), parsers=parsers)
            if isinstance(r, SourceRecord) and r.record_type == "response"]


def test_arc_warc_and_warcio_read_of_a_latin1_uri_give_one_key(shared_data_dir: Path, tmp_path: Path) -> None:
    arc = _with_uri(shared_data_dir, tmp_path, "example.arc", b"http://example.com/ 93.184",
                    b"http://example.com/caf\xe9 93.184")
    warc = _with_uri(shared_data_dir, tmp_path, "example.warc", b"WARC-Target-URI: http://example.com/\r\n",
                     b"WARC-Target-URI: http://example.com/caf\xe9\r\n")
    key = "http://example.com/caf%E9"
    assert _response_keys(arc) == [("warcio", key)]
    assert _response_keys(warc) == [("fastwarc", key)]
    assert _response_keys(warc, ("warcio",)) == [("warcio", key)]
    # the UTF-8 bytes of the same character decode to the same text: they keep the UTF-8 key
    utf8 = _with_uri(shared_data_dir, tmp_path, "example.arc", b"http://example.com/ 93.184",
                     b"http://example.com/caf\xc3\xa9 93.184")
    assert _response_keys(utf8) == [("warcio", "http://example.com/caf%C3%A9")]


def test_repacked_arc_record_keeps_the_key_through_rebuild(shared_data_dir: Path, tmp_path: Path) -> None:
    arc = _with_uri(shared_data_dir, tmp_path, "example.arc", b"http://example.com/ 93.184",
                    b"http://example.com/caf\xe9 93.184")
    body = expected_documents(shared_data_dir / "warc" / "example.arc", set())["http://example.com/"]
    root = tmp_path / "root"
    with Store(str(root)) as store:
        summary = run_warc_job(store, [str(arc)], WarcJobConfig(), show_progress=False, local=True)
        assert (summary.repacked, summary.quarantined) == (1, 0)
        assert [k for k, _ in store.catalog.items()] == ["http://example.com/caf%E9"]
        assert store.cat("http://example.com/caf%E9") == body
        # the repacked record's WARC-Target-URI reads back to the same key
        assert b"WARC-Target-URI: http://example.com/caf%E9\r\n" in store.cat("http://example.com/caf%E9", raw=True)
        with Store(str(root), catalog_dir=str(tmp_path / "rebuilt")) as target:
            rebuild(store.volumes_url, target, progress=lambda _: None)
            assert [k for k, _ in target.catalog.items()] == ["http://example.com/caf%E9"]


def _volume_uris(store: Store) -> list[tuple[bytes, str]]:
    """(WARC-Target-URI bytes as FastWARC finds them, as warcio decodes them) of each volume record."""
    from fastwarc.warc import ArchiveIterator as FastIterator
    from fastwarc.warc import WarcRecordType
    from warcio.archiveiterator import ArchiveIterator

    out = []
    for volume in sorted(Path(store.volumes_url).rglob("*.warc.gz")):
        with volume.open("rb") as fh:
            fast = [dict(r.headers.items_bytes()).get(b"WARC-Target-URI") for r in
                    FastIterator(fh, record_types=int(WarcRecordType.response), parse_http=False)]
        with volume.open("rb") as fh:
            slow = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)
                    if r.rec_type == "response"]
        out += list(zip(fast, slow))
    return out


def test_repacked_warc_record_keeps_the_uri_bytes_as_written(shared_data_dir: Path, tmp_path: Path) -> None:
    """A repacked WARC record (``--repack``, or a whole-stream gzip that must be repacked) stored U+FFFD
    for a Latin-1 byte of its WARC-Target-URI: the copy was garbled, and ``cat --raw``, warcio and
    FastWARC saw another URI than the source's. It keeps the bytes now, in place and repacked give one
    key, and a rebuild that must scan the volume (no sidecar) keys it as ingest did."""
    import gzip

    warc = _with_uri(shared_data_dir, tmp_path, "example.warc", b"WARC-Target-URI: http://example.com/\r\n",
                     b"WARC-Target-URI: http://example.com/caf\xe9\r\n")
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(warc.read_bytes()))
    key, written = "http://example.com/caf%E9", b"WARC-Target-URI: http://example.com/caf\xe9\r\n"
    for name, path, repack in (("in-place", warc, False), ("repack", warc, True), ("whole-gzip", whole, False)):
        root = tmp_path / name
        with Store(str(root)) as store:
            summary = run_warc_job(store, [str(path)], WarcJobConfig(repack=repack), show_progress=False, local=True)
            assert (summary.indexed + summary.repacked, summary.quarantined) == (1, 0), name
            assert [k for k, _ in store.catalog.items()] == [key], name
            assert written in store.cat(key, raw=True), name
            if name == "in-place":
                continue
            assert _volume_uris(store) == [(b"http://example.com/caf\xe9", "http://example.com/caf\xe9")], name
            for sidecar in Path(store.volumes_url).rglob("*.cdxj"):
                sidecar.unlink()  # the rebuild scans the volume's records for their keys
            with Store(str(root), catalog_dir=str(tmp_path / f"{name}-rebuilt")) as target:
                report = rebuild(store.volumes_url, target, progress=lambda _: None)
                assert report.scanned_without_sidecar, name
                assert [k for k, _ in target.catalog.items()] == [key], name
