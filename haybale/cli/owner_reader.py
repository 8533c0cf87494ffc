"""The shard owners' client as the HTTP service's reader: what ``haybale serve --address`` serves.

:func:`open_owner_reader` is the ``--reader-factory`` that ``haybale serve --address ADDRESS`` uses
when none is named: it connects this process to the Ray cluster at ``address`` (namespace
``haybale``, where the owners live) and returns the root's :class:`~catalog.store.Store` in cluster
mode, whose reads go to the owner actors. Each service worker process calls it once.
"""
from __future__ import annotations

import os

from catalog.reader import CatalogReader

FACTORY = "haybale.cli.owner_reader:open_owner_reader"


def open_owner_reader(*, address: str, root: str) -> CatalogReader:
    """A reader of ``root``'s catalog through its owner actors on the Ray cluster at ``address``.

    Raises :class:`~catalog.errors.CatalogNotFoundError` if the root has no catalog yet (no meta record),
    naming the root and what to run first."""
    from catalog.layout import RootLayout
    from catalog.store import Store
    from ingest.cluster_connection import RootConnection

    layout = RootLayout.of(root, os.environ.get("HAYBALE_CATALOG_DIR"))
    connection = RootConnection(layout, address)
    return Store(root, catalog_dir=os.environ.get("HAYBALE_CATALOG_DIR"), cluster=True, create=False,
                 connect_ray=connection)
