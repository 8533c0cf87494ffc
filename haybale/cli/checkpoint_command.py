"""``haybale catalog checkpoint``: every owner checkpoints to the root now (catalog/owner_checkpoint.py).

On the root's cluster (``--address``/``$RAY_ADDRESS``, or the root's running local head) the owner
actors checkpoint themselves, all at once; with ``--no-ray`` this process opens the owners'
directories and checkpoints them one after the other (nothing else may be writing them).
"""
from __future__ import annotations

import argparse
from typing import Any

from haybale.cli import output
from haybale.cli.stores import job_store


def add_checkpoint_command(cmds: Any, command: Any) -> None:
    p = command(cmds, "checkpoint", "upload the owners' new SST files and a manifest to the root now "
                                    "(a lost owner restores from its latest checkpoint)", cmd_checkpoint)
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: $RAY_ADDRESS, else the root's local head)")
    p.add_argument("--num-cpus", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-ray", action="store_true",
                   help="checkpoint in this process (no owner may be running for the root)")


def checkpoint_owners(store: Any) -> list[dict[str, Any]]:
    """Checkpoint every owner of ``store`` (a :class:`~catalog.store.Store` of the root); one summary
    per owner (seq, records, watermark, bytes uploaded and reused, seconds)."""
    from catalog.owner_checkpoint import checkpoint_owner

    catalog = store.catalog
    catalog.ensure()
    if store.cluster:
        import ray

        from catalog.owner_actor import owner_handles

        meta = catalog.meta
        handles = owner_handles(store.root, store.layout.catalog_dir, meta.catalog_id, meta.num_owners)
        nxt = ray.get(handles[0].next_volume_number.remote())
        return list(ray.get([h.checkpoint_to_root.remote(nxt) for h in handles]))
    stores = [ep.store for ep in catalog._eps]
    nxt = stores[0].volume_call("next_number")
    out = []
    for owner_store in stores:
        manifest = checkpoint_owner(owner_store, store.root, nxt)
        out.append({k: v for k, v in manifest.items() if k not in ("files", "manifest_json")})
    return out


def cmd_checkpoint(args: argparse.Namespace) -> int:
    with job_store(args, create=False) as store:
        results = checkpoint_owners(store)
    if args.json:
        output.print_json({"owners": results})
    else:
        for r in results:
            print(f"owner {r['owner']}: checkpoint {r['seq']}, {r['records']:,} records, "
                  f"{r['uploaded_bytes']:,} bytes uploaded, {r['reused_bytes']:,} already on the root, "
                  f"replay from volume {r['watermark']['replay_from']} on restore, {r['seconds']:.2f} s")
    return 0
