"""A ``catalog delete`` outlives ``catalog rebuild`` (catalog/deletions.py).

Before the deletion log, a rebuild from the volumes brought every deleted key back (the volumes are
immutable and still hold the record): a takedown undone without a word. These tests delete keys with
several captures, register one of them again afterwards, and check that both rebuilds give the live
catalog back, key for key, with counts that add up.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from catalog.catalog_meta import fresh_meta
from catalog.deletions import DELETED, WRITTEN_AFTER, Deletion, DeletionLog, load_deletions, log_deletions
from catalog.errors import CatalogError
from catalog.rebuild import rebuild
from catalog.rebuild_parallel import rebuild_parallel
from catalog.store import Store
from catalog.warc_records import response_record
from haybale.cli import main

DAY = 86_400
T0 = 1_700_000_000


def _page(key: str, body: bytes, fetched_at: int) -> bytes:
    return response_record(key, "HTTP/1.1 200 OK", [("Content-Type", "text/plain")], body, fetched_at=fetched_at)


def _write_volume(store: Store, pages: list[tuple[str, bytes, int]]) -> None:
    """One sealed volume of ``pages`` (key, body, date), registered the way the WARC job does."""
    writer = store.writer()
    sealed = []
    for key, body, date in pages:
        sealed += writer.append(key, _page(key, body, date))
    sealed += writer.close()
    assert len(sealed) == 1
    store.register_sealed(sealed[0], dates=[time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d)) for _, _, d in pages])


def _snapshot(store: Store) -> list[tuple]:
    return [(k, store.volume_url(loc.volume), loc.offset, loc.digest) for k, loc in store.catalog.items()]


def _build(root: str) -> list[tuple]:
    """a: two captures, then deleted. b: deleted, then an *older* capture ingested again (the live
    catalog has it back). c: untouched. Returns the live catalog's snapshot."""
    with Store(root) as store:
        _write_volume(store, [("https://a.example/", b"a one", T0), ("https://b.example/", b"b one", T0 + DAY),
                              ("https://c.example/", b"c one", T0)])
        _write_volume(store, [("https://a.example/", b"a two", T0 + 2 * DAY)])
        assert store.delete(["https://a.example/", "https://b.example/", "https://nowhere.example/"]) == 2
        time.sleep(0.05)  # file times come from a coarser clock than time.time()
        _write_volume(store, [("https://b.example/", b"b older", T0)])
        assert store.cat("https://b.example/") == b"b older"
        with pytest.raises(CatalogError):
            store.get("https://a.example/")
        return _snapshot(store)


