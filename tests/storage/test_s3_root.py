"""A deployment root on S3 (moto's standalone server on loopback, real HTTP through s3fs): ingest from
s3:// inputs into volumes, sidecars and run state on s3:// → catalog cat → dedup of the catalog with its
work dir and outputs on s3:// → outputs read back. Plus: sealing a volume is one multipart upload to
its final key (no temporary key, no server-side copy), and a missing bucket is an error, never created."""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
WORDS = ["hay", "bale", "needle", "volume", "catalog", "shard", "warc", "record", "crawl", "data", "seal"]


def haybale(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "haybale", *args], cwd=REPO, capture_output=True, env=env,
                         timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"haybale {' '.join(args)} failed ({out.returncode}): {out.stderr.decode()[-3000:]}")
    return out


def upload_sources(bucket: str, count: int = 60) -> dict[str, bytes]:
    """``count`` text documents on s3://bucket/src/, every fifth one an exact copy of the one before."""
    fs = fsspec.filesystem("s3")
    files = {}
    for i in range(count):
        source = i - 1 if i % 5 == 4 else i
        rng = random.Random(source)
        text = " ".join(rng.choice(WORDS) + str(rng.randrange(10_000)) for _ in range(300)) + "\n"
        url = f"s3://{bucket}/src/doc-{i:04d}.txt"
        fs.pipe_file(url, text.encode())
        files[url] = text.encode()
    return files


def test_ingest_cat_dedup_on_s3(s3_bucket: str, s3_endpoint, tmp_path: Path) -> None:
    files = upload_sources(s3_bucket)
    root = f"s3://{s3_bucket}/hb"
    where = ["--root", root, "--catalog-dir", str(tmp_path / "catalog")]
    summary = json.loads(haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", "--json",
                                 "--volume-bytes", "8000", "--run-id", "r1", *where).stdout)
    assert summary["files"] == summary["added"] == len(files)
    assert summary["volumes"] >= 3, summary["volumes"]

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    keys = fs.find(f"{s3_bucket}/hb")
    volumes = [k for k in keys if k.endswith(".warc.gz")]
    assert len(volumes) == summary["volumes"]
    assert all(f"{v[:-len('.warc.gz')]}.cdxj" in keys for v in volumes), "every volume has its sidecar"
    assert f"{s3_bucket}/hb/runs/r1/plan.json" in keys and f"{s3_bucket}/hb/runs/r1/summary.json" in keys
    assert any("/runs/r1/done/" in k for k in keys)
    assert not [k for k in keys if ".tmp" in k], "no temporary keys left on the store"

    # sealing is a multipart upload to the final key, completed once: no temporary key, no copy
    log = s3_endpoint.log.read_text()
    for volume in volumes:
        name = volume.rsplit("/", 1)[1]
        lines = [ln for ln in log.splitlines() if name in ln]
        assert not [ln for ln in lines if ".tmp" in ln], f"{name} went through a temporary key"
        assert any(re.search(r'"POST [^ ]*\?uploads', ln) for ln in lines), f"{name}: no multipart upload"
        assert any(re.search(r'"POST [^ ]*\?uploadId=', ln) for ln in lines), f"{name}: upload never completed"

    for url, data in list(files.items())[:5]:
        assert haybale("catalog", "cat", url, *where).stdout == data

    out = f"s3://{s3_bucket}/dedup-out"
    dedup = json.loads(haybale("dedup", "run", "--input", "catalog:", "--output", out, "--run-id", "d1",
                               "--quiet", "--json", *where).stdout)
    docs = dedup["documents"]
    assert docs["input"] == len(files)
    assert docs["removed_by_reason"].get("exact_duplicate", 0) + docs["removed_by_reason"].get("near_duplicate", 0) \
        == len(files) // 5
    kept = [pq.read_table(f"s3://{p}", filesystem=None) for p in fs.glob(f"{s3_bucket}/dedup-out/data/*.parquet")]
    assert sum(t.num_rows for t in kept) == docs["kept"] == len(files) - len(files) // 5
    assert fs.find(f"{s3_bucket}/dedup-out/_work/d1/markers"), "the work dir lives on the store too"
    from catalog.store import Store

    with Store(root, catalog_dir=str(tmp_path / "catalog"), read_only=True, create=False) as store:
        statuses = [store.catalog.mark_of(url)[0] for url in files]
    assert statuses.count("removed") == len(files) // 5 and statuses.count("kept") == docs["kept"]


