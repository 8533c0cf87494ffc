"""The job's driver imports no compiled kernel (numba) before the local pool's fork server starts:
the driver runs no kernel, and every import before the pool starts delays the first units."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What `haybale dedup run` imports before it calls run_dedup (haybale/cli/dedup_commands.py).
_DRIVER_IMPORTS = """
import json, sys
import haybale.cli.dedup_commands
from dedup.catalog_source import CATALOG_INPUT_PREFIX
from dedup.config import DedupConfig
from dedup.errors import ConfigError
from dedup.inputs import source_for_inputs
from dedup.job import run_dedup
from dedup.minhash_config import MinHashConfig
DedupConfig(minhash=MinHashConfig(ngram=3)).lsh
heavy = ("numba", "dedup.minhash_kernels", "dedup.waves", "dedup.split_stage", "dedup.pair_join", "matplotlib")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_the_driver_imports_no_kernel_before_the_pool_starts() -> None:
    result = subprocess.run([sys.executable, "-c", _DRIVER_IMPORTS], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == []


def test_minhash_config_is_the_same_class_from_both_modules() -> None:
    from dedup.minhash import MinHashConfig as from_minhash
    from dedup.minhash_config import MinHashConfig as from_config

    assert from_minhash is from_config


# `haybale dedup run` on a small input, recording when the fork server is asked to start.
_CLI_RUN = """
import json, sys
import dedup.pool_start
calls = []
real = dedup.pool_start.start_fork_server

def recording():
    calls.append("dedup.job" in sys.modules)
    real()

dedup.pool_start.start_fork_server = recording
from haybale.cli import main
code = main(["dedup", "run", "--input", sys.argv[1], "--output", sys.argv[2], "--quiet"] + sys.argv[3:])
print(json.dumps({"code": code, "job_imported_at_each_start": calls}))
"""


def _cli_run(tmp_path: Path, *extra: str) -> dict:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "text": f"document number {i} of a few words"}) + "\n"
                              for i in range(20)))
    result = subprocess.run([sys.executable, "-c", _CLI_RUN, str(source), str(tmp_path / "out"), *extra], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_command_line_starts_the_fork_server_before_it_imports_the_job(tmp_path: Path) -> None:
    found = _cli_run(tmp_path)
    assert found["code"] == 0
    # first by the command line, before dedup.job; then by the pool, which finds it running
    assert found["job_imported_at_each_start"] == [False, True]
