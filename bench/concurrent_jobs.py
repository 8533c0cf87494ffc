"""Part 3 of :mod:`bench.cluster_bench`: two files jobs at once on one root versus one job given both
inputs, each on the warm local head of its own root, in alternated rounds of new inputs."""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.cluster_bench import _cli, _run

# between commands, as a user's would be: a head tops its warm workers up once idle for a second
PAUSE = 3.0


def wait_until_warm(root: Path, timeout: float = 60.0) -> None:
    """Until the root's head has its warm drivers listening and its warm workers started (what a head
    that has run one command keeps between commands), or ``timeout``."""
    from ingest.local_head import read_state, state_dir_of

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(state_dir_of(root)) or {}
        log = (state_dir_of(root) / "head.log").read_text(errors="replace")
        socket_ready = not state.get("driver_socket") or os.path.exists(state["driver_socket"])
        if socket_ready and ("warm Ray worker" in log or "warm Ray workers off" in log):
            return
        time.sleep(0.2)


def concurrent_jobs(work: Path, one_root: Path, two_root: Path, files: int, rounds: int) -> dict[str, Any]:
    """Part 3: ``rounds`` rounds, each with two new inputs of ``files // 2`` files: one job given both on
    ``one_root`` and two jobs at once, one input each, on ``two_root``, in alternating order (so neither
    always runs on a machine the other just warmed), :data:`PAUSE` seconds apart. Both heads are started,
    and warm (:func:`wait_until_warm`), before the first round."""
    from haybale.demo import generate_files

    warmup = work / "jobs-warmup"
    generate_files(warmup, 20, seed=999)
    for root in (one_root, two_root):
        _run(root, "ingest", "files", str(warmup), "--quiet")  # starts its head, creates its catalog
    for root in (one_root, two_root):
        wait_until_warm(root)
    ones, twos = [], []
    for r in range(rounds):
        inputs = [work / f"jobs-r{r}-a", work / f"jobs-r{r}-b"]
        for k, d in enumerate(inputs):
            generate_files(d, files // 2, seed=10 * r + k)
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            time.sleep(PAUSE)
            t = time.perf_counter()
            if which == 0:
                _run(one_root, "ingest", "files", *map(str, inputs), "--quiet")
                ones.append(time.perf_counter() - t)
            else:
                procs = [_cli(two_root, "ingest", "files", str(d), "--quiet") for d in inputs]
                for p in procs:
                    _, err = p.communicate()
                    if p.returncode:
                        raise RuntimeError(err[-2000:])
                twos.append(time.perf_counter() - t)
    counts = {name: json.loads(_run(root, "catalog", "stats", "--json"))["records"]
              for name, root in (("one", one_root), ("two", two_root))}
    if counts["one"] != counts["two"]:
        raise RuntimeError(f"the two roots hold different record counts after the same inputs: {counts}")
    one, two = statistics.median(ones), statistics.median(twos)
    return {"rounds": rounds, "one_job_both_inputs_s": round(one, 2), "two_jobs_at_once_s": round(two, 2),
            "ratio": round(two / one, 3), "ratio_per_round": [round(b / a, 3) for a, b in zip(ones, twos)],
            "one_job_s_per_round": [round(x, 2) for x in ones], "two_jobs_s_per_round": [round(x, 2) for x in twos],
            "records": counts}
