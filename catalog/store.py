"""A deployment root: the catalog plus the volume store, and the operations that need both.

``root`` is a local directory or any fsspec URL; :class:`~catalog.layout.RootLayout` names every path
under it. For a local root the catalog lives in ``root/catalog`` and volumes in ``root/volumes``.
RocksDB needs a local disk, so for a remote root (``s3://bucket/haybale``) pass ``catalog_dir``.

The catalog is served by owners (issue 10): ``root/catalog-meta.json`` maps slots to owners, and each
owner's store is ``<catalog dir>/owner-<i>/`` (:mod:`catalog.catalog_meta`). ``Store(root)`` opens every
owner in this process (one writer process, as before; ``read_only=True`` beside live writers);
``Store(root, cluster=True)`` talks to the owner actors on the connected Ray cluster, so any number of
jobs write at once. Both go through :class:`~catalog.owned_catalog.OwnedCatalog`: the same code.

A :class:`Store` is the embedded implementation of the catalog reader interface
(:class:`~catalog.reader.CatalogReader`): ``get``, ``get_many``, ``list``, ``items``, ``stats``,
``cat``, ``mark_of``, ``describe``, as the HTTP client and the in-memory test double offer them.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import fsspec

from catalog.captures import Capture, register_latest_captures
from catalog.catalog import DEFAULT_SHARDS, RegisterResult
from catalog.catalog_meta import META_NAME, CatalogMeta, ensure_meta, load_meta
from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import CatalogError, CatalogNotFoundError
from catalog.keys import canonical_key
from catalog.layout import RootLayout
from catalog.location import Location
from catalog.record_body import iter_record_body, record_body
from catalog.storage import write_atomic
from catalog.volume import SealedVolume, VolumeReader, VolumeWriter
from catalog.warc_records import ParsedRecord


class Store:
    """Catalog + volumes of one deployment root. Close it (or use ``with``) to release the catalog."""

    def __init__(self, root: str | None = None, *, catalog_dir: str | None = None,
                 read_only: bool = False, create: bool = True, num_shards: int = DEFAULT_SHARDS,
                 durable: bool = True, cluster: bool = False,
                 connect_ray: Callable[[], None] | None = None, new_meta: CatalogMeta | None = None) -> None:
        """``num_shards`` is the number of owners of a catalog created here. With ``cluster`` the owners
        are Ray actors, reached on first use after ``connect_ray()`` (None: Ray is connected already).

        ``new_meta`` creates a new catalog with that record in ``catalog_dir`` (a rebuild's target,
        :func:`catalog.catalog_meta.fresh_meta`); the root's record is neither read nor changed.
        Otherwise the catalog is the one the root's record names. A catalog directory holding another
        catalog (a ``catalog rebuild --into`` copy) opens read-only under its own record; opening it for
        writing raises :class:`CatalogError`, since what it registered would be missing from the
        root's catalog."""
        from catalog.owned_catalog import OwnedCatalog

        self.layout = RootLayout.of(root, catalog_dir)
        self.root = self.layout.root
        self.volumes_url = self.layout.volumes_url
        self.cluster = cluster
        self.reader = VolumeReader()
        if cluster:
            if not create and load_meta(self.root) is None:
                raise CatalogNotFoundError(
                    f"no catalog at {self.root} (no {self.root}/catalog-meta.json): register something first "
                    "(e.g. `haybale ingest files DIR`) or point --root at an existing deployment")
            _meta_for(self.root, self.layout.catalog_dir, read_only=False)  # the owners write: not into a copy
            self.catalog = OwnedCatalog.on_ray(self.root, self.layout.catalog_dir, num_shards, connect_ray)
            return
        meta = new_meta or _meta_for(self.root, self.layout.catalog_dir, read_only)
        if meta is None:
            if read_only or not create:
                raise CatalogNotFoundError(
                    f"no catalog at {self.root} (no {self.root}/catalog-meta.json): register something first "
                    "(e.g. `haybale ingest files DIR`) or point --root at an existing deployment")
            meta = ensure_meta(self.root, num_shards)
        self.catalog = OwnedCatalog.local(self.root, self.layout.catalog_dir, meta, read_only=read_only,
                                          create=create, durable=durable)
        if not read_only and (new_meta is not None or catalog_dir_meta(self.layout.catalog_dir) is None):
            # a copy beside the owners, so `--catalog-dir DIR` alone finds how DIR's owners split the slots
            write_atomic(str(self.layout.catalog_dir / META_NAME), meta.to_json())

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reader.close()
        self.catalog.close()

    def writer(self, **kwargs: Any) -> VolumeWriter:
        """A volume writer into this root's volume store (see :class:`VolumeWriter` for options)."""
        return VolumeWriter(self.volumes_url, **kwargs)

    def register_sealed(self, sealed: SealedVolume, *, bulk: bool = False,
                        dates: list[str | None] | None = None) -> RegisterResult:
        """Record a sealed volume in the volume table, then register its records' locations.

        With ``dates`` (each record's WARC-Date), a key the catalog already holds with another capture
        keeps whichever capture is later (:mod:`catalog.captures`), as the WARC ingest job decides.
        """
        number = self.catalog.volumes.add(sealed.url, {
            "bytes": sealed.bytes, "records": len(sealed.records), "sidecar": sealed.sidecar,
            "kind": "volume", **sealed.info})
        if dates is not None:
            captures = [Capture(key, Location(number, off, length, dig), date, 0, position)
                        for position, ((key, off, length, dig), date) in enumerate(zip(sealed.records, dates))]
            return register_latest_captures(self, captures)[0]  # right beside other jobs registering at once
        if bulk:
            return self.catalog.register_bulk_entries(
                [k for k, _, _, _ in sealed.records],
                [Location(number, off, length, dig) for _, off, length, dig in sealed.records])
        return self.catalog.register_many(
            (key, Location(number, off, length, dig)) for key, off, length, dig in sealed.records)

    def drop_volume(self, sealed: SealedVolume) -> None:
        """Delete a sealed volume none of whose records the catalog references (a job's redo after a
        crash wrote it again), and mark it dropped in the volume table. The caller guarantees that no
        location points into it."""
        number = self.catalog.volumes.number_of(sealed.url)
        if number is not None:
            self.catalog.volumes.update(number, {"dropped": True})
        for url in (sealed.url, sealed.sidecar):
            fs, path = fsspec.core.url_to_fs(url)
            try:
                fs.rm(path)
            except FileNotFoundError:
                pass

    def volume_url(self, number: int) -> str:
        return str(self.catalog.volumes.get(number)["url"])

    def delete(self, keys: Sequence[str]) -> int:
        """Delete ``keys`` from the catalog so that a rebuild from the volumes leaves them out too;
        returns how many were in the catalog. The deleted captures are written to the root's deletion
        log first (:mod:`catalog.deletions`; one ranged read per key, for its WARC-Date), so a delete
        this returns from is on the root. The volumes' bytes are not touched.
        (``self.catalog.delete_many`` removes index entries only: a rebuild brings those keys back.)"""
        from catalog.deletions import deletions_of, log_deletions

        canon = list(dict.fromkeys(canonical_key(k) for k in keys))
        found = [(key, loc) for key, loc in zip(canon, self.catalog.get_many(canon)) if loc is not None]
        urls = {number: self.volume_url(number) for number in {loc.volume for _, loc in found}}
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(found)))) as pool:  # object stores: latency
            dates = list(pool.map(lambda item: self._capture_date(urls[item[1].volume], item[1]), found))
        if found:
            rows = [(key, urls[loc.volume], loc.offset, date) for (key, loc), date in zip(found, dates)]
            log_deletions(self.layout.deletes_url, deletions_of(rows, time.time(), self.root))
        return self.catalog.delete_many(canon)

    def _capture_date(self, url: str, loc: Location) -> str | None:
        """The WARC-Date of the record at ``loc`` in ``url``; None if it cannot be read (the deletion
        then dates the capture at the moment of the delete)."""
        try:
            return self.reader.read(url, loc).header("WARC-Date")
        except CatalogError:
            return None

    # -- the reader interface (catalog.reader.CatalogReader) -----------------------------------
    def get(self, key: str) -> Location:
        """Location of ``key``; raises :class:`~catalog.errors.KeyNotFoundError` if absent."""
        return self.catalog.get(key)

    def get_many(self, keys: Sequence[str]) -> list[Location | None]:
        return self.catalog.get_many(keys)

    def list(self, prefix: str = "", limit: int | None = None) -> Iterator[str]:
        return self.catalog.list(prefix, limit)

    def items(self, prefix: str = "", limit: int | None = None) -> Iterator[tuple[str, Location]]:
        for n, item in enumerate(self.catalog.items(prefix)):
            if limit is not None and n >= limit:
                return
            yield item

    def stats(self) -> dict[str, Any]:
        return self.catalog.stats()

    def mark_of(self, key: str) -> tuple[str, str] | None:
        return self.catalog.mark_of(key)

    def describe(self, key: str) -> dict[str, Any]:
        """``key``, its canonical form, its location fields and its volume URL."""
        loc = self.catalog.get(key)
        return {"key": key, "canonical_key": canonical_key(key), **loc.as_dict(),
                "volume_url": self.volume_url(loc.volume)}

    def read(self, key: str) -> tuple[ParsedRecord, Location, str]:
        """The verified record stored under ``key``, its location and its volume URL."""
        loc = self.catalog.get(key)
        url = self.volume_url(loc.volume)
        return self.reader.read(url, loc), loc, url

    def cat(self, key: str, *, raw: bool = False, max_decoded: int = DEFAULT_MAX_DECODED_BYTES,
            warnings: list[str] | None = None) -> bytes:
        """What ``haybale catalog cat`` prints: the file bytes as stored, or for a web page the HTTP
        body with transfer and content encodings removed (:mod:`catalog.record_body`, the reader every
        path uses); ``raw`` gives the whole uncompressed WARC record.

        Raises :class:`~catalog.errors.DecodedSizeError` naming the key and the cap when the body
        decodes to more than ``max_decoded`` bytes (never a truncated body: see :meth:`cat_whole`).
        What was odd (a false Content-Encoding used as stored, a cut stream) is appended to
        ``warnings``.
        """
        record, loc, url = self.read(key)
        if raw:
            return _raw_record(record)
        body = record_body(record.record_type, record.header("Content-Type"), record.header("WARC-Target-URI"),
                           record.block, source=f"{key} (record in {url} at offset {loc.offset})",
                           max_decoded=max_decoded, truncated=record.header("WARC-Truncated"),
                           segment=record.header("WARC-Segment-Number"))
        if warnings is not None:
            warnings.extend(body.warnings)
        return body.data

    def cat_whole(self, key: str, write: Callable[[bytes], Any], warnings: list[str] | None = None) -> int:
        """Stream the body :meth:`cat` gives to ``write``, whatever its decoded size, in pieces of at
        most 1 MiB (bounded memory); returns the bytes written."""
        record, loc, url = self.read(key)
        warn = warnings.append if warnings is not None else (lambda _: None)
        written = 0
        for piece in iter_record_body(record.record_type, record.header("Content-Type"),
                                      record.header("WARC-Target-URI"), record.block,
                                      source=f"{key} (record in {url} at offset {loc.offset})", warn=warn,
                                      truncated=record.header("WARC-Truncated"),
                                      segment=record.header("WARC-Segment-Number")):
            write(piece)
            written += len(piece)
        return written


