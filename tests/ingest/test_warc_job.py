"""The WARC ingest job: every shared edge-case file indexed in place or repacked (exact counts per file),
``store.cat`` of every record against warcio, in place vs repack, the fast digest against the catalog's
own read, resume by run id, the error budget, rebuild of files indexed in place, and SIGKILL of the
whole job at fail points then a rerun ending exactly once."""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from catalog.captures import date_order
from catalog.cdxj import cdxj_line, external_cdxj_line, http_fields
from catalog.keys import canonical_key
from catalog.rebuild import rebuild
from catalog.store import Store
from catalog.warc_layout import Compression, probe_layout, resolve_source
from catalog.warc_reader import SourceRecord, iter_records
from catalog.warc_records import resource_record, response_record
from ingest.file_sources import FileRef, Split
from ingest.warc_indexing import IN_PLACE, REPACK, FileCounts, IndexOptions, WarcSplitResult, index_split, record_key
from ingest.warc_job import WarcJobConfig, WarcJobError, WarcJobSummary, register_split, run_warc_job
from ingest.warc_record_bytes import RecordUnreadable, exact_digest, fast_digest
from tests.ingest.job_runner import run_job_process

# file -> (mode, records read, indexed in place, repacked, skipped, quarantined), default (in place) mode.
# Skipped: request, metadata, warcinfo, revisit. bad.arc: two records with a broken ARC length field.
# example-wrong-chunks: its response is split over two gzip members, so it cannot be read in place.
EXPECTED = {
    "bad.arc": (REPACK, 4, 0, 1, 0, 3),  # its ARC header record (length -1) cannot be copied either
    "dolma-wget-sample-0000.warc.gz": (IN_PLACE, 48, 24, 0, 24, 0),
    "example-bad-non-chunked.warc.gz": (REPACK, 6, 0, 1, 5, 0),
    "example-bad.warc.gz.bad": (REPACK, 6, 0, 2, 4, 0),
    "example-digest.warc": (IN_PLACE, 4, 0, 0, 4, 0),
    "example-iana.org-chunked.warc": (IN_PLACE, 3, 1, 0, 2, 0),
    "example-resource.warc.gz": (IN_PLACE, 3, 1, 0, 2, 0),
    "example-space-in-target-uri.warc.gz": (IN_PLACE, 2, 1, 0, 1, 0),
    "example-space-in-url.arc": (REPACK, 2, 0, 1, 1, 0),
    "example-trunc.warc": (IN_PLACE, 4, 1, 0, 3, 0),
    "example-wget-bad-target-uri.warc.gz": (IN_PLACE, 6, 3, 0, 3, 0),
    "example-wrong-chunks.warc.gz": (IN_PLACE, 2, 0, 1, 1, 0),
    "example.arc": (REPACK, 2, 0, 1, 1, 0),
    "example.arc.gz": (REPACK, 2, 0, 1, 1, 0),
    "example.warc": (IN_PLACE, 6, 1, 0, 5, 0),
    "example.warc.gz": (IN_PLACE, 6, 1, 0, 5, 0),
    "post-test.warc.gz": (IN_PLACE, 6, 3, 0, 3, 0),
    "whirlwind.warc": (IN_PLACE, 4, 1, 0, 3, 0),
    "whirlwind.warc.gz": (IN_PLACE, 4, 1, 0, 3, 0),
    "whirlwind.warc.wat": (IN_PLACE, 2, 0, 0, 2, 0),
    "whirlwind.warc.wat.gz": (IN_PLACE, 2, 0, 0, 2, 0),
    "whirlwind.warc.wet": (IN_PLACE, 2, 1, 0, 1, 0),
    "whirlwind.warc.wet.gz": (IN_PLACE, 2, 1, 0, 1, 0),
}


def _row(f: FileCounts) -> tuple[str, int, int, int, int, int]:
    return (f.mode, f.records, f.indexed, f.repacked, sum(f.skipped.values()), f.quarantined)


def _split(paths: list[Path]) -> Split:
    return Split(0, tuple(FileRef(str(p), p.stat().st_size, str(p)) for p in paths))


