"""``haybale catalog compact``: every owner compacts its location index into one sorted run now.

After a big load each owner's index is spread over a few level-0 files and a level; a batched lookup
then multi-gets through all of them (~3 µs of CPU per key at 10^7 entries). Compacted into one run,
the owners read a sorted batch by seeks (~1.6 µs per key; catalog/owner_reads.py), which is what
dedup's catalog input and `haybale serve`'s batched lookups meet afterwards. The compaction rewrites
the whole index (quiet machine, 10^7 entries in 4 owners: 1.8 s), so the next checkpoint uploads it
again: run it when a load is done, not between jobs' batches. Nothing changes in the catalog's contents.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from haybale.cli import output
from haybale.cli.stores import job_store


def add_compact_command(cmds: Any, command: Any) -> None:
    p = command(cmds, "compact", "compact every owner's location index into one sorted run (faster "
                                 "batched lookups after a big load; the next checkpoint uploads it again)",
                cmd_compact)
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: $RAY_ADDRESS, else the root's local head)")
    p.add_argument("--num-cpus", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-ray", action="store_true",
                   help="compact in this process (no owner may be running for the root)")


def cmd_compact(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with job_store(args, create=False) as store:
        store.catalog.ensure()
        shapes = store.catalog.compact_index()
    seconds = time.monotonic() - started
    if args.json:
        output.print_json({"owners": shapes, "seconds": round(seconds, 3)})
    else:
        for owner, shape in enumerate(shapes):
            print(f"owner {owner}: location index in {shape['levels_with_files']} level(s), "
                  f"{shape['level0_files']} level-0 file(s); batched lookups read it by "
                  f"{'seeks' if shape['seeks'] else 'multi-get'}")
        print(f"compacted {len(shapes)} owners in {output.seconds(seconds)}")
    return 0
