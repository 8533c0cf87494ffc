"""``haybale catalog …``: query and maintain the catalog of a deployment root."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any, Iterable

from catalog.client import CatalogClient
from catalog.location import Location
from catalog.store import Store, layout, resolve_root
from haybale.cli.options import add_common


def add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, metavar="URL",
                        help="query a running catalog service (e.g. http://127.0.0.1:7480, see "
                             "`haybale catalog serve`) instead of opening the catalog; --root is then ignored")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    cat = sub.add_parser("catalog", help="query and maintain the catalog (key → location)")
    cmds = cat.add_subparsers(dest="catalog_cmd", required=True, metavar="COMMAND")

    p = cmds.add_parser("get", help="print a key's location as JSON")
    add_common(p)
    p.add_argument("key")
    p.add_argument("--json", action="store_true", help="(default) JSON output")
    add_url(p)
    p.set_defaults(func=cmd_get)

    p = cmds.add_parser("cat", help="write a record's content to stdout (HTTP body decoded for web pages)")
    add_common(p)
    p.add_argument("key")
    p.add_argument("--raw", action="store_true", help="the whole WARC record instead of the content")
    add_url(p)
    p.set_defaults(func=cmd_cat)

    p = cmds.add_parser("ls", help="list keys by URL, SURT or key prefix (SURT order for URLs)")
    add_common(p)
    p.add_argument("prefix", nargs="?", default="")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--long", "-l", action="store_true", help="also print each key's location")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_url(p)
    p.set_defaults(func=cmd_ls)

    p = cmds.add_parser("stats", help="record count, volumes, bytes, shards")
    add_common(p)
    p.add_argument("--json", action="store_true")
    add_url(p)
    p.set_defaults(func=cmd_stats)

    p = cmds.add_parser("rebuild", help="reconstruct the catalog from volumes and their sidecars")
    add_common(p)
    p.add_argument("--into", default=None,
                   help="build into this new catalog directory and leave the current one alone "
                        "(default: rebuild in place, keeping the old catalog as catalog.old-TIMESTAMP)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rebuild)

    p = cmds.add_parser("delete", help="remove keys from the catalog (volume bytes are not touched)")
    add_common(p)
    p.add_argument("keys", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_delete)

    p = cmds.add_parser("serve", help="serve the catalog as an HTTP JSON query service (read-only; "
                                      "ingest jobs may keep writing)")
    add_common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7480, help="port (default: 7480; 0 = any free port, printed)")
    p.add_argument("--refresh-seconds", type=float, default=2.0,
                   help="look for new registrations by writers this often (default: 2; 0 = only on "
                        "POST /v1/refresh)")
    p.add_argument("--max-batch", type=int, default=10_000, help="most keys per batch request (default: 10000)")
    p.add_argument("--threads", type=int, default=4, help="threads doing catalog and volume reads (default: 4)")
    p.set_defaults(func=cmd_serve)


def _store(args: argparse.Namespace, *, read_only: bool = True) -> Store:
    return Store(args.root, catalog_dir=args.catalog_dir, read_only=read_only, create=not read_only)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False))


def cmd_get(args: argparse.Namespace) -> int:
    if args.url:
        with CatalogClient(args.url) as client:
            found = client.describe(args.key)
            info = {"key": args.key, **{k: found[k] for k in ("volume", "offset", "length", "digest")},
                    "volume_url": found["volume_url"]}
            mark = client.mark_of(args.key)
            if mark:
                info["mark"] = {"status": mark[0], "reason": mark[1]}
        _print_json(info)
        return 0
    with _store(args) as store:
        loc = store.catalog.get(args.key)
        info = {"key": args.key, **loc.as_dict(), "volume_url": store.volume_url(loc.volume)}
        mark = store.catalog.mark_of(args.key)
        if mark:
            info["mark"] = {"status": mark[0], "reason": mark[1]}
    _print_json(info)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    if args.url:
        with CatalogClient(args.url) as client:
            data = client.cat(args.key, raw=args.raw)
    else:
        with _store(args) as store:
            data = store.cat(args.key, raw=args.raw)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    if args.url:
        with CatalogClient(args.url) as client:
            if args.long or args.json:
                _print_items(client.items(args.prefix, limit=args.limit), args)
            else:
                for key in client.list(args.prefix, limit=args.limit):
                    print(key)
        return 0
    with _store(args) as store:
        if args.long or args.json:
            _print_items(store.catalog.items(args.prefix), args)
        else:
            for key in store.catalog.list(args.prefix, limit=args.limit):
                print(key)
    return 0


def _print_items(items: Iterable[tuple[str, Location]], args: argparse.Namespace) -> None:
    """``ls --long`` / ``ls --json`` lines, at most ``args.limit`` of them."""
    n = 0
    for key, loc in items:
        if args.limit is not None and n >= args.limit:
            break
        n += 1
        if args.json:
            print(json.dumps({"key": key, **loc.as_dict()}))
        else:
            print(f"{key}\tvolume={loc.volume} offset={loc.offset} length={loc.length}")


def cmd_stats(args: argparse.Namespace) -> int:
    if args.url:
        with CatalogClient(args.url) as client:
            stats = client.stats()
    else:
        with _store(args) as store:
            stats = store.catalog.stats()
    if args.json:
        _print_json(stats)
    else:
        print(f"catalog      {stats['catalog']}")
        print(f"records      {stats['records']:,}")
        print(f"volumes      {stats['volumes']:,} ({stats['volume_bytes']:,} bytes)")
        print(f"shards       {stats['shards']} ({stats['slots']} slots)")
        print(f"catalog disk {stats['catalog_disk_bytes']:,} bytes")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from catalog.service import ServiceConfig
    from catalog.service_run import RunningService, serve

    config = ServiceConfig(root=args.root, catalog_dir=args.catalog_dir, host=args.host, port=args.port,
                           refresh_seconds=args.refresh_seconds, max_batch=args.max_batch,
                           threads=args.threads)

    def announce(service: RunningService) -> None:
        every = f"every {config.refresh_seconds:g} s" if config.refresh_seconds else "on POST /v1/refresh only"
        print(f"haybale catalog service on {service.url} (catalog {service.backend.catalog_dir}, "
              f"following writers {every}); stop with Ctrl-C or SIGTERM", flush=True)

    serve(config, announce)
    print("haybale catalog service stopped", flush=True)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from catalog.rebuild import rebuild

    root = resolve_root(args.root)
    lay = layout(root, args.catalog_dir)
    target_dir = args.into or str(lay.catalog_dir) + ".rebuild"
    if os.path.exists(target_dir) and not args.into:
        shutil.rmtree(target_dir)
    with Store(root, catalog_dir=target_dir) as target:
        report = rebuild(lay.volumes_url, target)
    result = report.as_dict()
    if not args.into:
        old = None
        if lay.catalog_dir.exists():
            old = f"{lay.catalog_dir}.old-{time.strftime('%Y%m%d%H%M%S')}"
            os.replace(lay.catalog_dir, old)
        os.replace(target_dir, lay.catalog_dir)
        result["previous_catalog"] = old
    result["catalog"] = args.into or str(lay.catalog_dir)
    if args.json:
        _print_json(result)
    else:
        print(f"rebuilt {result['records']:,} records from {result['volumes']} volumes into "
              f"{result['catalog']} in {result['seconds']} s; {result['skipped']} records skipped")
        for item in report.skipped:
            print(f"  skipped: volume {item['volume']} offset {item['offset']}: {item['reason']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _store(args, read_only=False) as store:
        n = store.catalog.delete_many(args.keys)
    if args.json:
        _print_json({"deleted": n})
    else:
        print(f"deleted {n} of {len(args.keys)} keys")
    return 0
