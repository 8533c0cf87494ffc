"""Every path under a deployment root, in one object.

::

    ROOT/                       a local directory or any fsspec URL (s3://bucket/haybale)
      catalog/                  the sharded RocksDB catalog (local disk; --catalog-dir elsewhere)
      volumes/RUN_ID/           volumes an ingest run sealed, each with its CDXJ sidecar
      indexes/RUN_ID/           CDXJ indexes of WARC files indexed in place by a run
      runs/RUN_ID/              a run's plan, completion markers, summary and quarantine
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
from catalog.storage import is_local, local_path

DEFAULT_ROOT = "./haybale-data"


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

        Raises :class:`RootError` for a remote root without a catalog directory, and for a root or
        catalog directory that exists but is not a directory."""
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