def test_both_rebuilds_leave_out_what_was_deleted(ray_session: None, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    live = _build(root)
    log = load_deletions(f"{root}/deletes")
    assert log.files == 1 and sorted(log.by_key) == ["https://a.example/", "https://b.example/"]
    for name, run in (("serial", rebuild), ("parallel", rebuild_parallel)):
        with Store(root, catalog_dir=str(tmp_path / name)) as target:
            report = run(f"{root}/volumes", target, progress=lambda _: None)
            assert _snapshot(target) == [(k, *rest) for k, *rest in live], name
            assert target.cat("https://b.example/") == b"b older"
        assert report.deleted == 3, name  # both captures of a, the first of b
        assert report.records + report.duplicates + report.deleted == 5
        kept = [(k["key"], k["offset"]) for k in report.kept_after_delete]
        assert kept == [("https://b.example/", 0)], name  # older than the delete, written after it


def test_a_rebuild_without_the_log_brings_deleted_keys_back(tmp_path: Path) -> None:
    """What the log prevents (and what every rebuild did before it existed)."""
    root = str(tmp_path / "root")
    _build(root)
    with Store(root, catalog_dir=str(tmp_path / "nolog")) as target:
        report = rebuild(f"{root}/volumes", target, progress=lambda _: None,
                         deletes_url=str(tmp_path / "no-such-log"))
        assert report.deleted == 0
        assert target.cat("https://a.example/") == b"a two"


def test_verdicts(tmp_path: Path) -> None:
    old, new = tmp_path / "old.warc.gz", tmp_path / "new.cdxj"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (T0, T0))
    os.utime(new, (T0 + 3 * DAY, T0 + 3 * DAY))
    deleted = Deletion("k", str(old), 100, "20231114221320", T0 + 2 * DAY)
    log = DeletionLog({"k": [deleted]})
    assert log.verdict("other", str(old), 100, "", str(old)) is None
    assert log.verdict("k", str(old), 100, "2023-11-14T22:13:20Z", str(old)) == DELETED  # the capture itself
    assert log.verdict("k", str(old), 50, "2023-11-14T22:13:20Z", str(old)) == DELETED  # earlier in the file
    assert log.verdict("k", str(old), 150, "2023-11-14T22:13:20Z", str(old)) is None  # later: registered after
    assert log.verdict("k", "/v/x.warc.gz", 0, "2020-01-01T00:00:00Z", str(old)) == DELETED  # older
    assert log.verdict("k", "/v/x.warc.gz", 0, "2024-01-01T00:00:00Z", str(old)) is None  # newer
    # the same capture read from an index file written after the delete: the WARC was indexed again
    assert log.verdict("k", str(old), 100, "2023-11-14T22:13:20Z", str(new)) == WRITTEN_AFTER
    assert log.verdict("k", str(old), 100, "2023-11-14T22:13:20Z", str(tmp_path / "gone")) == WRITTEN_AFTER


def test_an_unreadable_log_line_stops_the_rebuild(tmp_path: Path) -> None:
    (tmp_path / "deletes").mkdir()
    bad = tmp_path / "deletes" / "20260101T000000Z-1-abcd.jsonl"
    bad.write_text(json.dumps({"key": "k"}) + "\n")
    with pytest.raises(CatalogError, match=r"20260101T000000Z-1-abcd.jsonl line 1 .*bring the keys it deleted back"):
        load_deletions(str(tmp_path / "deletes"))


def test_a_garbled_key_in_the_log_stops_the_rebuild(tmp_path: Path) -> None:
    """A byte that is not UTF-8 would have read as U+FFFD: a key no capture has, so the deleted key
    would have come back without a word."""
    (tmp_path / "deletes").mkdir()
    row = json.dumps({"key": "com,example)/caf\u00e9", "url": "v.warc.gz", "offset": 0, "date": "",
                      "deleted_at": 1.0}).encode().replace(b"\\u00e9", b"\xe9")
    (tmp_path / "deletes" / "a.jsonl").write_bytes(row + b"\n")
    with pytest.raises(CatalogError, match=r"a.jsonl line 1 cannot be read"):
        load_deletions(str(tmp_path / "deletes"))


def test_every_log_file_is_read(tmp_path: Path) -> None:
    for i in range(30):
        log_deletions(str(tmp_path / "deletes"), [Deletion(f"k{i}", "v.warc.gz", i, "", 1.0)])
    log = load_deletions(str(tmp_path / "deletes"))
    assert log.files == 30 and sorted(log.by_key) == sorted(f"k{i}" for i in range(30))