def expected_documents(path: Path, quarantined_offsets: set[int]) -> dict[str, bytes]:
    """What warcio reads as each keyed record's document (HTTP body decoded for responses); the last
    record of a key wins. Gzip files are decompressed first: warcio refuses whole-file gzip and
    records split over members, which our reader handles."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b" and ".arc" not in path.name:
        data = gzip.decompress(data)
    docs: dict[str, bytes] = {}
    it = ArchiveIterator(io.BytesIO(data), arc2warc=True)
    for rec in it:
        if rec.rec_type not in ("response", "resource", "conversion"):
            continue
        content = rec.content_stream().read()  # before asking for the offset, which ends the record
        if it.get_record_offset() not in quarantined_offsets:
            docs[record_key(rec.rec_headers.get_header("WARC-Target-URI"))] = content
    # bad.arc's last good record holds one byte, "\n": warcio (and we) take it for an empty HTTP
    # header block and read an empty body.
    return docs


def _ingest_without_ray(store: Store, paths: list[Path], tmp: Path, repack: bool) -> WarcSplitResult:
    result = index_split(_split(paths), store.volumes_url + "/t", str(tmp / "indexes"),
                         IndexOptions(repack=repack))
    register_split(store, result, "t", WarcJobSummary("t"))
    return result


def test_every_shared_file_counts_in_both_modes(shared_data_dir: Path, tmp_path: Path) -> None:
    files = sorted((shared_data_dir / "warc").iterdir())
    assert sorted(p.name for p in files) == sorted(EXPECTED)
    in_place = index_split(_split(files), str(tmp_path / "v1"), str(tmp_path / "i1"), IndexOptions())
    repacked = index_split(_split(files), str(tmp_path / "v2"), str(tmp_path / "i2"), IndexOptions(repack=True))
    assert {Path(f.url).name: _row(f) for f in in_place.files} == EXPECTED
    for f in repacked.files:
        mode, records, indexed, repacked_n, skipped, quarantined = EXPECTED[Path(f.url).name]
        assert _row(f) == (REPACK, records, 0, indexed + repacked_n, skipped, quarantined), f.url
    quarantine = [(Path(q["file"]).name, q["offset"]) for q in in_place.quarantined]
    assert quarantine == [("bad.arc", 0), ("bad.arc", 134), ("bad.arc", 262)]
    assert all("ARC header length field" in q["reason"] for q in in_place.quarantined)
    assert len(in_place.external) == 13 and all(Path(e.index_url).exists() for e in in_place.external)


def test_cat_of_every_record_matches_warcio_in_place_and_repacked(shared_data_dir: Path, tmp_path: Path) -> None:
    for n, path in enumerate(sorted((shared_data_dir / "warc").iterdir())):
        keys_by_mode = {}
        for repack in (False, True):
            with Store(str(tmp_path / f"r{n}-{repack}")) as store:
                result = _ingest_without_ray(store, [path], tmp_path / f"i{n}-{repack}", repack)
                expected = expected_documents(path, {q["offset"] for q in result.quarantined})
                keys = [k for k, _ in store.catalog.items()]
                assert sorted(keys) == sorted(expected), path.name
                for key in keys:
                    assert store.cat(key) == expected[key], f"{path.name} {key} (repack={repack})"
                if not repack:
                    in_place = {r[0] for e in result.external for r in e.records}
                    for key in in_place:
                        assert store.volume_url(store.catalog.get(key).volume) == str(path)
                keys_by_mode[repack] = {k: store.catalog.get(k).digest for k in keys}
        assert keys_by_mode[False] == keys_by_mode[True], path.name


def _varied_warc(path: Path, seed: int) -> None:
    """Records that stress the fast digest: HTTP headers with bare LF, huge headers, empty bodies,
    chunked bodies, resources, and non-HTTP responses."""
    rng = random.Random(seed)
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=path.suffix == ".gz")
        for i in range(60):
            body = rng.randbytes(rng.choice([0, 10, 5000, 70000]))
            kind = i % 5
            uri = f"http://example.test/{i}"
            if kind == 4:
                writer.write_record(writer.create_warc_record(uri, "resource", payload=io.BytesIO(body),
                                                              warc_content_type="text/plain"))
                continue
            headers = [("Content-Type", "text/html"), ("X-Big", "y" * rng.choice([10, 40000]))]
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            rec = writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http)
            if kind == 3:  # an HTTP message with LF-only line ends, stored as is
                raw = b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\n" + body
                rec = writer.create_warc_record(uri, "response", payload=io.BytesIO(raw),
                                                warc_content_type="application/http; msgtype=response")
            writer.write_record(rec)


def test_fast_digest_equals_the_catalogs_read(shared_data_dir: Path, tmp_path: Path) -> None:
    paths = [tmp_path / "varied.warc.gz", tmp_path / "varied.warc"]
    for seed, p in enumerate(paths):
        _varied_warc(p, seed)
    paths += sorted(p for p in (shared_data_dir / "warc").iterdir() if ".arc" not in p.name)
    checked = fast = 0
    for path in paths:
        layout = probe_layout(str(path))
        if not layout.indexable_in_place:
            continue
        src = resolve_source(str(path))
        for rec in iter_records(str(path), read_payload=True):
            if not isinstance(rec, SourceRecord) or not rec.in_place or not rec.length or rec.payload is None:
                continue
            quick = fast_digest(src, rec.offset, rec.length, layout.compression is Compression.GZIP_PER_RECORD,
                                rec.payload)
            try:
                exact = exact_digest(src, rec.offset, rec.length)
            except RecordUnreadable:
                assert quick is None, f"{path.name}@{rec.offset}: fast digest for a record the catalog cannot read"
                continue
            checked += 1
            if quick is not None:
                fast += 1
                assert quick == exact, f"{path.name}@{rec.offset} {rec.record_type}"
        src.close()
    # the fast path serves ordinary records (never wrongly); huge or LF-only headers and requests go exact
    assert checked > 150 and 60 < fast < checked


def test_whole_file_gzip_cut_short_and_non_warc_files_are_quarantined(shared_data_dir: Path, tmp_path: Path) -> None:
    whole = gzip.compress((shared_data_dir / "warc" / "whirlwind.warc").read_bytes())
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    junk = tmp_path / "notes.warc"
    junk.write_bytes(b"just some text\n" * 50)
    result = index_split(_split([cut, junk]), str(tmp_path / "v"), str(tmp_path / "i"), IndexOptions())
    by_file = {Path(f.url).name: f for f in result.files}
    assert by_file["cut.warc.gz"].mode == REPACK and by_file["cut.warc.gz"].records >= 2
    reasons = [(Path(q["file"]).name, q.get("decompressed", False), q["reason"]) for q in result.quarantined]
    cut_reasons = " | ".join(r for name, decompressed, r in reasons if name == "cut.warc.gz" and decompressed)
    assert "gzip stream ends early" in cut_reasons and "file truncated" in cut_reasons
    assert [r for name, _, r in reasons if name == "notes.warc"][0].startswith("no WARC/ARC record found")
    assert by_file["notes.warc"].quarantined == 1 and by_file["notes.warc"].indexed == 0


def test_external_cdxj_lines_have_the_volume_sidecar_format() -> None:
    for rec in (response_record("http://Example.com/a b", "HTTP/1.1 404 Not Found",
                                [("Content-Type", "text/html; charset=utf-8")], b"body"),
                resource_record("file:///data/x.txt", b"text", "text/plain")):
        status = 404 if rec.record_type == "response" else None
        key = canonical_key(rec.target_uri)
        line = cdxj_line(key, rec, 7, 99, 12345, "s3://b/x.warc.gz")
        assert external_cdxj_line(key, record_type=rec.record_type, content_type=http_fields(rec.block)[1]
                                  if status else rec.content_type, date=rec.date, offset=7, length=99, digest=12345,
                                  filename="s3://b/x.warc.gz", status=status, payload_sha1=rec.payload_sha1()) == line
        fields = json.loads(line.split(" ", 2)[2])  # as Common Crawl writes them, plus xxh3
        assert fields["mime"] == ("text/html" if status else "text/plain")
        assert fields.get("status") == ("404" if status else None)
        assert fields["digest"] == rec.payload_sha1().split(":")[1] and fields["xxh3"] == f"{12345:016x}"


def _latest_captures(files: list[Path], tmp: Path) -> dict[str, int]:
    """Key -> digest of its latest capture by WARC-Date (ties: the later in input order, files by URL then
    offset), computed from each file's records alone."""
    best: dict[str, tuple[tuple[str, int, int], int]] = {}
    for n, path in enumerate(files):
        result = index_split(_split([path]), str(tmp / f"lw{n}"), str(tmp / f"lwi{n}"), IndexOptions())
        entries = [(off, key, dig, date) for e in result.external for (key, off, _, dig), date in zip(e.records, e.dates)]
        records = [r for s in result.sealed for r in s.records]
        entries += [(src_off, key, dig, date) for (_, src_off), (key, _, _, dig), date
                    in zip(result.repack_sources, records, result.repack_dates)]
        for off, key, dig, date in entries:
            order = (date_order(date), n, off)
            if key not in best or order >= best[key][0]:
                best[key] = (order, dig)
    return {key: dig for key, (_, dig) in best.items()}


