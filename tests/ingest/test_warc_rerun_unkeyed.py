"""A rerun of ``ingest warc`` under a new run id stores a repacked file's records without keys once.

A repack copies every record, also those without a key (warcinfo, request, metadata, revisit); they are
kept in a volume all the same. A second run over the same file (``--repack``, or a file that must be
repacked, e.g. gzipped as one stream) wrote a new volume each time: its keyed records unchanged in the
catalog (so unreferenced) and its records without keys copies of those the first run's volume holds —
the file's bytes stored again on every rerun. Such a volume is now dropped (``unkeyed_held`` in the
summary); a changed file, whose records differ, is kept.
"""
from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from catalog.store import Store
from ingest.warc_job import WarcJobConfig, WarcJobSummary, run_warc_job


def _stored(root: Path) -> Counter[str]:
    """How often each WARC-Record-ID is stored in the root's volumes."""
    ids: Counter[str] = Counter()
    for volume in sorted(root.glob("volumes/*/*.warc.gz")):
        with volume.open("rb") as fh:
            ids.update(r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(fh))
    return ids


def _run(root: Path, path: Path, run_id: str, repack: bool) -> WarcJobSummary:
    with Store(str(root)) as store:
        return run_warc_job(store, [str(path)], WarcJobConfig(run_id=run_id, repack=repack), show_progress=False,
                            local=True)


def test_rerun_under_a_new_run_id_stores_records_without_keys_once(shared_data_dir: Path, tmp_path: Path) -> None:
    """A file gzipped as one stream is repacked without ``--repack`` (``--repack`` takes the same path)."""
    plain = (shared_data_dir / "warc" / "example.warc").read_bytes()  # 6 records: 1 response, 5 without keys
    path = tmp_path / "in.warc.gz"
    path.write_bytes(gzip.compress(plain))
    root, repack = tmp_path / "root", False
    first = _run(root, path, "a", repack)
    assert (first.repacked, first.unkeyed_copied, first.unkeyed_held, first.volumes) == (1, 5, 0, 1)
    once = _stored(root)
    assert len(once) == 6 and set(once.values()) == {1}
    again = _run(root, path, "b", repack)
    assert (again.records, again.unchanged, again.unkeyed_copied, again.unkeyed_held) == (6, 1, 5, 5)
    assert (again.volumes, again.unreferenced_volumes_removed) == (0, 1)
    assert _stored(root) == once  # nothing stored twice
    assert _run(root, path, "b", repack).splits_skipped_done == 1 and _stored(root) == once
    # the same file changed since (one request's User-Agent): its records differ, so they are kept
    changed = plain.replace(b"Safari/537.36", b"Safari/537.99", 1)
    assert changed != plain
    path.write_bytes(gzip.compress(changed))
    third = _run(root, path, "c", repack)
    assert (third.unkeyed_held, third.volumes) == (0, 1)
    assert sum(_stored(root).values()) == 12
    with Store(str(root)) as store:
        assert b"Example Domain" in store.cat("http://example.com/")  # its volume was kept
