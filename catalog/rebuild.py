"""Rebuild a catalog from storage alone: the volumes and their CDXJ sidecars.

The catalog is an index, never the only copy of where data lives. :func:`rebuild` lists the sealed
volumes under a volume store (temporary files of unsealed volumes are ignored), reads each volume's
sidecar — or, when the sidecar is missing or unreadable, scans the volume's gzip members — verifies
every record (gzip CRC, WARC header, payload digest) on the volume's bytes, read once whole (not one
ranged read per record), and registers the good ones in a new catalog.
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
from catalog.deletions import DELETED, DELETES_DIR, WRITTEN_AFTER, DeletionLog, load_deletions
from catalog.errors import CatalogError, CorruptRecordError, VolumeError, VolumeNotFoundError
from catalog.keys import canonical_key, uri_text
from catalog.storage import TMP_SUFFIX, url_of
from catalog.store import Store
from catalog.volume import VOLUME_SUFFIX, SealedVolume
from catalog.warc_records import KEYED_RECORD_TYPES, parse_record, payload_digest


@dataclass
class RebuildReport:
    volumes: int = 0
    external_files: int = 0  # files indexed in place, found through ROOT/indexes
    records: int = 0
    duplicates: int = 0  # records whose key an earlier volume already held (re-ingests)
    deleted: int = 0  # captures left out because `catalog delete` removed them (catalog.deletions)
    kept_after_delete: list[dict[str, object]] = field(default_factory=list)  # covered, but written later
    skipped: list[dict[str, object]] = field(default_factory=list)
    scanned_without_sidecar: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"volumes": self.volumes, "external_files": self.external_files, "records": self.records,
                "duplicates": self.duplicates, "deleted": self.deleted,
                "kept_after_delete": self.kept_after_delete, "skipped": len(self.skipped),
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


def default_deletes_url(volumes_url: str) -> str:
    """``ROOT/deletes`` (the deletion log) for the volume store ``ROOT/volumes``."""
    return volumes_url.rstrip("/").rsplit("/", 1)[0] + "/" + DELETES_DIR


def leave_out_deleted(index: "VolumeIndex", deletions: DeletionLog | None) -> None:
    """Remove from ``index`` the captures the deletion log says were deleted (counted in
    ``index.deleted``); name those a delete covers but whose file was written after it in
    ``index.kept_after_delete`` (they stay). Runs where the volume was indexed (a Ray task)."""
    if deletions is None or not deletions.by_key:
        return
    container = index.sidecar if index.external else index.url
    records, dates = [], []
    for record, date in zip(index.records, index.dates):
        key, offset = record[0], record[1]
        verdict = deletions.verdict(canonical_key(key), index.url, offset, date, container)
        if verdict == DELETED:
            index.deleted += 1
            continue
        if verdict == WRITTEN_AFTER:
            index.kept_after_delete.append({"key": key, "volume": index.url, "offset": offset, "reason": (
                f"a `catalog delete` covers this capture, but {container} was written after that delete: "
                "registered (delete the key again if it should stay deleted)")})
        records.append(record)
        dates.append(date)
    index.records, index.dates = records, dates


def list_external_indexes(indexes_url: str) -> list[str]:
    """URLs of the in-place index files (``*.cdxj``) under ``indexes_url``, sorted (by run, then name)."""
    fs, root = fsspec.core.url_to_fs(indexes_url)
    if not fs.exists(root):
        return []
    names = sorted(p for p in fs.find(root) if p.endswith(SIDECAR_SUFFIX))
    return [url_of(fs, p, indexes_url) for p in names]


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


def _entries_from_sidecar(url: str, skipped: list[dict[str, object]]) -> list[CdxEntry] | None:
    side = sidecar_url(url)
    fs, path = fsspec.core.url_to_fs(side)
    try:
        text = fs.cat_file(path).decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    entries: list[CdxEntry] = []
    for item in parse_cdxj(text, side):
        if isinstance(item, tuple):
            skipped.append({"volume": url, "offset": None, "reason": item[1]})
        else:
            entries.append(item)
    return entries


def _entries_by_scanning(url: str, data: bytes, skipped: list[dict[str, object]]) -> list[CdxEntry]:
    entries = []
    end = 0
    for offset, length in scan_members(data):
        end = offset + length
        try:
            rec = parse_record(data[offset:end], source=url, offset=offset)
        except CorruptRecordError as exc:
            skipped.append({"volume": url, "offset": offset, "reason": str(exc)})
            continue
        if rec.record_type not in KEYED_RECORD_TYPES:
            continue  # a repacked request/metadata/warcinfo record: stored, never registered
        raw_uri = rec.raw_header("WARC-Target-URI")  # bytes that are not UTF-8 escaped, as ingest keyed them
        key = uri_text(raw_uri).strip() if raw_uri is not None else ""
        if key.startswith("<") and key.endswith(">"):
            key = key[1:-1].strip()  # wget's <...>, kept as is by a faithful repack
        if not key:
            skipped.append({"volume": url, "offset": offset, "reason": "no WARC-Target-URI"})
            continue
        entries.append(CdxEntry(key, offset, length, payload_digest(rec.payload), {}, rec.header("WARC-Date") or ""))
    if end < len(data):
        skipped.append({"volume": url, "offset": end,
                        "reason": f"bytes {end}..{len(data)} are not a complete gzip member"})
    return entries


@dataclass
class VolumeIndex:
    """The verified records of one volume (or one file indexed in place), read with one whole read."""

    url: str
    sidecar: str
    size: int = 0
    records: list[tuple[str, int, int, int]] = field(default_factory=list)  # key, offset, length, digest
    dates: list[str] = field(default_factory=list)
    skipped: list[dict[str, object]] = field(default_factory=list)
    scanned: bool = False  # no readable sidecar: the volume's gzip members were scanned
    external: bool = False
    deleted: int = 0  # captures left out: `catalog delete` removed them (leave_out_deleted)
    kept_after_delete: list[dict[str, object]] = field(default_factory=list)

    def info(self) -> dict[str, object]:
        """The volume-table row's extra fields for a rebuilt volume."""
        return {"kind": "external", "rebuilt": True} if self.external else {"rebuilt": True}