@pytest.mark.ray
def test_job_counts_resume_budget_later_wins_and_rebuild(ray_session: None, shared_data_dir: Path,
                                                         tmp_path: Path) -> None:
    warc_dir = shared_data_dir / "warc"
    root = str(tmp_path / "root")
    with Store(root) as store:
        summary = run_warc_job(store, [str(warc_dir)], WarcJobConfig(run_id="w1", split_files=4),
                               show_progress=False)
        assert summary.splits == 6 and summary.files == 23 and summary.quarantined == 3
        assert {Path(u).name: tuple(v[k] for k in ("mode", "records", "indexed", "repacked", "skipped",
                                                  "quarantined"))
                for u, v in summary.per_file.items()} == EXPECTED
        lines = [json.loads(x) for x in Path(root, "runs", "w1", "quarantine.jsonl").read_text().splitlines()]
        assert [(Path(q["file"]).name, q["offset"]) for q in lines] == [("bad.arc", 0), ("bad.arc", 134), ("bad.arc", 262)]
        expected = _latest_captures(sorted(warc_dir.iterdir()), tmp_path)
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected
        for key in expected:
            store.cat(key)
        again = run_warc_job(store, [str(warc_dir)], WarcJobConfig(run_id="w1", split_files=4), show_progress=False)
        assert again.splits_skipped_done == 6 and again.added == again.updated == 0
        assert again.indexed == summary.indexed and again.quarantined == 3  # counts cover the whole run
        with pytest.raises(WarcJobError, match="to 3 quarantined records, over the error budget --max-errors 1"):
            run_warc_job(store, [str(warc_dir / "*.arc")], WarcJobConfig(run_id="w2", max_errors=1),
                         show_progress=False)
        repacked = run_warc_job(store, [str(warc_dir)], WarcJobConfig(run_id="w3", repack=True, split_files=7),
                                show_progress=False)
        assert repacked.indexed == 0 and repacked.repacked == summary.indexed + summary.repacked
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected  # same records win
        stats_keys = len(expected)
    with Store(str(tmp_path / "only-in-place")) as store:
        run_warc_job(store, [str(warc_dir / "*.warc*")], WarcJobConfig(run_id="p"), show_progress=False)
        before = {k: loc.digest for k, loc in store.catalog.items()}
        with Store(str(tmp_path / "only-in-place"), catalog_dir=str(tmp_path / "rebuilt")) as target:
            report = rebuild(store.volumes_url, target, progress=lambda _: None)
            assert report.external_files == 13 and not report.skipped
            assert {k: loc.digest for k, loc in target.catalog.items()} == before
            for key in before:
                assert target.cat(key) == store.cat(key)
    assert stats_keys > 20


