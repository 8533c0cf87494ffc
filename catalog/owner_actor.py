"""The owner actor: one :class:`~catalog.owner_store.OwnerStore` served by a named, detached Ray actor.

Name ``owner-<catalog_id>-<i>`` in namespace ``haybale``; ``num_cpus=0`` (an owner is I/O and a block
cache, and must not take a CPU a split needs); ``max_restarts=-1`` and ``max_task_retries=-1``: Ray
restarts a dead owner (on another node if its node died) and retries the calls in flight, which is
safe because every owner call is idempotent (registration by key and digest, marks and deletes by
key, reads). A restarted owner reopens its directory: the embedded catalog replays its journal, so
every acknowledged write is there (when the directory is on the dead node's local disk, restoring it
from a checkpoint is not built yet: see catalog/CLUSTER.md).

Owners ask for a small share of the custom resource ``catalog_disk`` when the cluster offers it, so
they land on nodes that have the catalog disk; the embedded default's local head offers it.
Actor calls run one at a time (Ray's default), so an owner's writes are serialized.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

NAMESPACE = "haybale"
DISK_RESOURCE = "catalog_disk"
DISK_SHARE = 0.001


def _created_marker(root: str, catalog_id: str, owner: int) -> str:
    return f"{root.rstrip('/')}/catalog-owners/{catalog_id}/owner-{owner:04d}.json"


def refuse_lost_directory(root: str, catalog_id: str, owner: int, directory: Path) -> None:
    """Raise :class:`~catalog.errors.OwnerDiskLostError` if owner ``owner`` of a remote root held data
    in a directory this node does not have: it lived on another node's disk (whose node died, or a
    restart placed the owner elsewhere). Opening an empty store there would hide every key it held.

    A local root is shared by every node that may host an owner (a multi-node cluster refuses a local
    root otherwise), so only remote roots (``s3://``) keep the marker this checks."""
    from catalog.storage import is_local

    if is_local(root) or directory.exists():
        return
    import fsspec

    marker = _created_marker(root, catalog_id, owner)
    fs, path = fsspec.core.url_to_fs(marker)
    if fs.exists(path):
        from catalog.errors import OwnerDiskLostError

        raise OwnerDiskLostError(
            f"owner {owner} of catalog {catalog_id} (root {root}) has no directory {directory} on this node, "
            f"but it was created before ({marker}): its data is on another node's catalog disk. Restoring an "
            "owner from a checkpoint is not built yet: bring that node (or its disk) back, or keep the "
            "--catalog-dir on a volume every catalog_disk node mounts, or rebuild the catalog from the volumes "
            "(`haybale catalog rebuild`)")


def record_directory(root: str, catalog_id: str, owner: int, directory: Path) -> None:
    """Note on a remote root that owner ``owner`` holds data in ``directory`` (see
    :func:`refuse_lost_directory`); written once."""
    from catalog.storage import is_local, write_atomic

    if is_local(root):
        return
    import json
    import socket

    import fsspec

    marker = _created_marker(root, catalog_id, owner)
    fs, path = fsspec.core.url_to_fs(marker)
    if not fs.exists(path):
        write_atomic(marker, json.dumps({"owner": owner, "directory": str(directory), "host": socket.gethostname()}))


def owner_name(catalog_id: str, owner: int) -> str:
    return f"owner-{catalog_id}-{owner}"


class OwnerServer:
    """The actor's body (decorated with ``ray.remote`` in :func:`owner_handles`)."""

    def __init__(self, root: str, catalog_disk: str, owner: int) -> None:
        from catalog.catalog_meta import load_meta, owner_dir
        from catalog.owner_store import OwnerStore

        meta = load_meta(root)
        if meta is None:
            raise RuntimeError(f"owner {owner}: root {root} has no catalog meta record")
        directory = owner_dir(Path(catalog_disk), owner)
        refuse_lost_directory(root, meta.catalog_id, owner, directory)
        self.store = OwnerStore(directory, owner, meta, root=root)
        record_directory(root, meta.catalog_id, owner, directory)

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.store, method)(*args)

    def where(self) -> dict[str, Any]:
        import os

        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "directory": str(self.store.directory)}


def owner_handles(root: str, catalog_disk: Path, catalog_id: str, num_owners: int) -> list[Any]:
    """Handles of the catalog's owners, started if they are not running (Ray must be connected)."""
    import ray

    actor = ray.remote(OwnerServer)
    resources = {DISK_RESOURCE: DISK_SHARE} if ray.cluster_resources().get(DISK_RESOURCE) else {}
    handles = []
    for i in range(num_owners):
        handles.append(actor.options(
            name=owner_name(catalog_id, i), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            num_cpus=0, max_restarts=-1, max_task_retries=-1, resources=resources,
            scheduling_strategy="SPREAD").remote(root, str(catalog_disk), i))
    return handles


def stop_owners(catalog_id: str, num_owners: int) -> int:
    """Kill the catalog's owner actors (their directories stay); returns how many were running."""
    import ray

    stopped = 0
    for i in range(num_owners):
        try:
            handle = ray.get_actor(owner_name(catalog_id, i), namespace=NAMESPACE)
        except ValueError:
            continue
        ray.kill(handle, no_restart=True)
        stopped += 1
    return stopped
