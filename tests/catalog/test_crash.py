"""Crash safety: SIGKILL a registering process at random moments; acknowledged batches survive whole
and no batch is ever partly present. Also: a second writer gets a clear error, not a hang."""
from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from catalog.catalog import Catalog
from catalog.errors import CatalogLockedError
from tests.catalog.chaos_writer import batch_keys

REPO = Path(__file__).resolve().parents[2]
BATCH = 3000


def _reader(proc: subprocess.Popen, lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())


@pytest.mark.chaos
def test_sigkill_during_registration_never_loses_or_splits_a_batch(tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    rng = random.Random(20261128)
    acked: set[int] = set()
    started: set[int] = set()
    next_batch = 0
    kills = 0
    for round_no in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "tests.catalog.chaos_writer", str(directory),
                                 str(next_batch), str(BATCH)], cwd=REPO, stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        lines: list[str] = []
        t = threading.Thread(target=_reader, args=(proc, lines), daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while "READY" not in lines and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        assert "READY" in lines, f"writer did not start: {lines}"
        time.sleep(rng.uniform(0.0, 0.6))  # a random moment: mid-journal, mid-apply, mid-ingest...
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t.join(timeout=5)
        kills += 1
        for line in lines:
            word, _, num = line.partition(" ")
            if word == "ACK":
                acked.add(int(num))
            elif word == "START":
                started.add(int(num))
        next_batch = max(started | {next_batch - 1}) + 1
        with Catalog.open(directory) as cat:  # recovery runs here
            for n in sorted(started):
                keys = batch_keys(n, BATCH)
                present = sum(v is not None for v in cat.get_many(keys))
                assert present in (0, BATCH), f"round {round_no}: batch {n} is partly present ({present}/{BATCH})"
                if n in acked:
                    assert present == BATCH, f"round {round_no}: acknowledged batch {n} lost"
            total = sum(s.count() for s in cat.shards)
            full = sum(1 for n in started if cat.exists(batch_keys(n, BATCH)[0]))
            assert total == full * BATCH, "exact counts must match what is present"
            assert len(list(cat.list())) == total
    assert kills >= 10
    assert len(acked) >= 5, "the writer should have acknowledged batches between kills"


@pytest.mark.chaos
def test_second_writer_process_gets_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    with Catalog.open(directory):
        code = ("import sys\nfrom catalog.catalog import Catalog\n"
                "from catalog.errors import CatalogLockedError\n"
                f"try:\n    Catalog.open({str(directory)!r})\nexcept CatalogLockedError as e:\n"
                "    print('LOCKED', e); sys.exit(3)\n")
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert out.returncode == 3, out.stderr
        assert "LOCKED" in out.stdout and "another process" in out.stdout
        assert time.monotonic() - started < 30
    with pytest.raises(CatalogLockedError) as raised:
        with Catalog.open(directory):
            Catalog.open(directory)
    # what is locked and what to do travel apart (the CLI gives its own advice), also through pickling (Ray)
    again = pickle.loads(pickle.dumps(raised.value))
    assert (again.what, again.advice, str(again)) == (f"catalog {directory}", raised.value.advice, str(raised.value))
    assert str(again).startswith(f"catalog {directory} is open for writing by another process: wait")