def _cli(root: str, src: str, run_id: str) -> list[str]:
    return ["haybale", "ingest", "warc", src, "--root", root, "--run-id", run_id, "--split-files", "2", "--num-cpus", "2",
            "--json", "--quiet"]


@pytest.mark.chaos
def test_sigkill_whole_job_at_fail_points_then_rerun_ends_exactly_once(shared_data_dir: Path,
                                                                       tmp_path: Path) -> None:
    warc_dir = shared_data_dir / "warc"
    root, run_id = str(tmp_path / "root"), "chaos"
    points = ["warc_indexing.after_file:3",  # in a Ray worker, mid-split: kills the whole job
              "catalog.mid_apply:2",         # mid-registration: some shards applied
              "warc_job.after_register:3"]   # registered, completion marker not written
    for n, point in enumerate(points):
        fired = str(tmp_path / f"fired-{n}")
        code, output = run_job_process(_cli(root, str(warc_dir), run_id),
                                       {"HAYBALE_FAILPOINT": point, "HAYBALE_FAILPOINT_ONCE": fired})
        assert code == -signal.SIGKILL or code != 0, f"{point} did not kill the job: {output[-2000:]}"
        assert os.path.exists(fired), f"fail point {point} was never reached: {output[-2000:]}"
    code, output = run_job_process(_cli(root, str(warc_dir), run_id), {})
    assert code == 0, output[-3000:]
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert summary["run_id"] == run_id and summary["files"] == 23 and summary["quarantined"] == 3
    expected = _latest_captures(sorted(warc_dir.iterdir()), tmp_path)
    marked: set[str] = set()
    for path in Path(root, "runs", run_id, "done").glob("*.json"):
        marked.update(json.loads(path.read_text())["volumes"])
    with Store(root, read_only=True) as store:
        assert {k: loc.digest for k, loc in store.catalog.items()} == expected  # every record once
        referenced = set()
        for key in expected:
            store.cat(key)
            referenced.add(store.volume_url(store.catalog.get(key).volume))
        assert referenced <= marked, f"catalog references volumes of no completed split: {referenced - marked}"
        assert all(Path(u).exists() for u in referenced)


