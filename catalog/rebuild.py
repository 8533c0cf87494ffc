"""Rebuild a catalog from storage alone: the volumes and their CDXJ sidecars.

The catalog is an index, never the only copy of where data lives. :func:`rebuild` lists the sealed
volumes under a volume store (temporary files of unsealed volumes are ignored), reads each volume's
sidecar — or, when the sidecar is missing or unreadable, scans the volume's gzip members — verifies
every record (gzip CRC, WARC header, payload digest) and registers the good ones in a new catalog.
Records that fail verification are skipped and reported with volume, offset and reason.

Files indexed in place (external WARCs, not written by us) have CDXJ index files under
``ROOT/indexes/`` (one per file and run, each line's ``filename`` the file's URL); :func:`rebuild`
re-registers their records too, verified the same way, after the volumes. Of several captures of one
key the latest by WARC-Date (the sidecar line's timestamp) is kept, as the ingest job keeps it.
"""
from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import fsspec

from catalog.cdxj import SIDECAR_SUFFIX, CdxEntry, parse_cdxj, sidecar_url
from catalog.errors import CatalogError, CorruptRecordError, VolumeError
from catalog.location import Location
from catalog.storage import TMP_SUFFIX, url_of
from catalog.store import Store
from catalog.volume import VOLUME_SUFFIX, SealedVolume, VolumeReader
from catalog.warc_records import KEYED_RECORD_TYPES, parse_record, payload_digest


@dataclass
class RebuildReport:
    volumes: int = 0
    external_files: int = 0  # files indexed in place, found through ROOT/indexes
    records: int = 0
    duplicates: int = 0  # records whose key an earlier volume already held (re-ingests)
    skipped: list[dict[str, object]] = field(default_factory=list)
    scanned_without_sidecar: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"volumes": self.volumes, "external_files": self.external_files, "records": self.records,
                "duplicates": self.duplicates, "skipped": len(self.skipped),
                "skipped_records": self.skipped, "scanned_without_sidecar": self.scanned_without_sidecar,
                "seconds": round(self.seconds, 3)}


def list_volumes(volumes_url: str) -> list[str]:
    """URLs of sealed volumes under ``volumes_url``, sorted by name (creation order)."""
    fs, root = fsspec.core.url_to_fs(volumes_url)
    if not fs.exists(root):
        return []
    names = [p for p in fs.find(root) if p.endswith(VOLUME_SUFFIX) and not p.endswith(TMP_SUFFIX)]
    return [url_of(fs, p, volumes_url) for p in sorted(names)]


def default_indexes_url(volumes_url: str) -> str:
    """``ROOT/indexes`` for the volume store ``ROOT/volumes``."""
    return volumes_url.rstrip("/").rsplit("/", 1)[0] + "/indexes"


def list_external_indexes(indexes_url: str) -> list[str]:
    """URLs of the in-place index files (``*.cdxj``) under ``indexes_url``, sorted (by run, then name)."""
    fs, root = fsspec.core.url_to_fs(indexes_url)
    if not fs.exists(root):
        return []
    names = sorted(p for p in fs.find(root) if p.endswith(SIDECAR_SUFFIX))
    return [url_of(fs, p, indexes_url) for p in names]


