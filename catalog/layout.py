"""Every path under a deployment root, in one object.

::

    ROOT/                       a local directory or any fsspec URL (s3://bucket/haybale)
      catalog/                  the sharded RocksDB catalog (local disk; --catalog-dir elsewhere)
      volumes/RUN_ID/           volumes an ingest run sealed, each with its CDXJ sidecar
      indexes/RUN_ID/           CDXJ indexes of WARC files indexed in place by a run
      runs/RUN_ID/              a run's plan, completion markers, summary and quarantine
      deletes/                  what `catalog delete` removed, so a rebuild leaves it out
        plan.json  done/  summary.json  quarantine.jsonl  catalog-splits/

RocksDB needs a local disk, so for a remote root the catalog directory must be given
(``catalog_dir``, ``--catalog-dir`` or ``$HAYBALE_CATALOG_DIR``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from catalog.errors import RootError
from catalog.storage import check_bucket, is_local, local_path

DEFAULT_ROOT = "./haybale-data"
SHARED_LOCAL_ROOT_ENV = "HAYBALE_SHARED_LOCAL_ROOT"  # =1: a local root every node mounts alike


def resolve_root(root: str | None) -> str:
    """``root`` if given, else ``$HAYBALE_ROOT``, else ``./haybale-data``."""
    return root or os.environ.get("HAYBALE_ROOT") or DEFAULT_ROOT


@dataclass(frozen=True)
class RootLayout:
    """The paths of one deployment root. Build it with :meth:`of`, which checks them."""

    root: str
    catalog_dir: Path

    @classmethod
    def of(cls, root: str | None = None, catalog_dir: str | os.PathLike[str] | None = None) -> "RootLayout":
        """The layout of ``root`` (default :func:`resolve_root`) with the catalog in ``catalog_dir``
        (default ``$HAYBALE_CATALOG_DIR``, else ``ROOT/catalog`` for a local root).

        Raises :class:`RootError` for a remote root without a catalog directory or whose bucket does
        not exist, and for a root or catalog directory that exists but is not a directory."""
        root = resolve_root(root)
        catalog_dir = catalog_dir or os.environ.get("HAYBALE_CATALOG_DIR") or None
        if is_local(root):
            base = Path(local_path(root)).absolute()
            if base.exists() and not base.is_dir():
                raise RootError(f"root {root!r} is a file, not a directory: give --root a directory "
                                "(it is created if missing) or an fsspec URL such as s3://bucket/haybale")
            layout = cls(str(base), Path(catalog_dir).absolute() if catalog_dir else base / "catalog")
        else:
            if not catalog_dir:
                raise RootError(f"root {root!r} is remote; RocksDB needs a local disk: pass --catalog-dir "
                                "(or HAYBALE_CATALOG_DIR) naming a local directory for the catalog")
            check_bucket(root)  # a typo in the bucket is an error naming it; buckets are never created
            layout = cls(root.rstrip("/"), Path(catalog_dir).absolute())
        if layout.catalog_dir.exists() and not layout.catalog_dir.is_dir():
            raise RootError(f"catalog directory {layout.catalog_dir} is a file: give --catalog-dir a directory")
        return layout

    @property
    def local(self) -> bool:
        return is_local(self.root)

    # -- the catalog ---------------------------------------------------------------------------
    def rebuild_dir(self) -> Path:
        """Where ``catalog rebuild`` builds a new catalog before it replaces the current one."""
        return self.catalog_dir.with_name(self.catalog_dir.name + ".rebuild")

    def retired_catalog_dir(self) -> Path:
        """Where ``catalog rebuild`` keeps the catalog it replaced."""
        return self.catalog_dir.with_name(f"{self.catalog_dir.name}.old-{time.strftime('%Y%m%d%H%M%S')}")

    # -- storage under the root ----------------------------------------------------------------
    def url(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @property
    def volumes_url(self) -> str:
        return self.url("volumes")

    @property
    def indexes_url(self) -> str:
        return self.url("indexes")

    @property
    def runs_url(self) -> str:
        return self.url("runs")

    @property
    def deletes_url(self) -> str:
        """The deletion log (:mod:`catalog.deletions`)."""
        return self.url("deletes")

    def run_url(self, run_id: str) -> str:
        """A run's state: plan, completion markers, summary."""
        return self.url("runs", run_id)

    def run_volumes_url(self, run_id: str) -> str:
        """Where a run's workers seal their volumes."""
        return self.url("volumes", run_id)

    def run_indexes_url(self, run_id: str) -> str:
        """Where a run writes the CDXJ indexes of files indexed in place."""
        return self.url("indexes", run_id)

    def quarantine_url(self, run_id: str) -> str:
        """Every record a run quarantined, one JSON object per line."""
        return self.url("runs", run_id, "quarantine.jsonl")

    def catalog_splits_url(self, run_id: str) -> str:
        """Where a dedup run over the catalog keeps its planned key ranges."""
        return self.url("runs", run_id, "catalog-splits")


def refuse_local_root_on_cluster(url: str, what: str = "root") -> None:
    """Raise :class:`RootError` when ``url`` is a local path and this process is connected to a Ray
    cluster with more than one alive node: workers on the other nodes would write volumes, run state
    and outputs to *their own* disks under the same path, which no other node (and no later reader)
    can see. Local paths are fine on one node (the embedded default), and on a filesystem every node
    mounts at the same path (NFS, or the loopback test clusters of one machine) when the operator says
    so with ``HAYBALE_SHARED_LOCAL_ROOT=1``. Call it after connecting."""
    if not is_local(url) or os.environ.get(SHARED_LOCAL_ROOT_ENV) == "1":
        return
    import ray

    if not ray.is_initialized():
        return
    alive = [n for n in ray.nodes() if n.get("Alive")]
    if len(alive) > 1:
        raise RootError(
            f"{what} {url!r} is a local path, but this Ray cluster has {len(alive)} nodes: workers on the "
            "other nodes would write to their own disks, where no other node can read it. Give an object "
            "store URL (s3://bucket/prefix; settings in deploy/SCALING.md), or run on one node; if every node "
            f"mounts this path from one shared filesystem, say so with {SHARED_LOCAL_ROOT_ENV}=1")