def test_rebuild_registers_in_place_files_and_reports_a_missing_one(shared_data_dir: Path, tmp_path: Path) -> None:
    copies = []
    for name in ("whirlwind.warc.gz", "post-test.warc.gz"):
        copies.append(tmp_path / name)
        copies[-1].write_bytes((shared_data_dir / "warc" / name).read_bytes())
    with Store(str(tmp_path / "root")) as store:
        _ingest_without_ray(store, copies, tmp_path / "root", repack=False)
        before = {k: loc.digest for k, loc in store.catalog.items()}
        copies[1].unlink()
        with Store(str(tmp_path / "root"), catalog_dir=str(tmp_path / "rebuilt")) as target:
            report = rebuild(store.volumes_url, target, progress=lambda _: None)
            assert report.external_files == 1 and report.records == 1
            assert [k for k, _ in target.catalog.items()] == ["https://an.wikipedia.org/wiki/Escopete"]
            assert target.catalog.get("https://an.wikipedia.org/wiki/Escopete").digest == \
                before["https://an.wikipedia.org/wiki/Escopete"]
            assert len(report.skipped) == 3 and all("missing" in s["reason"] for s in report.skipped)


def test_arc_gzipped_as_one_stream_is_repacked_whole(shared_data_dir: Path, tmp_path: Path) -> None:
    """``gzip example.arc``: one gzip member holding every ARC record. It was taken for an ARC.gz of one
    record per member, so warcio refused it and both records were quarantined (one at offset -711)."""
    arc = shared_data_dir / "warc" / "example.arc"
    whole = tmp_path / "example.arc.gz"
    whole.write_bytes(gzip.compress(arc.read_bytes()))
    assert probe_layout(resolve_source(str(whole))).compression is Compression.GZIP_WHOLE_FILE
    with Store(str(tmp_path / "root")) as store:
        summary = run_warc_job(store, [str(whole)], WarcJobConfig(), show_progress=False, local=True)
        assert (summary.records, summary.repacked, summary.quarantined) == (2, 1, 0)
        assert summary.skipped == {"warcinfo": 1} and summary.unkeyed_copied == 1
        assert store.cat("http://example.com/") == expected_documents(arc, set())["http://example.com/"]


