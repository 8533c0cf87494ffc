"""A big WARC split registered on whole columns (ingest.warc_bulk_registration, owners' write-if-absent)
gives exactly what the per-key path gives: the same catalog, counts, replaced captures and swept volumes,
for new keys, reruns (same digests), later and earlier captures of stored keys; a capture another job
registers between the owners' check and the decision of the keys found is never overwritten blindly;
and the owner's subset of a prepared batch keeps its rows whole."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ingest.warc_bulk_registration as bulk_registration
from catalog.bulk_prepare import prepare_bulk_columns
from catalog.location import Location, pack_many
from catalog.owner_new_captures import subset_batch
from catalog.store import Store
from catalog.volume import SealedVolume
from catalog.warc_records import response_record
from ingest.warc_indexing import WarcSplitResult
from ingest.warc_registration import register_warc_split

OLD, MID, NEW = "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-06-01T00:00:00Z"


def _seal(store: Store, urls: list[str], date: str, tag: str, body: str) -> SealedVolume:
    moment = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    writer = store.writer(name_prefix=f"bulk-{tag}")
    sealed = []
    for url in urls:
        sealed += writer.append(url, response_record(url, "HTTP/1.1 200 OK", [("Content-Type", "text/html")],
                                                     f"<p>{body} {url}</p>".encode(), fetched_at=moment))
    sealed += writer.close()
    assert len(sealed) == 1
    return sealed[0]


def _split(index: int, sealed: SealedVolume, date: str) -> WarcSplitResult:
    n = len(sealed.records)
    return WarcSplitResult(split=index, sealed=[sealed], repack_sources=[(0, i) for i in range(n)],
                           repack_dates=[date] * n)


def _tag(url: str) -> str:
    """``.../bulk-later-<time>-<random>-00001.warc.gz`` -> ``later`` (names differ from run to run)."""
    return Path(url).name.split("-")[1]


def _scenario(root: Path, columns: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Five splits into a fresh root: new keys; a rerun of the first (same digests); later captures of
    half the keys plus new ones; earlier captures of other keys (the stored ones stay: the volume is
    dropped); a mix of reruns and later captures. Registered by the column path or the per-key one."""
    monkeypatch.setattr(bulk_registration, "BULK_MIN_CAPTURES", 1 if columns else 10**9)
    urls = [f"https://bulk{n % 7}.example/p/{n}" for n in range(60)]
    out: dict[str, Any] = {"registrations": []}
    with Store(str(root)) as store:
        first = _seal(store, urls[:40], MID, "first", "a")
        splits = [_split(0, first, MID), _split(1, first, MID),
                  _split(2, _seal(store, urls[20:60], NEW, "later", "b"), NEW),
                  _split(3, _seal(store, urls[:20], OLD, "earlier", "c"), OLD)]
        mixed = _seal(store, urls[:10], MID, "mixed", "a")  # same payloads as the first: same digests
        splits.append(_split(4, mixed, MID))
        for split in splits:
            registration, fields = register_warc_split(store, split, "run")
            out["registrations"].append(
                {"counts": (registration.added, registration.updated, registration.unchanged),
                 "kept": sorted(_tag(v.url) for v in registration.kept),
                 "dropped": sorted(_tag(v.url) for v in registration.dropped),
                 "volumes": sorted(_tag(u) for u in registration.volume_urls),
                 "replaced": fields["captures_replaced"]})
        out["catalog"] = [(_tag(store.volume_url(loc.volume)), loc.digest)
                          if loc is not None else None for loc in store.get_many(urls)]
        out["dates"] = [store.read(u)[0].header("WARC-Date") for u in urls]
        out["records"] = store.stats()["records"]
    return out