def _verify_all(index: VolumeIndex, data: bytes, entries: list[CdxEntry]) -> VolumeIndex:
    """Keep the entries whose bytes in ``data`` decompress, parse and match their digest (the checks
    :meth:`VolumeReader.read` makes, here on bytes already read)."""
    for e in entries:
        raw = data[e.offset:e.offset + e.length]
        try:
            if len(raw) != e.length:
                raise CorruptRecordError(f"volume {index.url} ends before the record at offset {e.offset} "
                                         f"({len(raw)} of {e.length} bytes): the volume is truncated",
                                         index.url, e.offset)
            record = parse_record(raw, source=index.url, offset=e.offset)
            if payload_digest(record.payload) != e.digest:
                raise CorruptRecordError(
                    f"record in {index.url} at offset {e.offset} fails its checksum (payload digest differs "
                    "from the index's): the volume is damaged or was overwritten", index.url, e.offset)
        except CorruptRecordError as exc:
            index.skipped.append({"volume": index.url, "offset": e.offset, "reason": str(exc)})
            continue
        index.records.append((e.key, e.offset, e.length, e.digest))
        index.dates.append(e.timestamp)
        index.size = max(index.size, e.offset + e.length)
    return index


def _read_whole(url: str) -> bytes:
    fs, path = fsspec.core.url_to_fs(url)
    try:
        return fs.cat_file(path)
    except FileNotFoundError as exc:
        raise VolumeNotFoundError(f"volume {url} is missing: restore it, or rebuild without it") from exc


def index_volume(url: str, deletions: DeletionLog | None = None) -> VolumeIndex:
    """The verified records of the volume ``url``: its sidecar's entries (or, without a readable
    sidecar, its scanned gzip members), each checked on the volume's bytes, read once whole; less
    those ``deletions`` says were deleted."""
    index = VolumeIndex(url, sidecar_url(url))
    data = _read_whole(url)
    entries = _entries_from_sidecar(url, index.skipped)
    if entries is None:
        entries = _entries_by_scanning(url, data, index.skipped)
        index.scanned = True
    index = _verify_all(index, data, entries)
    leave_out_deleted(index, deletions)
    return index