def _four_files_ingested(tmp_path: Path) -> tuple[Path, str]:
    """f0.txt … f3.txt in tmp_path/in, ingested into the root tmp_path/root; returns both."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        (src / f"f{i}.txt").write_text(f"doc {i}")
    root = str(tmp_path / "root")
    assert main(["--root", root, "--quiet", "ingest", "files", str(src), "--no-ray"]) == 0
    return src, root


def test_delete_and_rebuild_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, root = _four_files_ingested(tmp_path)
    assert main(["--root", root, "catalog", "delete", str(src / "f1.txt")]) == 0
    rows = [json.loads(line) for f in (tmp_path / "root" / "deletes").iterdir() for line in f.read_text().splitlines()]
    assert [r["key"] for r in rows] == [(src / "f1.txt").as_uri()]
    capsys.readouterr()
    assert main(["--root", root, "--quiet", "catalog", "rebuild", "--serial"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt 3 records" in out and "1 captures left out: `catalog delete` removed them" in out
    assert main(["--root", root, "catalog", "ls"]) == 0
    assert capsys.readouterr().out.split() == [(src / f"f{i}.txt").as_uri() for i in (0, 2, 3)]
    # the log is the root's own: a files job over the folder holding the root does not read it
    assert main(["--root", root, "--json", "--quiet", "ingest", "files", str(tmp_path), "--no-ray"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {Path(e["url"]).name for e in out["not_read"]} >= {"deletes", "volumes", "catalog"}


def test_delete_takes_a_list_of_keys_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A takedown list is a file: `--keys-from FILE` (comments and blank lines skipped), beside keys
    given as arguments; no key at all is an error."""
    src, root = _four_files_ingested(tmp_path)
    listed = tmp_path / "takedown.txt"
    listed.write_text(f"# takedown of 2026-11-30\n{(src / 'f0.txt').as_uri()}\n\n{src / 'f2.txt'}\n")
    capsys.readouterr()
    assert main(["--root", root, "catalog", "delete", "--keys-from", str(listed), str(src / "f3.txt")]) == 0
    assert capsys.readouterr().out.strip() == "deleted 3 of 3 keys"
    assert main(["--root", root, "catalog", "delete"]) == 2
    assert "no keys given" in capsys.readouterr().err
    assert main(["--root", root, "catalog", "ls"]) == 0
    assert capsys.readouterr().out.split() == [(src / "f1.txt").as_uri()]


def test_a_moved_root_keeps_its_deletes(tmp_path: Path) -> None:
    """The log names volumes relative to the root, so a root moved (or mounted elsewhere) still leaves
    its deleted captures out; with absolute paths the deleted capture itself no longer matched."""
    import shutil

    live = _build(str(tmp_path / "root"))
    moved = str(tmp_path / "zz-moved")  # sorts after the old path: its captures would look newer
    shutil.move(str(tmp_path / "root"), moved)
    with Store(moved, catalog_dir=str(tmp_path / "rebuilt")) as target:
        report = rebuild(f"{moved}/volumes", target, progress=lambda _: None)
        assert sorted(k for k, *_ in _snapshot(target)) == sorted(k for k, *_ in live)
    assert report.deleted == 3


def test_a_file_indexed_in_place_whose_only_record_is_gone_is_still_counted(
        ray_session: None, tmp_path: Path, shared_data_dir: Path) -> None:
    """The parallel rebuild dropped an in-place file none of whose records it registers before
    counting it: its deleted capture went uncounted, and a corrupt file's skipped records went
    unreported. Both rebuilds now count and report them alike."""
    import shutil

    warcs = tmp_path / "warcs"
    warcs.mkdir()
    for name in ("example-space-in-target-uri.warc.gz", "example-resource.warc.gz"):
        shutil.copy(shared_data_dir / "warc" / name, warcs)
    root = str(tmp_path / "root")
    assert main(["--root", root, "--quiet", "ingest", "warc", str(warcs), "--no-ray"]) == 0
    with Store(root) as store:
        assert store.delete(["file:///example with spaces.png"]) == 1
    damaged = warcs / "example-resource.warc.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    reports = {}
    for name, run in (("serial", rebuild), ("parallel", rebuild_parallel)):
        with Store(root, catalog_dir=str(tmp_path / name), new_meta=fresh_meta(None, 2)) as target:
            reports[name] = run(f"{root}/volumes", target, progress=lambda _: None)
            assert target.catalog.stats()["records"] == 0
    for name, report in reports.items():
        assert report.deleted == 1, name
        assert [s["volume"] for s in report.skipped] == [str(damaged)], name