def _rebuild_external(index_url: str, target: Store, reader: VolumeReader, report: RebuildReport) -> int:
    """Register the verified records of one in-place index file; returns how many were good."""
    fs, path = fsspec.core.url_to_fs(index_url)
    try:
        text = fs.cat_file(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        report.skipped.append({"volume": index_url, "offset": None, "reason": f"index is not UTF-8: {exc}"})
        return 0
    by_file: dict[str, list[CdxEntry]] = {}
    for item in parse_cdxj(text, index_url):
        if isinstance(item, tuple):
            report.skipped.append({"volume": index_url, "offset": None, "reason": item[1]})
        else:
            by_file.setdefault(str(item.fields.get("filename", "")), []).append(item)
    good_total = 0
    for url, entries in by_file.items():
        good, dates = [], []
        for e in entries:
            try:
                reader.read(url, Location(0, e.offset, e.length, e.digest))
            except VolumeError as exc:  # corrupt record, or the file is gone
                report.skipped.append({"volume": url, "offset": e.offset, "reason": str(exc)})
                continue
            good.append((e.key, e.offset, e.length, e.digest))
            dates.append(e.timestamp)
        if not good:
            continue
        size = max(o + n for _, o, n, _ in good)
        result = target.register_sealed(SealedVolume(url, size, good, index_url,
                                                     {"kind": "external", "rebuilt": True}), dates=dates)
        report.external_files += 1
        report.records += result.added
        report.duplicates += result.unchanged + result.updated
        good_total += len(good)
    return good_total


def scan_members(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset, length) of each gzip member in a volume's bytes; stops at the first bad member."""
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        try:
            d.decompress(data[pos:])
        except zlib.error:
            return
        if not d.eof:
            return
        length = len(data) - pos - len(d.unused_data)
        yield pos, length
        pos += length


def _entries_from_sidecar(url: str, report: RebuildReport) -> list[CdxEntry] | None:
    side = sidecar_url(url)
    fs, path = fsspec.core.url_to_fs(side)
    try:
        text = fs.cat_file(path).decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    entries: list[CdxEntry] = []
    for item in parse_cdxj(text, side):
        if isinstance(item, tuple):
            report.skipped.append({"volume": url, "offset": None, "reason": item[1]})
        else:
            entries.append(item)
    return entries


def _entries_by_scanning(url: str, report: RebuildReport) -> list[CdxEntry]:
    fs, path = fsspec.core.url_to_fs(url)
    data = fs.cat_file(path)
    entries = []
    end = 0
    for offset, length in scan_members(data):
        end = offset + length
        try:
            rec = parse_record(data[offset:end], source=url, offset=offset)
        except CorruptRecordError as exc:
            report.skipped.append({"volume": url, "offset": offset, "reason": str(exc)})
            continue
        if rec.record_type not in KEYED_RECORD_TYPES:
            continue  # a repacked request/metadata/warcinfo record: stored, never registered
        key = (rec.header("WARC-Target-URI") or "").strip()
        if key.startswith("<") and key.endswith(">"):
            key = key[1:-1].strip()  # wget's <...>, kept as is by a faithful repack
        if not key:
            report.skipped.append({"volume": url, "offset": offset, "reason": "no WARC-Target-URI"})
            continue
        entries.append(CdxEntry(key, offset, length, payload_digest(rec.payload), {}, rec.header("WARC-Date") or ""))
    if end < len(data):
        report.skipped.append({"volume": url, "offset": end,
                               "reason": f"bytes {end}..{len(data)} are not a complete gzip member"})
    report.scanned_without_sidecar.append(url)
    return entries


def rebuild(volumes_url: str, target: Store, *, progress: Callable[[str], None] | None = None,
            indexes_url: str | None = None) -> RebuildReport:
    """Register every verified record of the volumes under ``volumes_url``, then of the files indexed
    in place listed by the index files under ``indexes_url`` (default: ``indexes`` beside
    ``volumes_url``), into ``target``'s empty catalog. Needs no existing catalog: this is how a lost or
    damaged catalog comes back."""
    if target.catalog.stats()["records"]:
        raise CatalogError(f"rebuild target {target.catalog.directory} is not empty: rebuild into a new "
                           "catalog directory")
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    report = RebuildReport()
    started = time.perf_counter()
    reader = VolumeReader()
    volumes = list_volumes(volumes_url)
    for n, url in enumerate(volumes, 1):
        entries = _entries_from_sidecar(url, report)
        if entries is None:
            entries = _entries_by_scanning(url, report)
        good, dates = [], []
        size = 0
        for e in entries:
            loc = Location(0, e.offset, e.length, e.digest)
            try:
                reader.read(url, loc)
            except CorruptRecordError as exc:
                report.skipped.append({"volume": url, "offset": e.offset, "reason": str(exc)})
                continue
            good.append((e.key, e.offset, e.length, e.digest))
            dates.append(e.timestamp)
            size = max(size, e.offset + e.length)
        sealed = SealedVolume(url, size, good, sidecar_url(url), {"rebuilt": True})
        result = target.register_sealed(sealed, dates=dates)
        report.volumes += 1
        report.records += result.added
        report.duplicates += result.unchanged + result.updated
        say(f"rebuild: volume {n}/{len(volumes)} {url}: {len(good)} records, "
            f"{len(report.skipped)} skipped so far")
    indexes = list_external_indexes(indexes_url or default_indexes_url(volumes_url))
    for n, index_url in enumerate(indexes, 1):
        good = _rebuild_external(index_url, target, reader, report)
        say(f"rebuild: index {n}/{len(indexes)} {index_url}: {good} records, "
            f"{len(report.skipped)} skipped so far")
    reader.close()
    report.seconds = time.perf_counter() - started
    return report
