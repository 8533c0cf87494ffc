"""The owner actor: one :class:`~catalog.owner_store.OwnerStore` served by a named, detached Ray actor.

Name ``owner-<catalog_id>-<i>`` in namespace ``haybale``; ``num_cpus=0`` (an owner is I/O and a block
cache, and must not take a CPU a split needs); ``max_restarts=-1`` and ``max_task_retries=-1``: Ray
restarts a dead owner (on another node if its node died) and retries the calls in flight, which is
safe because every owner call is idempotent (registration by key and digest, marks and deletes by
key, reads). A restarted owner reopens its directory: the embedded catalog replays its journal, so
every acknowledged write is there. When the directory was on a dead node's local disk, the owner is
restored from its latest checkpoint on the root plus what was registered since
(:func:`open_or_restore`, :mod:`catalog.owner_checkpoint`).

Owners ask for a small share of the custom resource ``catalog_disk`` when the cluster offers it, so
they land on nodes that have the catalog disk; the embedded default's local head offers it.
Actor calls run one at a time (Ray's default), so an owner's writes are serialized.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from catalog.disk_full import rocksdb_io_error
from catalog.errors import CatalogError
from catalog.owner_cache import CACHE_ENV, owner_cache_bytes, owner_process_env
from catalog.owner_settle import SETTLE_ENV, SettleState, settle_seconds, start_settler
from catalog.owner_warm import WARM_ENV, warm_wanted

NAMESPACE = "haybale"
DISK_RESOURCE = "catalog_disk"
DISK_SHARE = 0.001
# set in a node's environment (its `ray start`) to put the owners it hosts in this directory instead of
# the driver's --catalog-dir: the catalog disk is per node
NODE_DISK_ENV = "HAYBALE_NODE_CATALOG_DIR"


def _created_marker(root: str, catalog_id: str, owner: int) -> str:
    return f"{root.rstrip('/')}/catalog-owners/{catalog_id}/owner-{owner:04d}.json"


def lost_directory(root: str, catalog_id: str, owner: int, directory: Path) -> bool:
    """True if owner ``owner`` of a remote root held data in a directory this node does not have: it
    lived on another node's disk (whose node died, or a restart placed the owner elsewhere). Opening an
    empty store there would hide every key it held.

    A local root is shared by every node that may host an owner (a multi-node cluster refuses a local
    root otherwise), so only remote roots (``s3://``) keep the marker this checks."""
    from catalog.storage import is_local

    if is_local(root) or directory.exists():
        return False
    import fsspec

    marker = _created_marker(root, catalog_id, owner)
    fs, path = fsspec.core.url_to_fs(marker)
    return bool(fs.exists(path))


def refuse_lost_directory(root: str, catalog_id: str, owner: int, directory: Path) -> None:
    """Raise :class:`~catalog.errors.OwnerDiskLostError` if the owner's directory is lost
    (:func:`lost_directory`); the owner actor calls it only when there is no checkpoint to restore."""
    if lost_directory(root, catalog_id, owner, directory):
        from catalog.errors import OwnerDiskLostError

        marker = _created_marker(root, catalog_id, owner)
        raise OwnerDiskLostError(
            f"owner {owner} of catalog {catalog_id} (root {root}) has no directory {directory} on this node, "
            f"but it was created before ({marker}): its data is on another node's catalog disk, and it never "
            "checkpointed to the root (`haybale catalog checkpoint`). Bring that node (or its disk) back, or "
            "rebuild the catalog from the volumes (`haybale catalog rebuild`)")


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


def open_or_restore(root: str, meta: Any, owner: int, directory: Path,
                    **options: Any) -> tuple[Any, dict[str, Any] | None]:
    """Open owner ``owner``'s store in ``directory``; if the directory is lost (:func:`lost_directory`),
    restore it first from the owner's latest checkpoint on the root and re-register what was registered
    since (:mod:`catalog.owner_checkpoint`), or refuse (:class:`~catalog.errors.OwnerDiskLostError`)
    when it never checkpointed. Returns the store and the restore's report (None: nothing restored)."""
    from catalog.owner_store import OwnerStore

    manifest = None
    if lost_directory(root, meta.catalog_id, owner, directory):
        from catalog.owner_checkpoint import download_checkpoint, latest_manifest

        manifest = latest_manifest(root, meta.catalog_id, owner)
        if manifest is None:
            refuse_lost_directory(root, meta.catalog_id, owner, directory)
        started = time.time()
        download_checkpoint(root, manifest, directory)
        download_seconds = time.time() - started
    store = OwnerStore(directory, owner, meta, root=root, **options)
    try:
        record_directory(root, meta.catalog_id, owner, directory)
        if manifest is None:
            return store, None
        from catalog.owner_checkpoint import RestoreReport
        from catalog.owner_replay import replay_since

        report = RestoreReport(owner, manifest["seq"], manifest["records"], manifest["watermark"]["replay_from"],
                               download_seconds=download_seconds)
        from catalog.owner_edit_log import replay_edits

        log, store.edit_log = store.edit_log, None  # what is replayed is in the log already
        try:
            replay_since(store, root, report.replay_from, report)
            # then the marks, deletes and re-registrations logged since the same replay point
            edits = replay_edits(store, root, int(manifest["watermark"].get("edits_from", 0)))
        finally:
            store.edit_log = log
        report.edits = {k: v for k, v in edits.__dict__.items() if k != "unreadable"}
        report.not_replayed += edits.unreadable  # listed with the reason, never skipped silently
        write_restore_report(root, meta.catalog_id, owner, report.as_dict())
        return store, report.as_dict()
    except BaseException:
        store.close()
        raise


def owner_name(catalog_id: str, owner: int) -> str:
    return f"owner-{catalog_id}-{owner}"


WRITE_METHODS = frozenset({"register", "register_batch", "mark_many", "delete_many", "volume_call"})
CHECKPOINT_SECONDS = float(os.environ.get("HAYBALE_CHECKPOINT_SECONDS", "300"))
# owner settings read from the environment: the command that starts the owners passes its own values
# on (else the owners' nodes' environment counts)
OWNER_SETTINGS = ("HAYBALE_CHECKPOINT_SECONDS", SETTLE_ENV, CACHE_ENV, WARM_ENV)


class OwnerServer:
    """The actor's body (decorated with ``ray.remote`` in :func:`owner_handles`).

    On a remote root an owner whose directory is missing on this node but which held data before is
    restored from its latest checkpoint on the root plus what was registered since
    (:mod:`catalog.owner_checkpoint`); with no checkpoint it refuses to start
    (:class:`~catalog.errors.OwnerDiskLostError`). It checkpoints itself after a write when the last
    checkpoint is ``HAYBALE_CHECKPOINT_SECONDS`` old (default 300; 0 = only on demand), remote roots only.
    Once writes stop for ``HAYBALE_OWNER_SETTLE_SECONDS`` (default 30) it compacts its location index
    into one sorted run (:mod:`catalog.owner_settle`). Its block cache is ``HAYBALE_OWNER_CACHE_MB``
    (default 256; :mod:`catalog.owner_cache`); given 1 GiB or more it reads its location index into
    that cache in the background when it starts (``HAYBALE_OWNER_WARM``; :mod:`catalog.owner_warm`).
    """

    def __init__(self, root: str, catalog_disk: str, owner: int) -> None:
        from catalog.catalog_meta import load_meta, owner_dir

        meta = load_meta(root)
        if meta is None:
            raise RuntimeError(f"owner {owner}: root {root} has no catalog meta record")
        self.root = root
        directory = owner_dir(Path(os.environ.get(NODE_DISK_ENV) or catalog_disk), owner)
        self.store, self.restored = open_or_restore(root, meta, owner, directory, cache_bytes=owner_cache_bytes(),
                                                    warm=warm_wanted())
        self.last_checkpoint = time.monotonic()
        self.settling = SettleState(settle_seconds())
        # RocksDB stops writing after an I/O error (a full disk) until it is opened again, so once space
        # is freed the owner would still refuse every write until it restarted: it reopens instead
        self.io_failure: Exception | None = None
        ask = _settle_asker()
        if ask is not None:  # in an owner actor (not an OwnerServer built in-process, as tests do)
            start_settler(self.settling, ask)

    def _reopen_after_io_failure(self) -> None:
        """Open the store again if a call hit a RocksDB I/O error; raise a :class:`CatalogError` naming the
        directory, the first error and what to do when it cannot be opened yet (the next call tries again)."""
        if self.io_failure is None:
            return
        owner, meta, directory = self.store.owner, self.store.meta, self.store.directory
        try:
            self.store.close()
        except Exception:  # noqa: BLE001 - RocksDB repeats its error on close; the files stay as they are
            pass
        try:
            self.store, _ = open_or_restore(self.root, meta, owner, directory, cache_bytes=owner_cache_bytes(),
                                            warm=warm_wanted())
        except Exception as exc:
            raise CatalogError(f"owner {owner}: its catalog directory {directory} failed ({self.io_failure}) and "
                               f"cannot be opened again yet ({exc}): free space on that disk (or fix it), then "
                               "run the command again") from exc
        self.io_failure = None

    def call(self, method: str, *args: Any) -> Any:
        self._reopen_after_io_failure()
        try:
            result = getattr(self.store, method)(*args)
        except Exception as exc:
            if rocksdb_io_error(exc):
                self.io_failure = exc
            raise
        if method in WRITE_METHODS:
            self.settling.wrote()
        if method in WRITE_METHODS and CHECKPOINT_SECONDS > 0 and not _is_local(self.root) \
                and time.monotonic() - self.last_checkpoint >= CHECKPOINT_SECONDS:
            try:
                self.checkpoint_to_root()
            except Exception as exc:  # noqa: BLE001 - the write succeeded; the next write tries again
                import sys

                self.last_checkpoint = time.monotonic()
                print(f"owner {self.store.owner}: checkpoint to {self.root} failed, retried after the next "
                      f"{CHECKPOINT_SECONDS:.0f} s: {exc!r}", file=sys.stderr)
        return result

    def settle(self) -> dict[str, Any] | None:
        """Compact the location index if no write came for the settle time (:mod:`catalog.owner_settle`);
        the read shape after it, or None if nothing was due."""
        self._reopen_after_io_failure()
        return self.settling.settle(self.store)

    def next_volume_number(self) -> int:
        """Owner 0: the volume table's next number (every row below it is logged on the root)."""
        return int(self.store.volume_call("next_number"))

    def checkpoint_to_root(self, next_volume: int | None = None) -> dict[str, Any]:
        """Checkpoint this owner to the root now (see :mod:`catalog.owner_checkpoint`); returns the
        manifest written, with ``seconds`` taken. ``next_volume`` defaults to owner 0's next number."""
        from catalog.owner_checkpoint import checkpoint_owner

        if next_volume is None:
            if self.store.owner == 0:
                next_volume = self.next_volume_number()
            else:
                import ray

                zero = ray.get_actor(owner_name(self.store.meta.catalog_id, 0), namespace=NAMESPACE)
                next_volume = int(ray.get(zero.next_volume_number.remote()))
        manifest = checkpoint_owner(self.store, self.root, next_volume)
        self.last_checkpoint = time.monotonic()
        return {k: v for k, v in manifest.items() if k not in ("files", "manifest_json")}

    def restore_report(self) -> dict[str, Any] | None:
        """What restoring this owner did when it started (None: it opened its own directory)."""
        return self.restored

    def where(self) -> dict[str, Any]:
        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "directory": str(self.store.directory), "restored": self.restored is not None}


