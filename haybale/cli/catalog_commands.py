"""``haybale catalog …``: query and maintain the catalog of a deployment root.

``get``, ``cat``, ``ls`` and ``stats`` read through a :class:`~catalog.reader.CatalogReader` (the
root's store, or the service at ``--url``); a local path given as a key means its ``file://`` key.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
from catalog.errors import CatalogError
from haybale.cli import output
from haybale.cli.checkpoint_command import add_checkpoint_command
from haybale.cli.compact_command import add_compact_command
from haybale.cli.options import add_url_option, command, positive_int
from haybale.cli.serve_command import add_serve_options, cmd_serve
from haybale.cli.stores import (
    job_store,
    key_argument,
    listing_prefix_argument,
    new_paths,
    open_reader,
    refuse_if_served,
    served_by_head,
    writable_store,
)

if TYPE_CHECKING:
    from catalog.location import Location


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    cat = sub.add_parser("catalog", help="query and maintain the catalog (key → location)")
    cmds = cat.add_subparsers(dest="catalog_cmd", required=True, metavar="COMMAND")

    p = command(cmds, "get", "print a key's location, volume and dedup mark (as JSON)", cmd_get)
    p.add_argument("key", help="URL, file URI or other key; a local path means its file:// key")
    add_url_option(p)

    p = command(cmds, "cat", "write a record's content to stdout (HTTP body decoded for web pages)", cmd_cat)
    p.add_argument("key", help="URL, file URI or other key; a local path means its file:// key")
    p.add_argument("--raw", action="store_true", help="the whole WARC record instead of the content")
    p.add_argument("--whole", action="store_true",
                   help="stream a body whatever its decoded size (default: a body over the decoded-size cap "
                        "is an error naming the key and the cap, never a truncated body)")
    p.add_argument("--max-decoded-bytes", type=positive_int, default=DEFAULT_MAX_DECODED_BYTES, metavar="N",
                   help=f"decoded-size cap of a body (default {DEFAULT_MAX_DECODED_BYTES:,})")
    add_url_option(p)

    p = command(cmds, "ls", "list keys by URL, SURT, key or local path prefix (SURT order for URLs)", cmd_ls)
    p.add_argument("prefix", nargs="?", default="",
                   help="prefix to list (default: every key); a local directory lists the files under it")
    p.add_argument("--limit", type=positive_int, default=None, help="list at most this many keys")
    p.add_argument("--long", "-l", action="store_true", help="also print each key's location")
    add_url_option(p)

    p = command(cmds, "stats", "record count, volumes, bytes, shards", cmd_stats)
    add_url_option(p)

    p = command(cmds, "rebuild", "reconstruct the catalog from volumes and their sidecars", cmd_rebuild)
    p.add_argument("--into", default=None, metavar="DIR",
                   help="build into this new catalog directory and leave the current one alone "
                        "(default: rebuild in place, keeping the old catalog as catalog.old-TIMESTAMP)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray started for this command)")
    p.add_argument("--num-cpus", type=positive_int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--serial", action="store_true",
                   help="rebuild in this process, one volume after the other, without Ray (the reference "
                        "the parallel job is tested against)")

    add_checkpoint_command(cmds, command)
    add_compact_command(cmds, command)

    p = command(cmds, "delete", "remove keys from the catalog; logged in ROOT/deletes, so a rebuild leaves "
                                "them out too (volume bytes are not touched)", cmd_delete)
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.add_argument("--keys-from", metavar="FILE", help="also delete the keys listed in FILE, one per line "
                   "('-': standard input; blank lines and lines starting with '#' are skipped)")

    p = command(cmds, "serve", "alias of `haybale serve`: the catalog over HTTP (bearer token, limits, "
                               "metrics; read-only, ingest jobs may keep writing)", cmd_serve)
    add_serve_options(p)


def cmd_get(args: argparse.Namespace) -> int:
    key = key_argument(args.key)
    with open_reader(args) as reader:
        found = reader.describe(key)
        info = {"key": key, **{k: found[k] for k in ("volume", "offset", "length", "digest", "volume_url")}}
        mark = reader.mark_of(key)
    if mark:
        info["mark"] = {"status": mark[0], "reason": mark[1]}
    output.print_json(info)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    """The content through any reader. What was odd about the body (a false Content-Encoding used as
    stored, a cut stream) is a warning on stderr."""
    key = key_argument(args.key)
    warnings: list[str] = []
    with open_reader(args) as reader:
        if args.whole and not args.raw:
            reader.cat_whole(key, sys.stdout.buffer.write, warnings)
            data = b""
        else:
            data = reader.cat(key, raw=args.raw, max_decoded=args.max_decoded_bytes, warnings=warnings)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    for warning in warnings:
        print(f"haybale: warning: {key}: {warning}", file=sys.stderr)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    prefix = listing_prefix_argument(args.prefix)
    with open_reader(args) as reader:
        if args.long or args.json:
            _print_items(reader.items(prefix, limit=args.limit), as_json=args.json)
        else:
            for key in reader.list(prefix, limit=args.limit):
                print(key)
    return 0


def _print_items(items: Iterable[tuple[str, Location]], *, as_json: bool) -> None:
    """``ls --long`` lines (key, tab, location) or ``ls --json`` lines (one object per key)."""
    import json

    for key, loc in items:
        if as_json:
            print(json.dumps({"key": key, **loc.as_dict()}))
        else:
            print(f"{key}\tvolume={loc.volume} offset={loc.offset} length={loc.length}")


def cmd_stats(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        stats = reader.stats()
    if args.json:
        output.print_json(stats)
        return 0
    print(output.table([
        ("catalog", stats["catalog"]),
        ("records", output.count(stats["records"])),
        ("volumes", f"{output.count(stats['volumes'])} ({output.size(stats['volume_bytes'])})"),
        ("shards", f"{stats['shards']} ({output.count(stats['slots'])} slots)"),
        ("catalog disk", output.size(stats["catalog_disk_bytes"])),
    ]))
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from catalog.catalog_meta import adopt_meta, fresh_meta, load_meta
    from catalog.checkpoint_layout import checkpoints_url
    from catalog.layout import RootLayout
    from catalog.rebuild import rebuild
    from catalog.rebuild_parallel import rebuild_parallel
    from catalog.storage import url_exists
    from catalog.store import Store, catalog_dir_meta
    from ingest.ray_runtime import ray_connection

    layout = RootLayout.of(args.root, args.catalog_dir)
    if not (url_exists(layout.volumes_url) or url_exists(layout.indexes_url)):
        raise CatalogError(f"nothing to rebuild from: root {layout.root} holds no volumes/ and no indexes/ "
                           "(check --root; a rebuild reads the volumes a root's jobs wrote)")
    users = None
    if not args.into:  # replacing the live catalog: its owners must not be running, nor commands using it
        refuse_if_served(layout, "a rebuild in place replaces the catalog its owners hold open; give "
                         "--into DIR to build a copy beside it")
        users = _alone_on(layout)
    target_dir = RootLayout.of(args.root, args.into or layout.rebuild_dir()).catalog_dir
    if args.into and target_dir.exists() and any(target_dir.iterdir()):
        raise CatalogError(f"--into {args.into}: that directory is not empty; give a new directory")
    if not args.into and target_dir.exists():
        shutil.rmtree(target_dir)  # a rebuild that was interrupted before it replaced the catalog
    created = new_paths(RootLayout.of(args.root, target_dir))
    current = load_meta(layout.root)
    # a new catalog id: what the root keeps under the old one (owner markers, checkpoints, edit logs,
    # volume rows) belongs to the old catalog, whose volume numbers are not the rebuilt one's
    new_meta = fresh_meta(current or catalog_dir_meta(layout.catalog_dir))
    try:
        quiet = None if not args.quiet else (lambda _: None)
        with Store(args.root, catalog_dir=str(target_dir), new_meta=new_meta) as target:
            if args.serial:
                report = rebuild(layout.volumes_url, target, progress=quiet, deletes_url=layout.deletes_url)
            else:  # the Ray job: tasks index the volumes, SST files per shard (catalog.rebuild_parallel)
                with ray_connection(args.address, args.num_cpus):
                    report = rebuild_parallel(layout.volumes_url, target, progress=quiet,
                                              deletes_url=layout.deletes_url)
    except BaseException:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        if users is not None:
            users.leave()
        raise
    result: dict[str, Any] = report.as_dict()
    if not args.into:
        old = None
        if layout.catalog_dir.exists():
            old = str(layout.retired_catalog_dir())
            os.replace(layout.catalog_dir, old)
        os.replace(target_dir, layout.catalog_dir)
        adopt_meta(layout.root, new_meta, current)  # the root's catalog is now the rebuilt one
        result["previous_catalog"] = old
        result["previous_catalog_id"] = current.catalog_id if current is not None else None
        if users is not None:
            users.leave()  # commands waiting to join find the new catalog directory
    result["catalog"] = str(target_dir if args.into else layout.catalog_dir)
    if args.json:
        output.print_json(result)
        return 0
    print(f"rebuilt {output.count(result['records'])} records from {result['volumes']} volumes and "
          f"{result['external_files']} files indexed in place into {result['catalog']} in "
          f"{output.seconds(result['seconds'])}; {output.count(result['skipped'])} records skipped")
    if report.deleted:
        print(f"{output.count(report.deleted)} captures left out: `catalog delete` removed them "
              f"(the deletion log {layout.deletes_url})")
    if result.get("previous_catalog"):
        print(f"the previous catalog is kept in {result['previous_catalog']}")
    if result.get("previous_catalog_id") and url_exists(checkpoints_url(layout.root, result["previous_catalog_id"])):
        print(f"the catalog is now {new_meta.catalog_id}; what the root keeps for {result['previous_catalog_id']} "
              f"({checkpoints_url(layout.root, result['previous_catalog_id'])}: checkpoints, edit logs) is no "
              "longer used: remove it once the new catalog has checkpointed (`haybale catalog checkpoint`)")
    print("dedup marks are not in the volumes, so the rebuilt catalog has none: run `haybale dedup run "
          "--input catalog:PREFIX` again to mark its keys")
    for item in report.skipped[:20]:
        print(f"  skipped: volume {item['volume']} offset {item['offset']}: {item['reason']}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20:,} more (see --json)")
    for item in report.kept_after_delete[:20]:
        print(f"  kept: {item['key']} (volume {item['volume']} offset {item['offset']}): {item['reason']}")
    if len(report.kept_after_delete) > 20:
        print(f"  ... and {len(report.kept_after_delete) - 20:,} more kept after a delete (see --json)")
    return 0


def _listed_keys(path: str | None) -> list[str]:
    """The keys a --keys-from file lists (none without one)."""
    if path is None:
        return []
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"--keys-from {path}: cannot read it ({exc}): give a UTF-8 text file, one key per line") from exc
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def _alone_on(layout: Any) -> Any:
    """Hold the catalog directory exclusively for an in-place rebuild (None when there is none yet), or
    raise :class:`RootError`: a command writing it in its own process (`--no-ray`) would go on writing
    the catalog the rebuild sets aside."""
    from catalog.errors import RootError
    from haybale.cli.root_users import RootUsers

    if not layout.catalog_dir.exists():
        return None
    users = RootUsers(layout.catalog_dir).join()
    if not users.alone():
        users.leave()
        raise RootError(f"the catalog {layout.catalog_dir} is in use by another haybale command: wait for it to "
                        "finish before rebuilding in place, or rebuild into another directory with --into DIR")
    return users


def cmd_delete(args: argparse.Namespace) -> int:
    from catalog.layout import RootLayout

    keys = [key_argument(k) for k in [*args.keys, *_listed_keys(args.keys_from)]]
    if not keys:
        raise CatalogError("catalog delete: no keys given: name them as arguments or list them in --keys-from FILE")
    layout = RootLayout.of(args.root, args.catalog_dir)
    # through the owners on the root's local head when it serves the root, else in this process
    opened = job_store(args, create=False) if served_by_head(layout) else writable_store(args, create=False)
    with opened as store:
        deleted = store.delete(keys)  # logged on the root first, so a rebuild leaves them out too
    if args.json:
        output.print_json({"deleted": deleted, "asked": len(keys)})
    else:
        print(f"deleted {deleted:,} of {len(keys):,} keys")
    return 0