def _meta_for(root: str, catalog_dir: Path, read_only: bool) -> CatalogMeta | None:
    """The record of the catalog in ``catalog_dir``: the root's, unless the directory holds another
    catalog (its own copy names another id), which opens read-only only."""
    meta, copy = load_meta(root), catalog_dir_meta(catalog_dir)
    if meta is None or copy is None or copy.catalog_id == meta.catalog_id:
        return meta or copy
    if not read_only:
        raise CatalogError(
            f"catalog directory {catalog_dir} holds catalog {copy.catalog_id}, but the catalog of root {root} is "
            f"{meta.catalog_id}: what a command registered there would be missing from the root's catalog. "
            "Read it with catalog get/cat/ls/stats (a `catalog rebuild --into` copy), make it the root's "
            "catalog by rebuilding in place (`haybale catalog rebuild` without --into), or give the root's "
            "own catalog directory")
    return copy


def catalog_dir_meta(catalog_dir: Path) -> CatalogMeta | None:
    """The copy of its catalog's record a catalog directory keeps (None without one)."""
    path = catalog_dir / META_NAME
    try:
        text = path.read_text()
    except OSError:
        return None
    return CatalogMeta.from_json(text, str(path))


def _raw_record(record: ParsedRecord) -> bytes:
    """The whole uncompressed record: its header bytes as stored (version line included, a header that
    is not UTF-8 as written), the blank line, the block and the two CRLFs that end a record."""
    if record.head:
        return record.head + b"\r\n\r\n" + record.block + b"\r\n\r\n"
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in record.headers) + "\r\n"
    return head.encode("utf-8") + record.block + b"\r\n\r\n"
