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
        self.store = OwnerStore(owner_dir(Path(catalog_disk), owner), owner, meta, root=root)

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