def index_external(index_url: str, deletions: DeletionLog | None = None
                   ) -> tuple[list[VolumeIndex], list[dict[str, object]]]:
    """The verified records of every file an in-place index file names (one :class:`VolumeIndex` per
    file, each file read once whole, less what ``deletions`` says was deleted), and the index lines
    or files that could not be used."""
    skipped: list[dict[str, object]] = []
    fs, path = fsspec.core.url_to_fs(index_url)
    try:
        text = fs.cat_file(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [{"volume": index_url, "offset": None, "reason": f"index is not UTF-8: {exc}"}]
    by_file: dict[str, list[CdxEntry]] = {}
    for item in parse_cdxj(text, index_url):
        if isinstance(item, tuple):
            skipped.append({"volume": index_url, "offset": None, "reason": item[1]})
        else:
            by_file.setdefault(str(item.fields.get("filename", "")), []).append(item)
    out = []
    for url, entries in by_file.items():
        index = VolumeIndex(url, index_url, external=True)
        try:
            data = _read_whole(url)
        except VolumeError as exc:  # the file is gone: each of its records is reported
            skipped.extend({"volume": url, "offset": e.offset, "reason": str(exc)} for e in entries)
            continue
        out.append(_verify_all(index, data, entries))
        leave_out_deleted(out[-1], deletions)
    return out, skipped


def rebuild(volumes_url: str, target: Store, *, progress: Callable[[str], None] | None = None,
            indexes_url: str | None = None, deletes_url: str | None = None) -> RebuildReport:
    """Register every verified record of the volumes under ``volumes_url``, then of the files indexed
    in place listed by the index files under ``indexes_url`` (default: ``indexes`` beside
    ``volumes_url``), into ``target``'s empty catalog, one volume after the other in this process,
    leaving out what the deletion log under ``deletes_url`` (default: ``deletes`` beside
    ``volumes_url``) says ``catalog delete`` removed.
    Needs no existing catalog: this is how a lost or damaged catalog comes back. (The reference for
    :func:`catalog.rebuild_parallel.rebuild_parallel`, the Ray job ``catalog rebuild`` runs.)"""
    if target.catalog.stats()["records"]:
        raise CatalogError(f"rebuild target {target.catalog.directory} is not empty: rebuild into a new "
                           "catalog directory")
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    report = RebuildReport()
    started = time.perf_counter()
    deletions = load_deletions(deletes_url or default_deletes_url(volumes_url))
    volumes = list_volumes(volumes_url)
    for n, url in enumerate(volumes, 1):
        _register(target, index_volume(url, deletions), report)
        say(f"rebuild: volume {n}/{len(volumes)} {url}, {len(report.skipped)} records skipped so far")
    indexes = list_external_indexes(indexes_url or default_indexes_url(volumes_url))
    for n, index_url in enumerate(indexes, 1):
        files, skipped = index_external(index_url, deletions)
        report.skipped.extend(skipped)
        for index in files:
            _register(target, index, report)
        say(f"rebuild: index {n}/{len(indexes)} {index_url}, {len(report.skipped)} records skipped so far")
    report.seconds = time.perf_counter() - started
    return report


def _register(target: Store, index: VolumeIndex, report: RebuildReport) -> None:
    report.skipped.extend(index.skipped)
    report.deleted += index.deleted
    report.kept_after_delete.extend(index.kept_after_delete)
    if index.scanned:
        report.scanned_without_sidecar.append(index.url)
    if index.external:
        if not index.records:
            return
        report.external_files += 1
    else:
        report.volumes += 1
    sealed = SealedVolume(index.url, index.size, index.records, index.sidecar, index.info())
    result = target.register_sealed(sealed, dates=index.dates)
    report.records += result.added
    report.duplicates += result.unchanged + result.updated