def test_the_column_path_registers_exactly_what_the_per_key_path_does(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    by_columns = _scenario(tmp_path / "columns", True, monkeypatch)
    per_key = _scenario(tmp_path / "per-key", False, monkeypatch)
    assert by_columns == per_key
    regs = by_columns["registrations"]
    assert regs[0]["counts"] == (40, 0, 0) and regs[1]["counts"] == (0, 0, 40)  # new, then a rerun
    assert regs[2]["replaced"] == 20 and regs[3]["replaced"] == 20
    assert regs[3]["dropped"]  # every capture of that split is earlier than the stored one
    assert by_columns["dates"] == [MID] * 20 + [NEW] * 40
    assert by_columns["records"] == 60


def test_a_capture_registered_between_the_owners_check_and_the_decision_is_not_overwritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A's split: its keys are found (stored OLD) and handed back; B registers NEW captures of them
    before A decides; A's MID captures must lose (the conditional write sees B's and decides again)."""
    monkeypatch.setattr(bulk_registration, "BULK_MIN_CAPTURES", 1)
    urls = [f"https://race.example/bulk/{n}" for n in range(8)]
    with Store(str(tmp_path / "root")) as a:  # another job = another writer of the same owners
        b = a
        register_warc_split(a, _split(0, _seal(a, urls, OLD, "old", "o"), OLD), "setup")
        mid, new = _seal(a, urls, MID, "mid", "m"), _seal(b, urls, NEW, "new", "n")
        real = bulk_registration.decide_and_write
        raced: list[bool] = []

        def b_registers_first(store: Any, captures: Any, stored: Any) -> Any:
            if not raced:
                raced.append(True)
                register_warc_split(b, _split(0, new, NEW), "b")
            return real(store, captures, stored)
        monkeypatch.setattr(bulk_registration, "decide_and_write", b_registers_first)
        registration, fields = register_warc_split(a, _split(0, mid, MID), "a")
        assert raced
        assert [a.read(u)[0].header("WARC-Date") for u in urls] == [NEW] * len(urls)
        assert registration.dropped and fields["captures_replaced"] == len(urls)


def test_a_subset_of_a_prepared_batch_keeps_each_row_whole() -> None:
    keys = [f"https://h{n % 5}.example/{'x' * (n % 9)}/{n}" for n in range(200)]
    locations = pack_many(np.arange(200, dtype=np.uint32), np.arange(200, dtype=np.uint64) * 10,
                          np.full(200, 7, np.uint32), np.arange(200, dtype=np.uint64))
    batch = prepare_bulk_columns(keys, locations, np.zeros(1 << 16, np.int64)).shards[0]
    keep = np.arange(200) % 3 != 1
    part = subset_batch(batch, keep)
    rows = np.flatnonzero(keep)
    assert len(part) == len(rows)
    for j, i in enumerate(rows.tolist()):
        assert part.ids[j * 16:(j + 1) * 16] == batch.ids[i * 16:(i + 1) * 16]
        assert part.locations[j * 22:(j + 1) * 22] == batch.locations[i * 22:(i + 1) * 22]
        assert part.listing_at(j) == batch.listing_at(i)
    assert len(subset_batch(batch, np.zeros(200, bool))) == 0
    assert Location.unpack(part.locations[:22]) == Location.unpack(batch.locations[:22])


def _in_place_registration(root: Path, warc: Path, columns: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from ingest.file_sources import FileRef, Split
    from ingest.warc_indexing import IndexOptions, index_split

    monkeypatch.setattr(bulk_registration, "BULK_MIN_CAPTURES", 1 if columns else 10**9)
    with Store(str(root)) as store:
        split = Split(0, (FileRef(str(warc), warc.stat().st_size, warc.as_uri()),))
        out = []
        for _attempt in range(2):  # the second: a rerun of the same split changes nothing
            result = index_split(split, store.layout.run_volumes_url("r"), store.layout.run_indexes_url("r"),
                                 IndexOptions())
            registration, fields = register_warc_split(store, result, "r")
            out.append(((registration.added, registration.updated, registration.unchanged),
                        [Path(u).name for u in registration.volume_urls], fields))
        urls = [key for key, _, _, _ in result.external[0].records]
        out.append([(loc.offset, loc.length, loc.digest) for loc in store.get_many(urls)])
    return {"runs": out}


def test_an_in_place_file_registers_alike_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A WARC indexed in place (gzip per record, as the ingest benchmark makes them): the same
    locations, counts and markers through the column path and the per-key one, first run and rerun."""
    import random

    from bench.warc_ingest_bench import _record

    rng = random.Random(3)
    warc = tmp_path / "small.warc.gz"
    warc.write_bytes(b"".join(_record(rng, ["alpha", "beta", "gamma"], 0, i) for i in range(300)))
    by_columns = _in_place_registration(tmp_path / "columns", warc, True, monkeypatch)
    per_key = _in_place_registration(tmp_path / "per-key", warc, False, monkeypatch)
    assert by_columns == per_key
    assert by_columns["runs"][0][0] == (300, 0, 0) and by_columns["runs"][1][0] == (0, 0, 300)
