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
