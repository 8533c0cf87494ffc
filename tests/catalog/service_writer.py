"""Child process for the service tests: a live writer registering keys into a deployment root.

Usage: python -m tests.catalog.service_writer ROOT [--bulk]
Prints ``READY`` once it holds the catalog for writing. Then each line on stdin is a batch of
space-separated keys: each key is packed as a resource record (content ``late:KEY``), the volume is
sealed and registered, and ``REGISTERED n`` is printed. An empty line or end of input closes the
store and exits. The writer keeps the catalog open between batches, like an ingest job.
"""
from __future__ import annotations

import sys

from catalog.store import Store
from catalog.warc_records import resource_record


def main() -> None:
    root = sys.argv[1]
    bulk = "--bulk" in sys.argv[2:]
    with Store(root) as store:
        print("READY", flush=True)
        for line in sys.stdin:
            keys = line.split()
            if not keys:
                break
            writer = store.writer()
            sealed = []
            for key in keys:
                sealed += writer.append(key, resource_record(key, f"late:{key}".encode()))
            sealed += writer.close()
            for volume in sealed:
                store.register_sealed(volume, bulk=bulk)
            print(f"REGISTERED {len(keys)}", flush=True)


if __name__ == "__main__":
    main()
