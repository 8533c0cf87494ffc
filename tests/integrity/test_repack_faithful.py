"""``--repack`` is a faithful copy, and CDXJ lines are written as Common Crawl writes them.

Every shared WARC/ARC file is repacked; every record warcio reads in it must be in the volumes (request,
metadata, warcinfo and revisit records too) with its headers as stored — record id, dates, digests,
``WARC-Warcinfo-ID``, ``WARC-Concurrent-To`` — and its block unchanged, followed by
``Haybale-Source-File`` / ``Haybale-Source-Offset`` naming where it came from. The sidecar of each
volume has, per keyed record, the HTTP status, the HTTP content type as ``mime``, the SHA-1 payload
digest in base32 (the record's own ``WARC-Payload-Digest``) and the xxh3 digest beside it; a sidecar
in the old format (xxh3 in ``digest``) still rebuilds.
"""
from __future__ import annotations

import json
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from catalog.cdxj import http_fields, parse_cdxj
from catalog.rebuild import rebuild
from catalog.store import Store
from ingest.file_sources import FileRef, Split
from ingest.warc_indexing import IndexOptions, index_split
from ingest.warc_job import WarcJobSummary, register_split
from tests.conftest import shared_data

COPIED_HEADERS = ("WARC-Record-ID", "WARC-Date", "WARC-Payload-Digest", "WARC-Block-Digest", "WARC-Warcinfo-ID",
                  "WARC-Concurrent-To", "WARC-Refers-To", "WARC-IP-Address", "WARC-Truncated")


def _records(path: Path) -> list[tuple[list[tuple[str, str]], bytes]]:
    with path.open("rb") as fh:
        return [(list(r.rec_headers.headers), r.raw_stream.read()) for r in ArchiveIterator(fh, no_record_parse=True)]


def test_repack_keeps_every_record_its_headers_and_names_its_origin(tmp_path: Path) -> None:
    files = sorted(p for p in (shared_data() / "warc").iterdir() if ".arc" not in p.name)
    root = str(tmp_path / "root")
    with Store(root) as store:
        split = Split(0, tuple(FileRef(str(p), p.stat().st_size, str(p)) for p in files))
        result = index_split(split, store.volumes_url + "/t", root + "/i", IndexOptions(repack=True))
        register_split(store, result, "t", WarcJobSummary("t"))
        quarantined = {(q["file"], q["offset"]) for q in result.quarantined}
        copies: dict[tuple[str, str], tuple[list[tuple[str, str]], bytes]] = {}
        for volume in sorted(Path(store.volumes_url, "t").glob("*.warc.gz")):
            for headers, block in _records(volume):
                h = dict(headers)
                copies[(h["Haybale-Source-File"], h["Haybale-Source-Offset"])] = (headers, block)
    originals = 0
    for path in files:
        with path.open("rb") as fh:
            it = ArchiveIterator(fh, no_record_parse=True)
            try:
                for rec in it:
                    block = rec.raw_stream.read()
                    offset = it.get_record_offset()
                    if (str(path), offset) in quarantined:
                        continue
                    copy = copies.get((str(path), str(offset)))
                    if copy is None and ".gz" in path.name:  # whole-file gzip: offsets are decompressed ones
                        continue
                    assert copy is not None, f"{path.name} at {offset}: {rec.rec_type} record not repacked"
                    headers, copied_block = copy
                    assert copied_block == block, f"{path.name} at {offset}: block changed"
                    original = list(rec.rec_headers.headers)
                    assert [kv for kv in headers if kv[0] != "Content-Length"][:len(original) - 1] == \
                        [kv for kv in original if kv[0] != "Content-Length"], f"{path.name} at {offset}: headers"
                    originals += 1
            except Exception as exc:  # noqa: BLE001 - warcio stops at damaged bytes, we read on
                if "gzip" not in str(exc).lower() and "chunk" not in str(exc).lower():
                    print(f"{path.name}: warcio stopped: {exc}")
    types = {dict(h)["WARC-Type"] for h, _ in copies.values()}
    assert {"request", "metadata", "warcinfo", "revisit", "response", "resource", "conversion"} <= types
    assert originals > 60
    assert any("WARC-Concurrent-To" in dict(h) for h, _ in copies.values())
    assert any("WARC-Warcinfo-ID" in dict(h) for h, _ in copies.values())


def test_cdxj_lines_as_common_crawl_writes_them_and_old_sidecars_rebuild(tmp_path: Path) -> None:
    path = shared_data() / "warc" / "whirlwind.warc.gz"
    root = str(tmp_path / "root")
    with Store(root) as store:
        for repack in (False, True):
            split = Split(0, (FileRef(str(path), path.stat().st_size, str(path)),))
            result = index_split(split, store.volumes_url + f"/{repack}", root + f"/indexes/{repack}",
                                 IndexOptions(repack=repack))
            register_split(store, result, "t", WarcJobSummary("t"))
            sidecar = result.sealed[0].sidecar if repack else result.external[0].index_url
            [line] = [x for x in Path(sidecar).read_text().splitlines() if '"response"' in x]
            fields = json.loads(line.split(" ", 2)[2])
            with path.open("rb") as fh:
                response = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
                status = response.http_headers.get_statuscode()
                mime = response.http_headers.get_header("Content-Type").split(";")[0]
                digest = response.rec_headers.get_header("WARC-Payload-Digest").split(":")[1]
            assert (fields["status"], fields["mime"], fields["digest"]) == (status, mime, digest), fields
            assert len(fields["xxh3"]) == 16 and fields["type"] == "response"
        before = {k: loc.digest for k, loc in store.catalog.items()}
    # an old-format sidecar (xxh3 in "digest", no "xxh3") still rebuilds
    for side in Path(root, "volumes", "True").glob("*.cdxj"):
        old = []
        for line in side.read_text().splitlines():
            head, stamp, payload = line.split(" ", 2)
            fields = json.loads(payload)
            fields["digest"] = fields.pop("xxh3")
            old.append(f"{head} {stamp} {json.dumps(fields)}")
        side.write_text("\n".join(old) + "\n")
        assert all(e.digest == int(json.loads(x.split(" ", 2)[2])["digest"], 16)
                   for e, x in zip(parse_cdxj(side.read_text(), str(side)), old))
    with Store(root, catalog_dir=str(tmp_path / "rebuilt")) as target:
        report = rebuild(str(Path(root, "volumes")), target, progress=lambda _: None)
        assert not report.skipped and {k: loc.digest for k, loc in target.catalog.items()} == before
    assert http_fields(b"HTTP/1.1 301 Moved\r\nContent-Type: text/plain\r\n\r\nx") == (301, "text/plain")
