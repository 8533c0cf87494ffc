"""``catalog rebuild`` as a Ray job (catalog/rebuild_parallel.py) gives the catalog the serial rebuild
gives, key for key: captures of one key in several volumes (latest WARC-Date wins, ties to the later
volume), a corrupted record skipped, a volume without its sidecar scanned, many volumes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.location import Location
from catalog.rebuild import rebuild
from catalog.rebuild_parallel import rebuild_parallel
from catalog.store import Store
from catalog.warc_records import resource_record, response_record

REPO = Path(__file__).resolve().parents[2]


def build_root(root: str) -> tuple[list[str], Location]:
    """12 volumes: 40 keys each, keys shared between volumes with dates that do not follow volume
    order; one record corrupted, one sidecar deleted. Returns the keys and the corrupted location."""
    keys = []
    with Store(root) as store:
        writer = store.writer(max_bytes=6_000)
        sealed = []
        for i in range(480):
            key = f"https://site{i % 3}.example/page/{i % 300}"
            keys.append(key)
            body = f"capture {i} of {key} ".encode() * (5 + i % 11)
            date = 1_600_000_000 + ((i * 7919) % 480) * 3600 if i % 5 else 1_600_000_000  # ties too
            record = response_record(key, "HTTP/1.1 200 OK", [("Content-Type", "text/plain")], body,
                                     fetched_at=date)
            sealed += writer.append(key, record)
        for i in range(30):
            sealed += writer.append(f"file:///docs/{i}.txt", resource_record(f"file:///docs/{i}.txt", b"doc %d" % i))
        sealed += writer.close()
        for s in sealed:
            store.register_sealed(s, dates=[None] * len(s.records))
        victim = store.catalog.get("https://site1.example/page/10")
        url = store.volume_url(victim.volume)
        os.unlink(sealed[-2].sidecar)
    with open(url, "r+b") as fh:
        fh.seek(victim.offset + victim.length // 2)
        byte = fh.read(1)
        fh.seek(victim.offset + victim.length // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert len(sealed) >= 10
    return keys, victim


def snapshot(store: Store) -> list[tuple]:
    return [(k, store.volume_url(loc.volume), loc.offset, loc.length, loc.digest) for k, loc in store.catalog.items()]


def test_parallel_rebuild_equals_the_serial_rebuild(ray_session: None, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    keys, victim = build_root(root)
    volumes_url = f"{root}/volumes"
    with Store(root, catalog_dir=str(tmp_path / "serial")) as serial:
        expected = rebuild(volumes_url, serial, progress=lambda _: None)
        want = snapshot(serial)
    with Store(root, catalog_dir=str(tmp_path / "parallel")) as parallel:
        got = rebuild_parallel(volumes_url, parallel, progress=lambda _: None, max_in_flight=3)
        assert snapshot(parallel) == want
        assert parallel.catalog.stats()["records"] == len(want)
        assert parallel.cat("file:///docs/4.txt") == b"doc 4"
    assert got.records == expected.records == len(want)
    assert got.volumes == expected.volumes >= 10
    assert got.skipped == expected.skipped and [s["offset"] for s in got.skipped] == [victim.offset]
    assert got.scanned_without_sidecar == expected.scanned_without_sidecar and len(got.scanned_without_sidecar) == 1
    assert got.records + got.duplicates == 480 + 30 - 1  # every good record: a key's winner or replaced
    distinct = set(keys) | {f"file:///docs/{i}.txt" for i in range(30)}
    assert len(want) == len(distinct)  # the corrupted capture was not its key's only one


@pytest.mark.slow
def test_the_rebuild_command_runs_the_parallel_job(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    build_root(root)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "haybale", "catalog", "rebuild", "--root", root, "--json",
                          "--quiet", "--num-cpus", "2"], cwd=REPO, env=env, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    report = json.loads(out.stdout)
    assert report["volumes"] >= 10 and report["skipped"] == 1 and report["previous_catalog"]
    with Store(root, catalog_dir=str(tmp_path / "serial")) as serial:
        rebuild(f"{root}/volumes", serial, progress=lambda _: None)
        want = snapshot(serial)
    with Store(root, read_only=True, create=False) as rebuilt:
        assert snapshot(rebuilt) == want