def _settle_asker() -> Callable[[], None] | None:
    """A function that runs :meth:`OwnerServer.settle` as a call of this actor (after the calls already
    queued) and waits for it; None when this process is not a Ray actor."""
    try:
        import ray

        if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
            return None
        me = ray.get_runtime_context().current_actor  # in the actor's own thread: other threads cannot ask
    except Exception:  # noqa: BLE001 - no Ray or no actor context: nothing settles by itself
        return None
    return lambda: ray.get(me.settle.remote())


def _is_local(root: str) -> bool:
    from catalog.storage import is_local

    return is_local(root)


def write_restore_report(root: str, catalog_id: str, owner: int, report: dict[str, Any]) -> None:
    """Keep what a restore did on the root (operators and tests read it; the actor's log is per node)."""
    import json

    from catalog.owner_checkpoint import owner_prefix
    from catalog.storage import write_atomic

    write_atomic(f"{owner_prefix(root, catalog_id, owner)}/restores/{int(time.time() * 1000):016d}.json",
                 json.dumps(report, sort_keys=True))


def owner_handles(root: str, catalog_disk: Path, catalog_id: str, num_owners: int) -> list[Any]:
    """Handles of the catalog's owners, started if they are not running (Ray must be connected)."""
    import ray

    actor = ray.remote(OwnerServer)
    resources = {DISK_RESOURCE: DISK_SHARE} if ray.cluster_resources().get(DISK_RESOURCE) else {}
    placements = owner_placements(num_owners)
    settings = {name: os.environ[name] for name in OWNER_SETTINGS if name in os.environ}
    settings.update(owner_process_env())  # the block cache in huge pages (catalog/owner_cache.py)
    runtime_env = {"env_vars": settings} if settings else None
    handles = []
    for i in range(num_owners):
        handles.append(actor.options(
            name=owner_name(catalog_id, i), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            num_cpus=0, max_restarts=-1, max_task_retries=-1, resources=resources, runtime_env=runtime_env,
            # one byte of the memory resource: Ray 2.60 places an actor that asks for no resource at all
            # anywhere, whatever its soft node affinity (measured on the loopback cluster: 0 of 3 rounds
            # as asked; with it, every one)
            memory=1, scheduling_strategy=placements[i]).remote(root, str(catalog_disk), i))
    return handles


def owner_placements(num_owners: int) -> list[Any]:
    """Where each owner should start: round-robin over the live nodes that offer the catalog disk
    (all live nodes when none does), as soft node affinity, so owners spread evenly even when a node
    is busy (``SPREAD`` alone weighs load and can put every owner on one node) and still start
    elsewhere when their node is gone. ``SPREAD`` on a cluster of one node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive")]
    disks = [n for n in alive if n.get("Resources", {}).get(DISK_RESOURCE)] or alive
    nodes = [n["NodeID"] for n in sorted(disks, key=lambda n: (n.get("NodeManagerAddress", ""), n["NodeID"]))]
    if len(nodes) < 2:
        return ["SPREAD"] * num_owners
    return [NodeAffinitySchedulingStrategy(node_id=nodes[i % len(nodes)], soft=True) for i in range(num_owners)]


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
