"""dedup's WARC input keeps the bytes of a WARC-Target-URI that are not UTF-8, percent-escaped.

FastWARC decodes header bytes as UTF-8 and replaces the others with U+FFFD, so a Latin-1 ``café``
and ``cafè`` both became ``caf\\ufffd`` in the url column and metadata, with no warning: two pages at
two addresses looked like one. Ingest escapes such bytes in its keys (``caf%E9``, as a browser sends
it; catalog.keys.uri_text); dedup now gives the same form.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dedup.errors import RecordError, RecordWarning
from dedup.warc_source import WarcSource


def _response(uri: bytes, number: int) -> bytes:
    body = b"<html><body><p>Page number %d about coffee and cafes.</p></body></html>" % number
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + uri + b"\r\n"
            b"WARC-Date: 2024-01-01T00:00:0%dZ\r\n" % number
            + b"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-00000000000%d>\r\n" % number
            + b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n" % len(http))
    return head + http + b"\r\n\r\n"


@pytest.mark.parametrize("gzipped", [False, True])
def test_target_uri_bytes_that_are_not_utf8_are_escaped_not_replaced(tmp_path: Path, gzipped: bool) -> None:
    uris = [b"http://example.com/caf\xe9", b"http://example.com/caf\xe8", "http://example.com/café".encode()]
    records = [_response(uri, n) for n, uri in enumerate(uris, start=1)]
    path = tmp_path / ("latin1.warc.gz" if gzipped else "latin1.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gzipped else b"".join(records))
    source = WarcSource([str(path)])
    bad: list[RecordError] = []
    rows = [row for split in source.splits() for batch in source.read(split, bad.append)
            for row in batch.to_pylist()]
    assert bad == []
    assert [row["url"] for row in rows] == ["http://example.com/caf%E9", "http://example.com/caf%E8",
                                            "http://example.com/café"]
    assert [json.loads(row["metadata"])["warc_headers"]["WARC-Target-URI"] for row in rows] == \
        [row["url"] for row in rows]


def test_warcio_warnings_are_the_documents_warnings(shared_data_dir: Path) -> None:
    """warcio's own warnings ("Replacing spaces in invalid WARC-Target-URI") were printed on stderr, and,
    once the reader caught them instead, in no report of dedup's: they are the document's warnings
    now (counted in the summary, listed in its metadata)."""
    source = WarcSource([str(shared_data_dir / "warc" / "example-space-in-url.arc")])
    told: list[RecordError] = []
    rows = [row for split in source.splits() for batch in source.read(split, told.append)
            for row in batch.to_pylist()]
    seen = [e for e in told if isinstance(e, RecordWarning)]  # the ARC's version block: a warcinfo, skipped
    assert len(rows) == 1 and len(seen) == 1 and seen[0].offset == 151
    assert "warcio warned: Replacing spaces in invalid WARC-Target-URI" in seen[0].reason
    assert json.loads(rows[0]["metadata"])["warnings"] == [seen[0].reason]


@pytest.mark.parametrize("repack", [False, True], ids=["in-place", "repacked"])
def test_the_catalog_input_gives_the_same_escaped_uri(tmp_path: Path, repack: bool) -> None:
    """dedup's catalog input put the record's WARC-Target-URI in the metadata as decoded, U+FFFD for
    each byte that is not UTF-8, beside a url column holding the escaped key: now both escape alike."""
    from catalog.store import Store
    from dedup.catalog_source import plan_catalog_source
    from ingest.warc_job import WarcJobConfig, run_warc_job

    uris = [b"http://example.com/caf\xe9", b"http://example.com/caf\xe8"]
    path = tmp_path / "latin1.warc.gz"
    path.write_bytes(b"".join(gzip.compress(_response(uri, n)) for n, uri in enumerate(uris, start=1)))
    with Store(str(tmp_path / "root")) as store:
        run_warc_job(store, [str(path)], WarcJobConfig(run_id="w1", repack=repack), local=True, show_progress=False)
        source = plan_catalog_source(store.catalog, "", str(tmp_path / "manifests"))
        bad: list[RecordError] = []
        rows = [row for split in source.splits() for batch in source.read(split, bad.append)
                for row in batch.to_pylist()]
    assert bad == []
    assert sorted(row["url"] for row in rows) == ["http://example.com/caf%E8", "http://example.com/caf%E9"]
    assert all(json.loads(row["metadata"])["warc_headers"]["WARC-Target-URI"] == row["url"] for row in rows)
