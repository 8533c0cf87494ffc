"""Child process for the crash test: registers numbered batches forever, printing ``ACK n`` after each.

Usage: python -m tests.catalog.chaos_writer CATALOG_DIR FIRST_BATCH BATCH_SIZE
Even batches go through ``register_many``, odd ones through the bulk SST path.
"""
from __future__ import annotations

import sys

from catalog.bulk import prepare_bulk, register_bulk
from catalog.catalog import Catalog
from catalog.location import Location


def batch_keys(n: int, size: int) -> list[str]:
    return [f"https://site{j % 97}.example/batch/{n}/item/{j}" for j in range(size)]


def main() -> None:
    directory, first, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with Catalog.open(directory, num_shards=4) as cat:
        print("READY", flush=True)
        n = first
        while True:
            keys = batch_keys(n, size)
            locs = [Location(n + 1, j * 10, 10, n * 100_000 + j) for j in range(size)]
            print(f"START {n}", flush=True)
            if n % 2:
                register_bulk(cat, prepare_bulk(keys, locs, cat.manifest.slot_map))
            else:
                cat.register_many(zip(keys, locs))
            print(f"ACK {n}", flush=True)
            n += 1


if __name__ == "__main__":
    main()
