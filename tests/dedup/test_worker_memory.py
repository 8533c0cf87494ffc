"""The allocator settings of the job's worker processes (dedup/worker_memory.py)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dedup.executors import LocalExecutor
from dedup.workdir import WorkDir

ROOT = Path(__file__).resolve().parents[2]

# Ten rounds of six 8 MB arrays alive at once, then freed (as a batch's arrays are); prints the
# minor page faults they caused.
_CHURN = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    if sys.argv[1] == "keep":
        from dedup.worker_memory import keep_freed_memory
        assert keep_freed_memory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        blocks = [np.ones(8 << 20, dtype=np.uint8) for _ in range(6)]
        del blocks
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", _CHURN, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    # Default glibc trims the freed heap top after every round, so each round faults its 48 MB in
    # again (~30,000 faults in all, measured; numpy asks for huge pages, so fewer than 4 KB pages'
    # 12,288 per round); kept, only the first round does (~3,000).
    assert default > 20000
    assert kept < default / 4


def _applied(work: WorkDir) -> dict[str, bool]:
    from dedup import worker_memory

    return {"applied": worker_memory._applied}


def test_pool_workers_apply_the_settings(tmp_path: Path) -> None:
    executor = LocalExecutor(lambda line: None, processes=2)
    try:
        work = WorkDir(str(tmp_path / "out"), "run")
        results = executor([(f"probe-{i}", _applied, (work,)) for i in range(2)], "probe")
    finally:
        executor.close()
    assert [r["applied"] for r in results] == [sys.platform.startswith("linux")] * 2


def _probed_packages_loaded(work: WorkDir) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    from dedup.minhash import MinHasher

    table = pa.table({"x": pa.array(np.arange(3))})  # what makes pyarrow look for pandas
    signatures = MinHasher().signatures(["a b c d e f g"])  # numba's first kernel load looks for scipy.linalg
    return {"rows": table.num_rows, "signature": signatures[0].tolist(),
            "loaded": sorted(name for name in ("pandas", "scipy.linalg") if sys.modules.get(name) is not None)}


def test_pool_workers_run_arrow_and_kernels_without_importing_pandas_or_scipy(tmp_path: Path) -> None:
    from dedup.minhash import MinHasher

    executor = LocalExecutor(lambda line: None, processes=1)
    try:
        results = executor([("probe", _probed_packages_loaded, (WorkDir(str(tmp_path / "out"), "run"),))], "probe")
    finally:
        executor.close()
    assert results[0]["rows"] == 3 and results[0]["loaded"] == []
    assert results[0]["signature"] == MinHasher().signatures(["a b c d e f g"])[0].tolist()
