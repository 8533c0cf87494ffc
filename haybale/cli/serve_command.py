"""``haybale serve`` (alias ``haybale catalog serve``): the catalog's HTTP front door.

It serves the root's catalog read-only (ingest jobs keep writing), or another reader: ``--upstream
URL`` relays to another catalog service; ``--address`` with ``--reader-factory MODULE:FUNCTION`` serves
the shard owners of a Ray cluster through their client. Every request but ``GET /healthz`` needs the
bearer token (``--token-file``, ``HAYBALE_TOKEN``, ``HAYBALE_TOKEN_FILE``; generated and printed when
none is set); ``--no-auth`` turns that off and warns on every start. ``--workers N`` runs N processes on
one port (SO_REUSEPORT).
"""
from __future__ import annotations

import argparse
import sys

from haybale.cli.options import command, non_negative_float, port_number, positive_int

NO_AUTH_WARNING = ("WARNING: --no-auth: this catalog service answers ANYONE who can reach {where} without a "
                   "token. Use it only on loopback for experiments; give a token (HAYBALE_TOKEN or "
                   "--token-file) for anything else.")


def add_serve_options(p: argparse.ArgumentParser) -> None:
    """The options of ``haybale serve`` and its alias ``haybale catalog serve``."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=7480,
                   help="port (default: 7480; 0 = any free port, printed)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes serving the port (SO_REUSEPORT; default: 1; one process uses ~one core)")
    p.add_argument("--threads", type=positive_int, default=4,
                   help="threads per process doing catalog and volume reads (default: 4)")
    p.add_argument("--refresh-seconds", type=non_negative_float, default=2.0,
                   help="look for new registrations by writers this often (default: 2; 0 = only on "
                        "POST /v1/refresh)")
    auth = p.add_argument_group("authentication and TLS")
    auth.add_argument("--token-file", default=None, metavar="FILE",
                      help="file whose first line is the bearer token (default: $HAYBALE_TOKEN, "
                           "$HAYBALE_TOKEN_FILE, else a token is generated and printed)")
    auth.add_argument("--no-auth", action="store_true",
                      help="serve WITHOUT a token (loopback experiments only; warned on every start)")
    auth.add_argument("--certfile", default=None, metavar="PEM", help="serve HTTPS with this certificate")
    auth.add_argument("--keyfile", default=None, metavar="PEM", help="the certificate's private key")
    lim = p.add_argument_group("limits (each refused with a 4xx naming it)")
    lim.add_argument("--max-batch", type=positive_int, default=10_000,
                     help="most keys per lookup (default: 10000; more → 413)")
    lim.add_argument("--max-body", type=positive_int, default=None, metavar="BYTES",
                     help="largest request body (default: enough for --max-batch keys of 4 KiB)")
    lim.add_argument("--max-list-limit", type=positive_int, default=10_000,
                     help="most keys per listing page (default and most: 10000)")
    src = p.add_argument_group("what to serve (default: the root's catalog)")
    src.add_argument("--upstream", default=None, metavar="URL",
                     help="relay to the catalog service at URL (its token: $HAYBALE_UPSTREAM_TOKEN)")
    src.add_argument("--address", default=None,
                     help="Ray cluster address where the root's catalog owners run: serve them through their client "
                          "(default: read the root's owner directories, read-only)")
    src.add_argument("--reader-factory", default=None, metavar="MODULE:FUNCTION",
                     help="function(address=, root=) returning a CatalogReader (default with --address: "
                          "haybale.cli.owner_reader:open_owner_reader)")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command(sub, "serve", "serve the catalog over HTTP: lookups, listings, content, metrics (a bearer "
                              "token on every request; read-only, ingest jobs may keep writing)", cmd_serve)
    add_serve_options(p)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from catalog.errors import CatalogError
    from catalog.service import ServiceConfig
    from catalog.tokens import find_token, generate_token
    from haybale.cli.owner_reader import FACTORY as OWNER_READER

    token, source = (None, "") if args.no_auth else find_token(args.token_file)
    if args.no_auth and args.token_file:
        raise CatalogError("--no-auth and --token-file contradict each other: give one of them")
    generated = not args.no_auth and token is None
    if generated:
        token, source = generate_token(), "generated"
    config = ServiceConfig(
        root=args.root, catalog_dir=args.catalog_dir, host=args.host, port=args.port,
        refresh_seconds=args.refresh_seconds, max_batch=args.max_batch, threads=args.threads, token=token,
        certfile=args.certfile, keyfile=args.keyfile, max_body=args.max_body or 0,
        max_list_limit=args.max_list_limit, upstream=args.upstream,
        upstream_token=os.environ.get("HAYBALE_UPSTREAM_TOKEN"), address=args.address,
        # --address alone: the owners' own client (haybale.cli.owner_reader)
        reader_factory=args.reader_factory or (OWNER_READER if args.address else None))

    def announce(url: str, what: str) -> None:
        every = f"every {config.refresh_seconds:g} s" if config.refresh_seconds else "on POST /v1/refresh only"
        workers = f"{args.workers} workers" if args.workers > 1 else "1 process"
        print(f"haybale catalog service on {url} ({what}, following writers {every}, {workers}); "
              "stop with Ctrl-C or SIGTERM", flush=True)
        if generated:
            print(f"token (generated; set HAYBALE_TOKEN or --token-file to choose one): {token}", flush=True)
        elif token is not None:
            print(f"token from {source}", flush=True)
        if args.no_auth:
            print(NO_AUTH_WARNING.format(where=url), file=sys.stderr, flush=True)

    if args.no_auth:
        print(NO_AUTH_WARNING.format(where=f"{args.host}:{args.port}"), file=sys.stderr, flush=True)
    if args.workers > 1:
        from catalog.service_workers import serve_workers

        what = f"upstream {args.upstream}" if args.upstream else f"root {args.root or '(default)'}"
        serve_workers(config, args.workers, lambda url: announce(url, what))
    else:
        from catalog.service_run import RunningService, serve

        def announce_one(service: RunningService) -> None:
            announce(service.url, service.backend.description)

        serve(config, announce_one)
    print("haybale catalog service stopped", flush=True)
    return 0