def test_missing_bucket_is_an_error_naming_it(s3_endpoint, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    out = haybale("ingest", "files", "--no-ray", str(src), "--root", "s3://hb-no-such-bucket/hb",
                  "--catalog-dir", str(tmp_path / "cat"), check=False)
    assert out.returncode == 2
    assert "bucket 'hb-no-such-bucket'" in out.stderr.decode() and "never creates buckets" in out.stderr.decode()
    assert not fsspec.filesystem("s3", skip_instance_cache=True).exists("hb-no-such-bucket")


def test_a_volume_is_invisible_until_sealed_and_gone_if_abandoned(s3_bucket: str) -> None:
    from catalog.volume import VolumeWriter
    from catalog.warc_records import resource_record

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    writer = VolumeWriter(f"s3://{s3_bucket}/vols", max_bytes=1 << 30, upload_part_bytes=5 << 20)
    big = random.Random(3).randbytes(12 << 20)  # incompressible: two 5 MiB parts go up before the seal
    writer.append("file:///a", resource_record("file:///a", big))
    writer._fh.flush()
    assert fs.find(f"{s3_bucket}/vols") == [], "an unsealed volume is not visible"
    uploads = fs.call_s3("list_multipart_uploads", Bucket=s3_bucket).get("Uploads", [])
    assert len(uploads) == 1
    (sealed,) = writer.close()
    assert fs.size(sealed.url) == sealed.bytes
    assert not fs.call_s3("list_multipart_uploads", Bucket=s3_bucket).get("Uploads")

    abandoned = VolumeWriter(f"s3://{s3_bucket}/vols2", max_bytes=1 << 30, upload_part_bytes=5 << 20)
    abandoned.append("file:///b", resource_record("file:///b", big))
    abandoned._fh.flush()
    abandoned._discard()  # what an append that fails leaves to clean up
    assert fs.find(f"{s3_bucket}/vols2") == []
    assert not fs.call_s3("list_multipart_uploads", Bucket=s3_bucket).get("Uploads"), "the upload was aborted"


@pytest.mark.slow
def test_a_local_root_is_refused_on_a_multi_node_cluster(tmp_path: Path) -> None:
    from tests.multinode import LoopbackCluster

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    root = str(tmp_path / "root")
    with LoopbackCluster(workers=1, cpus_per_worker=1) as cluster:  # two nodes: the head and a worker
        env = {**cluster.env(), "PYTHONPATH": str(REPO)}
        env.pop("HAYBALE_SHARED_LOCAL_ROOT", None)
        out = subprocess.run([sys.executable, "-m", "haybale", "ingest", "files", str(src), "--root", root],
                             cwd=REPO, env=env, capture_output=True, timeout=300)
        assert out.returncode == 2, out.stderr.decode()[-2000:]
        message = out.stderr.decode()
        assert "is a local path, but this Ray cluster has 2 nodes" in message and "s3://" in message
        env["HAYBALE_SHARED_LOCAL_ROOT"] = "1"  # the operator says every node mounts it (here: one disk)
        ok = subprocess.run([sys.executable, "-m", "haybale", "ingest", "files", str(src), "--root", root,
                             "--json"], cwd=REPO, env=env, capture_output=True, timeout=300)
        assert ok.returncode == 0, ok.stderr.decode()[-2000:]
        assert json.loads(ok.stdout)["added"] == 1


@pytest.mark.parametrize("how", [["--serial"], []], ids=["serial", "ray-job"])
def test_a_delete_outlives_a_rebuild_on_s3(how: list[str], s3_bucket: str, s3_endpoint, tmp_path: Path) -> None:
    """The deletion log lives on the root (s3://…/deletes/), and the rebuild (its Ray tasks too) reads
    the volumes' times from the store to tell a capture from before the delete from one written after it."""
    files = upload_sources(s3_bucket, count=6)
    root = f"s3://{s3_bucket}/hb"
    where = ["--root", root, "--catalog-dir", str(tmp_path / "catalog")]
    haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", "--quiet", *where)
    gone, *kept = sorted(files)
    assert haybale("catalog", "delete", gone, *where).stdout.decode().startswith("deleted 1 of 1")
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    assert len(fs.find(f"{s3_bucket}/hb/deletes")) == 1
    rebuilt = json.loads(haybale("catalog", "rebuild", *how, "--json", "--quiet", "--root", root,
                                 "--catalog-dir", str(tmp_path / "catalog"), "--into", str(tmp_path / "rebuilt")).stdout)
    assert (rebuilt["records"], rebuilt["deleted"], rebuilt["kept_after_delete"]) == (len(kept), 1, [])
    listed = haybale("catalog", "ls", "--root", root, "--catalog-dir", str(tmp_path / "rebuilt")).stdout.decode()
    assert listed.split() == kept


def test_a_rebuild_in_place_on_s3_becomes_the_roots_catalog(s3_bucket: str, s3_endpoint, tmp_path: Path) -> None:
    """The recovery the lost-owner error points to. It used to fail on every remote root: the rebuilt
    catalog took the root's catalog id, and its new, empty owner directories looked like owners whose
    disk was lost. Now it is a new catalog (its own id), which becomes the root's when it replaces the
    old one; jobs then write to it as before, and a `--into` copy opens for reading only."""
    files = upload_sources(s3_bucket, count=6)
    root = f"s3://{s3_bucket}/hb"
    where = ["--root", root, "--catalog-dir", str(tmp_path / "catalog")]
    haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", "--quiet", *where)
    before = json.loads(haybale("catalog", "stats", "--json", *where).stdout)["catalog_id"]
    copy = ["--root", root, "--catalog-dir", str(tmp_path / "copy")]
    haybale("catalog", "rebuild", "--serial", "--quiet", *where, "--into", str(tmp_path / "copy"))
    assert haybale("catalog", "ls", *copy).stdout.decode().split() == sorted(files)
    refused = haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", *copy, check=False)
    assert refused.returncode == 2 and b"holds catalog" in refused.stderr and b"without --into" in refused.stderr
    haybale("catalog", "rebuild", "--serial", "--quiet", *where)
    stats = json.loads(haybale("catalog", "stats", "--json", *where).stdout)
    assert stats["records"] == len(files) and stats["catalog_id"] != before
    fsspec.filesystem("s3").pipe_file(f"s3://{s3_bucket}/src/new.txt", b"new")
    again = json.loads(haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", "--json", "--quiet", *where).stdout)
    assert (again["added"], again["unchanged"]) == (1, len(files))
    assert haybale("catalog", "cat", f"s3://{s3_bucket}/src/new.txt", *where).stdout == b"new"


def test_odd_keys_and_directory_markers_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    """Keys with spaces, unicode, '%', '+', '#', '?' and empty objects are read byte-exact; an empty key
    ending in '/' (a console's "Create folder") is reported as a directory marker, not an unreadable file;
    a key ending in '/' that holds bytes is its own file, never read as its namesake without the '/'; a key
with glob characters named as an input is read, not taken as a pattern."""
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    objects = {"with space.txt": b"space", "\u00fcn\u00efcode.txt": "\u00fcn\u00ef".encode(), "pct%41.txt": b"pct",
               "plus+sign.txt": b"plus", "hash#frag.txt": b"hash", "q?x=1.txt": b"query", "zero.txt": b"",
               "sub/inner.txt": b"inner", "trail": b"the file without a slash", "trail/": b"the object with one"}
    for name, data in objects.items():
        fs.call_s3("put_object", Bucket=s3_bucket, Key=f"src/{name}", Body=data)
    fs.call_s3("put_object", Bucket=s3_bucket, Key="src/folder/", Body=b"")
    where = ["--root", f"s3://{s3_bucket}/hb", "--catalog-dir", str(tmp_path / "catalog")]
    summary = json.loads(haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/src", "--json", "--quiet",
                                 *where).stdout)
    assert summary["rejected"] == []
    assert [(e["url"], "directory marker" in e["reason"]) for e in summary["not_read"]] == \
        [(f"s3://{s3_bucket}/src/folder/", True)]
    assert summary["files"] == summary["added"] == len(objects)
    listed = haybale("catalog", "ls", *where).stdout.decode().splitlines()
    assert listed == sorted(f"s3://{s3_bucket}/src/{name}" for name in objects)
    assert haybale("catalog", "cat", f"s3://{s3_bucket}/src/trail/", *where).stdout == objects["trail/"]
    # a key with glob characters named as an input is that object, not a pattern matching its namesakes
    fs.pipe({f"{s3_bucket}/glob/data[1].txt": b"bracket", f"{s3_bucket}/glob/data1.txt": b"one"})
    named = json.loads(haybale("ingest", "files", "--no-ray", f"s3://{s3_bucket}/glob/data[1].txt", "--json",
                               "--quiet", *where).stdout)
    assert (named["files"], named["added"]) == (1, 1)
    from catalog.store import Store

    with Store(where[1], catalog_dir=where[3], read_only=True, create=False) as store:
        for name, data in objects.items():
            assert store.cat(f"s3://{s3_bucket}/src/{name}") == data, name
        assert store.cat(f"s3://{s3_bucket}/glob/data[1].txt") == b"bracket"
        assert store.catalog.get_many([f"s3://{s3_bucket}/glob/data1.txt"]) == [None]


def test_an_endpoint_that_does_not_answer_is_one_line_naming_it(tmp_path: Path) -> None:
    """An s3:// root, an s3:// ingest input and an s3:// dedup input on an endpoint where nothing listens:
    one line naming the root or input and saying to check the endpoint, never "bucket does not exist"
    (the bucket may well exist) nor an "unexpected ... a bug" line."""
    from tests.s3_server import _free_port

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
           "AWS_MAX_ATTEMPTS": "1"}
    cases = {"root": ["ingest", "files", "--no-ray", str(src), "--root", "s3://hb-down/hb"],
             "input": ["ingest", "files", "--no-ray", "s3://hb-down/src", "--root", str(tmp_path / "root")],
             "dedup": ["dedup", "run", "--input", "s3://hb-down/src", "--output", str(tmp_path / "out")]}
    for what, args in cases.items():
        out = subprocess.run([sys.executable, "-m", "haybale", *args, "--catalog-dir", str(tmp_path / what)],
                             cwd=REPO, env=env, capture_output=True, timeout=120)
        message = out.stderr.decode().strip().splitlines()[-1]
        assert out.returncode in (1, 2), (what, out.returncode, message)
        assert "s3://hb-down/" in message and "cannot be" in message, (what, message)
        assert "does not exist" not in message and "a bug" not in message, (what, message)
