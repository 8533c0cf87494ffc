"""Every job accounts for every record, keeps every field, keeps the latest capture and respects its
error budget — on one shared local Ray.

- dedup on JSONL (real texts, Common Crawl-like fields with a nested object), on WARC/WET and on the
  catalog: ``records == kept + removed + quarantined`` and the output's rows and removal report add up;
  every field but id and text comes back in ``metadata``, nested objects included, and an output read
  back as input keeps its metadata; ``--url-field`` / ``--id-field`` work for each format.
- ingest files / warc in place / warc repack: per file, records read = indexed + repacked + skipped +
  quarantined records (quarantine entries marked ``record``; the others are byte ranges holding none).
- captures: three captures of one URL given in an order that is not their dates' keep the latest and
  the summary counts two replaced; ``catalog rebuild`` keeps the same.
- ``--max-errors 0`` with a bad file among good ones: exit 1, nothing of the split registered, nothing
  of it left on disk.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.rebuild import rebuild
from catalog.store import Store
from haybale.cli import main as haybale_main
from ingest.files_job import FilesJobConfig, run_files_job
from ingest.warc_job import WarcJobConfig, run_warc_job
from tests.conftest import shared_data
from tests.integrity.reference import http_response, write_warc

pytestmark = pytest.mark.ray


def _dedup(out: Path, *args: str) -> dict:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = haybale_main(["dedup", "run", "--output", str(out), "--quiet", "--json", *args])
    assert code == 0
    summary = json.loads(printed.getvalue())
    assert summary["documents"] == json.loads((out / "summary.json").read_text())["documents"]
    return summary


def _adds_up(summary: dict, out: Path) -> None:
    docs = summary["documents"]
    assert docs["records"] == docs["kept"] + docs["removed"] + docs["quarantined"]
    assert docs["input"] == docs["kept"] + docs["removed"]
    assert pq.read_table(out / "data").num_rows == docs["kept"]
    assert pq.read_table(out / "removed").num_rows == docs["removed"]
    assert pq.read_table(out / "quarantine.parquet").num_rows == docs["quarantined"]


def _cc_like_jsonl(path: Path) -> list[dict]:
    """Real texts (neardup-core) in Common Crawl-like records: fields, a nested object, a list, nulls."""
    with gzip.open(shared_data() / "neardup-core" / "docs.jsonl.gz", "rt") as fh:
        docs = [json.loads(line) for line in fh][:60]
    records = []
    for n, doc in enumerate(docs):
        record = {"id": doc["id"], "text": doc["text"], "added": f"2024-05-{n % 28 + 1:02d}T00:00:00Z",
                  "created": None, "source": "common-crawl", "page_url": f"https://site{n % 7}.example/{n}",
                  "metadata": {"warc": {"offset": n * 1000, "lang": ["en", "de"][n % 2]}, "score": n / 10}}
        if n % 5 == 0:
            record["extra"] = [1, {"deep": True}]
        records.append(record)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def test_dedup_keeps_every_field_and_counts_add_up(ray_session: None, tmp_path: Path) -> None:
    records = _cc_like_jsonl(tmp_path / "cc.jsonl")
    out = tmp_path / "out-jsonl"
    summary = _dedup(out, "--input", str(tmp_path / "cc.jsonl"), "--url-field", "page_url")
    _adds_up(summary, out)
    by_id = {r["id"]: r for r in records}
    kept = pq.read_table(out / "data").to_pylist()
    assert kept
    for row in kept:
        original = by_id[row["id"]]
        assert {**json.loads(row["metadata"]), "id": row["id"], "text": row["text"]} == original
        assert row["url"] == original["page_url"]

    # the output read back as input keeps its metadata as it was (no nesting)
    again = tmp_path / "out-again"
    summary2 = _dedup(again, "--input", str(out / "data"))
    _adds_up(summary2, again)
    second = {r["id"]: r for r in pq.read_table(again / "data").to_pylist()}
    for row in kept:
        assert json.loads(second[row["id"]]["metadata"]) == json.loads(row["metadata"])

    # Parquet with struct, list and timestamp columns, and its own id/url column names
    table = pa.table({"doc": [r["id"] for r in records], "text": [r["text"] for r in records],
                      "link": [r["page_url"] for r in records],
                      "info": [{"lang": "en", "tags": ["a", str(n)]} for n in range(len(records))],
                      "seen": pa.array([1_700_000_000_000_000 + n for n in range(len(records))], pa.timestamp("us"))})
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "a.parquet")
    out_pq = tmp_path / "out-pq"
    summary3 = _dedup(out_pq, "--input", str(tmp_path / "pq"), "--id-field", "doc", "--url-field", "link")
    _adds_up(summary3, out_pq)
    row = pq.read_table(out_pq / "data").to_pylist()[0]
    meta = json.loads(row["metadata"])
    assert meta["info"]["tags"][0] == "a" and meta["link"] == row["url"] and meta["seen"].startswith("2023-11-14T")


def test_dedup_on_warc_and_catalog_counts_add_up_with_fields(ray_session: None, tmp_path: Path) -> None:
    warc = shared_data() / "warc"
    inputs = ["dolma-wget-sample-0000.warc.gz", "whirlwind.warc.gz", "whirlwind.warc.wet.gz", "example.arc.gz",
              "example-wrong-chunks.warc.gz", "example-iana.org-chunked.warc"]
    args = [a for name in inputs for a in ("--input", str(warc / name))]
    out = tmp_path / "out-warc"
    summary = _dedup(out, *args, "--id-field", "WARC-Payload-Digest")
    _adds_up(summary, out)
    rows = pq.read_table(out / "data").to_pylist()
    assert all(json.loads(r["metadata"])["warc_headers"]["WARC-Payload-Digest"] == r["id"] for r in rows)
    texts = " ".join(r["text"] for r in rows)
    assert "7d72 Homepage" not in texts and "\r\n0\r\n" not in texts  # chunk sizes are not text

    root = str(tmp_path / "root")
    with Store(root) as store:
        run_warc_job(store, [str(warc / n) for n in inputs], WarcJobConfig(run_id="w"), show_progress=False)
    out_c = tmp_path / "out-catalog"
    summary_c = _dedup(out_c, "--root", root, "--input", "catalog:")
    _adds_up(summary_c, out_c)
    with Store(root, read_only=True) as store:
        marked = sum(1 for key, _ in store.catalog.items() if store.catalog.mark_of(key))
        assert marked == summary_c["documents"]["input"] == summary_c["catalog_marks"]
    out_k = tmp_path / "out-catalog-ids"
    summary_k = _dedup(out_k, "--root", root, "--input", "catalog:", "--run-id", "ids", "--id-field",
                       "WARC-Record-ID", "--url-field", "WARC-Target-URI")
    _adds_up(summary_k, out_k)
    assert "catalog_marks_skipped" in summary_k
    ids = [r["id"] for r in pq.read_table(out_k / "data").to_pylist()]
    assert all(i.startswith("<urn:") for i in ids)


def test_ingest_jobs_account_for_every_record(ray_session: None, tmp_path: Path) -> None:
    src = shared_data() / "tfeval-dev" / "html"
    with Store(str(tmp_path / "files")) as store:
        summary = run_files_job(store, [str(src)], FilesJobConfig(run_id="f"), show_progress=False)
        assert summary.files == len(list(src.glob("*.html.gz"))) == summary.added and not summary.rejected
        assert store.catalog.stats()["records"] == summary.files
    warc = shared_data() / "warc"
    for repack in (False, True):
        with Store(str(tmp_path / f"warc-{repack}")) as store:
            summary = run_warc_job(store, [str(warc)], WarcJobConfig(run_id="w", repack=repack), show_progress=False)
            for url, f in summary.per_file.items():
                assert f["records"] == f["indexed"] + f["repacked"] + f["skipped"] + f["quarantined_records"], url
                entries = [q for q in summary.quarantine if q["file"] == url]
                assert f["quarantined"] == len(entries)
                assert f["quarantined_records"] == sum(q["record"] for q in entries)
            if repack:
                assert summary.unkeyed_copied == sum(summary.skipped.values())


def _captures(tmp_path: Path) -> list[Path]:
    pages = [gzip.decompress(p.read_bytes()) for p in sorted((shared_data() / "aeb-dev" / "html").glob("*.gz"))[:4]]
    url = "https://news.example/story"
    ctype = [("Content-Type", "text/html; charset=utf-8")]
    a, b = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    write_warc(a, [http_response(url, pages[0], ctype, "2024-03-01T00:00:00Z"),
                   http_response(url, pages[1], ctype, "2024-06-01T00:00:00Z"),  # the latest
                   http_response("https://news.example/other", pages[3], ctype, "2024-01-01T00:00:00Z")])
    write_warc(b, [http_response(url, pages[2], ctype, "2024-01-01T00:00:00Z")])  # last in input, oldest
    return [a, b]


def test_latest_capture_by_warc_date_is_kept_and_replaced_ones_counted(ray_session: None, tmp_path: Path) -> None:
    files = _captures(tmp_path)
    latest = gzip.decompress(sorted((shared_data() / "aeb-dev" / "html").glob("*.gz"))[1].read_bytes())
    root = str(tmp_path / "root")
    with Store(root) as store:
        summary = run_warc_job(store, [str(p) for p in files], WarcJobConfig(run_id="c", split_files=1),
                               show_progress=False)
        assert summary.captures_replaced == 2 and summary.indexed == 4
        assert store.cat("https://news.example/story") == latest
        again = run_warc_job(store, [str(files[1])], WarcJobConfig(run_id="c2"), show_progress=False)
        assert again.captures_replaced == 1 and store.cat("https://news.example/story") == latest
    with Store(root, catalog_dir=str(tmp_path / "rebuilt")) as target:
        rebuild(str(Path(root, "volumes")), target, progress=lambda _: None)
        assert target.cat("https://news.example/story") == latest


def test_error_budget_decides_before_registration(ray_session: None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    warc = shared_data() / "warc"
    good, bad = warc / "whirlwind.warc.gz", warc / "bad.arc"
    root = tmp_path / "root"
    code = haybale_main(["ingest", "warc", str(good), str(bad), "--root", str(root), "--max-errors", "0",
                         "--run-id", "b", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "--max-errors 0" in err and "nothing of that split was registered" in err
    assert "bad.arc" in err
    with Store(str(root), read_only=True) as store:
        assert store.catalog.stats()["records"] == 0
    leftovers = [p for p in (root / "volumes").rglob("*") if p.is_file()] + \
        [p for p in (root / "indexes").rglob("*") if p.is_file()]
    assert leftovers == []
    lines = (root / "runs" / "b" / "quarantine.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all("bad.arc" in line for line in lines)
