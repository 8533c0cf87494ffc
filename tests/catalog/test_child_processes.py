"""The catalog's helper processes (reader processes, SST writers) work from a script without an
``if __name__ == "__main__":`` guard, and never run that script again.

With ``multiprocessing``'s spawn they did: every reader re-ran the user's script (registering again
into a new catalog) until it died, and the catalog printed ``parallel readers failed
(ConnectionResetError(104, ...)); falling back to in-process lookups`` — seen registering 10^6 entries
with ``Catalog.register_many`` in batches of 50k.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from catalog.catalog import PARALLEL_LOOKUP_MIN

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """\
import sys, warnings
from catalog.bulk import prepare_bulk, register_bulk
from catalog.catalog import Catalog
from catalog.location import Location

warnings.simplefilter("error")  # the readers' fallback warning fails the script
with open(sys.argv[2], "a") as ran:  # a side effect of running this script's top level
    ran.write("ran\\n")
n = {n}
with Catalog.open(sys.argv[1], parallel_readers=2) as cat:
    for batch in range(3):  # each register_many looks its {n} keys up through the reader processes
        cat.register_many((f"https://e{{i % 97}}.example/{{batch}}/{{i}}", Location(1, i, 10, i)) for i in range(n))
    keys = [f"https://bulk{{i % 13}}.example/{{i}}" for i in range(n)]
    register_bulk(cat, prepare_bulk(keys, [Location(2, i, 10, i) for i in range(n)], cat.manifest.slot_map),
                  workers=2)
    found, _ = cat.lookup_ids(__import__("numpy").frombuffer(
        b"".join(__import__("catalog.keys", fromlist=["key_id"]).key_id(k) for k in keys), dtype="uint8"))
    readers = cat._readers
    print(cat.stats()["records"], int(found.sum()), readers is not None and len(readers._procs))
"""


def test_helper_processes_work_from_an_unguarded_script(tmp_path: Path) -> None:
    n = PARALLEL_LOOKUP_MIN + 1000
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT.format(n=n))
    ran = tmp_path / "ran.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "catalog"), str(ran)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "parallel readers failed" not in out.stderr and "Traceback" not in out.stderr
    assert out.stdout.split() == [str(4 * n), str(n), "2"]  # every key found, by the two reader processes
    assert ran.read_text() == "ran\n", "the script's top level ran again in a helper process"