@pytest.mark.parametrize("gzipped", [False, True])
def test_target_uris_that_are_not_utf8_keep_their_bytes_in_the_key(shared_data_dir: Path, tmp_path: Path,
                                                                   gzipped: bool) -> None:
    """Two captures whose WARC-Target-URI holds a Latin-1 byte (``café``, ``cafè``, as wget writes what it
    was given): FastWARC decodes both to ``caf\\ufffd``, so they got one key and one capture vanished
    (counted neither as replaced nor quarantined). Each byte that is not UTF-8 is percent-escaped instead,
    as a browser sends it, so each keeps its own key."""
    source = shared_data_dir / "warc" / "example.warc"
    response = source.read_bytes()[1197:2566]  # its response record (offsets as warcio reads them)
    assert response.startswith(b"WARC/1.0\r\n") and b"WARC-Target-URI: http://example.com/\r\n" in response
    records = [response.replace(b"WARC-Target-URI: http://example.com/", b"WARC-Target-URI: http://example.com/caf" + c)
               .replace(b"04:02:06Z", b"04:02:0" + d) for c, d in ((b"\xe9", b"6Z"), (b"\xe8", b"7Z"))]
    path = tmp_path / ("latin1.warc.gz" if gzipped else "latin1.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gzipped else b"".join(records))
    body = expected_documents(source, set())["http://example.com/"]
    with Store(str(tmp_path / "root")) as store:
        summary = run_warc_job(store, [str(path)], WarcJobConfig(), show_progress=False, local=True)
        assert (summary.indexed, summary.added, summary.captures_replaced, summary.quarantined) == (2, 2, 0, 0)
        assert sorted(k for k, _ in store.catalog.items()) == ["http://example.com/caf%E8", "http://example.com/caf%E9"]
        assert store.cat("http://example.com/caf%E9") == store.cat("http://example.com/caf%e8") == body


def test_warcs_on_a_server_that_ignores_range_requests_are_repacked(shared_data_dir: Path, tmp_path: Path) -> None:
    """``python -m http.server`` answers a ranged GET with the whole file (200, not 206), and fsspec hands
    that over as the range: records were indexed in place with the digest of the file's first record, so
    every one of them failed to read back. Such a file is copied and repacked instead."""
    import functools
    import http.server
    import threading

    warc_dir = shared_data_dir / "warc"
    names = ["example.warc", "whirlwind.warc.gz", "example-iana.org-chunked.warc"]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(warc_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        urls = [f"http://127.0.0.1:{server.server_port}/{name}" for name in names]
        with Store(str(tmp_path / "root")) as store:
            summary = run_warc_job(store, urls, WarcJobConfig(), show_progress=False, local=True)
            assert (summary.indexed, summary.repacked, summary.quarantined) == (0, 3, 0)
            for name in names:
                for key, body in expected_documents(warc_dir / name, set()).items():
                    assert store.cat(key) == body, f"{name} {key}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("damage", ["flipped byte", "member cut short"])
def test_a_damaged_gzip_member_mid_file_loses_only_its_record(shared_data_dir: Path, tmp_path: Path,
                                                              damage: str) -> None:
    """One corrupt member in the middle of a gzip-per-record WARC (a flipped byte: CRC error; or 100
    bytes lost): FastWARC stopped there as if the file ended, so the damaged record was quarantined as
    the "last record" and the 43 records after it were neither read nor reported. Now reading resumes
    at the next member: only the damaged record is lost, and the counts cover the whole file."""
    source = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    data = bytearray(source.read_bytes())
    damaged_at, next_at = 15904, 24476  # the members of the response for .../faculty/weld and the next record
    if damage == "flipped byte":
        data[damaged_at + 3000] ^= 0xFF
    else:
        del data[next_at - 100:next_at]
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(bytes(data))
    expected = expected_documents(source, set())
    with Store(str(tmp_path / "root")) as store:
        summary = run_warc_job(store, [str(path)], WarcJobConfig(), show_progress=False, local=True)
        assert summary.quarantined == 1, summary.quarantine
        entry = summary.quarantine[0]
        assert entry["offset"] == damaged_at and "last record" not in entry["reason"], entry
        # the damaged record is one of the 48 read, quarantined as a record
        assert (summary.records, summary.indexed, sum(summary.skipped.values())) == (48, 23, 24)
        assert entry["record"] and summary.per_file[str(path)]["quarantined_records"] == 1
        keys = {k for k, _ in store.catalog.items()}
        assert keys == set(expected) - {"https://www.cs.washington.edu/people/faculty/weld"}
        for key in keys:
            assert store.cat(key) == expected[key], key


def test_an_empty_gzip_member_between_records_hides_nothing(shared_data_dir: Path, tmp_path: Path) -> None:
    """A gzip member of nothing between two records (``cat`` of WARC.gz files one of which is empty):
    FastWARC took it for the end of the file, so the 43 records after it were neither read nor reported,
    and the record before it was indexed with a range running to the end of the file."""
    source = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    data = source.read_bytes()
    after = 24476  # the member after the response for .../faculty/weld (at 15904)
    path = tmp_path / "concatenated.warc.gz"
    path.write_bytes(data[:after] + gzip.compress(b"") + data[after:])
    expected = expected_documents(source, set())
    with Store(str(tmp_path / "root")) as store:
        summary = run_warc_job(store, [str(path)], WarcJobConfig(), show_progress=False, local=True)
        assert (summary.records, summary.indexed, summary.quarantined) == (48, 24, 0), summary.quarantine
        assert {k for k, _ in store.catalog.items()} == set(expected)
        for key in expected:
            assert store.cat(key) == expected[key], key
        weld = store.get("https://www.cs.washington.edu/people/faculty/weld")
        assert weld is not None and weld.offset == 15904 and weld.length < after - 15904 + 64
