"""Drivers forked from the warm-driver server must draw different Ray IDs: Ray seeds its ID generator
on first use and a fork copies it, so the server's imports must not draw one (some Ray modules do).
Two commands at once from a server that did would share worker and object IDs: Ray then fails a
check at connect ("Seal() called on an object without a reference to it", seen in the bench)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import os, sys
os.environ.setdefault("RAY_AUTH_MODE", "token")
from haybale.cli.warm_drivers import _ids_differ_after_fork, _import_job_code
_import_job_code()
print("after the server's imports:", _ids_differ_after_fork())
import ray.dag  # draws an ID at import
print("after ray.dag:", _ids_differ_after_fork())
"""


def test_the_servers_imports_leave_rays_id_generator_unseeded_and_the_check_sees_it_when_not() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "token"}, check=True)
    assert done.stdout.splitlines() == ["after the server's imports: True", "after ray.dag: False"]
