"""Owner checkpoint and restore against an S3-protocol server (moto's, on loopback, started here).

One owner holding N entries (bulk-registered, as the workers register): a full checkpoint, then
N/10 more entries registered after it from sidecars on the root (``--replay-volumes`` volumes), an
incremental checkpoint is *not* taken; the owner's directory is lost and the owner is restored on
a fresh directory: download of the checkpoint, then the replay of the volumes since its watermark.
Also an incremental checkpoint after the restore (only new files go up). Prints one JSON object.

    python -m bench.owner_checkpoint_bench --entries 1000000

moto on loopback is no model of S3 bandwidth or latency: the upload/download seconds here measure
haybale's side (flush, RocksDB checkpoint, file transfer through s3fs on one machine).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def _keys(prefix: str, n: int) -> list[str]:
    return [f"https://site{i % 997}.example/{prefix}/{i}" for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--replay-volumes", type=int, default=20)
    args = parser.parse_args(argv)

    from tests import s3_server

    s3_server.configure_environment()
    server = s3_server.start_server()
    work = Path(tempfile.mkdtemp(prefix="hb-ckpt-bench-"))
    try:
        server.make_bucket("bench")
        result = run("s3://bench/hb", work, args.entries, args.replay_volumes)
        result["command"] = f"python -m bench.owner_checkpoint_bench --entries {args.entries} " \
                            f"--replay-volumes {args.replay_volumes}"
        print(json.dumps(result, indent=1))
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        (results / "owner_checkpoint_bench.json").write_text(json.dumps(result, indent=1))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(root: str, work: Path, entries: int, replay_volumes: int) -> dict:
    import fsspec

    from catalog.catalog_meta import ensure_meta, owner_dir
    from catalog.cdxj import external_cdxj_line
    from catalog.location import Location
    from catalog.owned_catalog import OwnedCatalog
    from catalog.owner_actor import open_or_restore
    from catalog.owner_checkpoint import checkpoint_owner, log_volume_row

    meta = ensure_meta(root, 1)
    out: dict = {"entries": entries, "cores": os.cpu_count(), "load_avg": os.getloadavg()[0]}
    catalog = OwnedCatalog.local(root, work / "node-a", meta)
    keys = _keys("base", entries)
    locs = [Location(1, i * 100, 100, i + 1) for i in range(entries)]
    t = time.perf_counter()
    catalog.register_bulk_entries(keys, locs)
    out["register_seconds"] = time.perf_counter() - t
    store = catalog._eps[0].store
    manifest = checkpoint_owner(store, root, 2)
    out["checkpoint_full"] = {k: manifest[k] for k in ("seconds", "uploaded_bytes", "reused_bytes", "records")}
    # registered after the checkpoint: real sidecars on the root, rows logged as owner 0 logs them
    extra = max(1, entries // 10)
    per = -(-extra // replay_volumes)
    fs, _ = fsspec.core.url_to_fs(root)
    for v in range(replay_volumes):
        number = 2 + v
        vkeys = _keys(f"after{v}", per)
        side = f"{root}/volumes/bench/v{v:04d}.cdxj"
        fs.pipe_file(side, "".join(external_cdxj_line(k, record_type="resource", content_type="text/plain",
                                                      date="2026-11-29T00:00:00Z", offset=j * 100, length=100,
                                                      digest=j + 7, filename=side) for j, k in enumerate(vkeys))
                     .encode())
        row = {"number": number, "url": side[:-5] + ".warc.gz", "sidecar": side, "kind": "volume"}
        store.catalog.volumes.restore_row(row)
        log_volume_row(root, meta.catalog_id, row)
        catalog.register_bulk_entries(vkeys, [Location(number, j * 100, 100, j + 7) for j in range(per)])
    total = catalog.stats()["records"]
    catalog.close()
    out["records_before_loss"] = total
    # the node is gone: restore on a fresh disk
    t = time.perf_counter()
    restored, report = open_or_restore(root, meta, 0, owner_dir(work / "node-b", 0))
    out["restore_seconds"] = time.perf_counter() - t
    out["restore"] = {k: report[k] for k in ("download_seconds", "replay_seconds", "records_replayed", "added",
                                             "unchanged", "volumes_replayed")}
    out["records_after_restore"] = restored.stats()["records"]
    assert out["records_after_restore"] == total, (out["records_after_restore"], total)
    out["replay_records_per_second"] = report["records_replayed"] / max(report["replay_seconds"], 1e-9)
    manifest = checkpoint_owner(restored, root, 2 + replay_volumes)
    out["checkpoint_after_restore"] = {k: manifest[k] for k in ("seconds", "uploaded_bytes", "reused_bytes")}
    restored.close()
    return out


if __name__ == "__main__":
    main()
