"""Imported once by the local pool's fork server (dedup/executors.py) before it forks the workers.

What every pool worker would otherwise do for itself at its start, on the job's critical path:
import the job's modules (~0.5 CPU s: numpy, pyarrow, numba and dedup) and load the first compiled
kernel, whose cost is numba's own start (~0.35 CPU s: its typing and lowering registries, LLVM).
Done here once, the workers are forked already warm (copy-on-write), and the fork server does it
while the driver is still listing the input. Nothing here computes a value a unit uses, so the
outputs are the same bytes.
"""
from __future__ import annotations

import gc
import sys

from dedup.executors import skip_probed_imports


def _warm() -> None:
    # While warming, the probed packages are refused as in the workers (dedup/executors.py): numba's
    # first kernel load would import scipy.linalg only to look for BLAS. The finder is removed again
    # so that other children of this fork server (if the driver's program has any) import freely.
    finder = skip_probed_imports()
    try:
        import dedup.job  # noqa: F401  (the driver's module, which names the stage 1 step)
        import dedup.split_stage  # noqa: F401  (the steps of the units, which dedup.job imports
        import dedup.waves  # noqa: F401  where it uses them)
        from dedup.minhash import MinHasher

        MinHasher().signatures(["warm the compiled kernels up"])  # numba's start + the stage 1 kernels
        warm_later_kernels()
        _warm_libraries()
    finally:
        sys.meta_path.remove(finder)
    # The imported objects live as long as the workers: keep the collector from walking them
    # again and again (and from touching their pages, which the forked workers share).
    gc.freeze()


def warm_later_kernels() -> None:
    """Load every other compiled kernel of the job (spills, candidates, exact Jaccard), each once
    here rather than at the first unit of its wave in every worker (~5-30 ms each per process).

    Called through the same wrappers and with the same argument types as the job calls them, so
    each kernel's one specialization is loaded from numba's cache, never a second one compiled
    (tests/dedup/test_local_pool.py runs a job after this and checks that no kernel gained one).
    """
    import numpy as np
    import pyarrow as pa

    from dedup.candidates import distinct_sorted_pairs, shared_key_rows
    from dedup.digests import sequence_digests
    from dedup.id_hashes import id_hashes
    from dedup.jaccard import _repeat_sets, jaccard_of_sets
    from dedup.jaccard import warm_kernels as warm_pair_check_kernels
    from dedup.join_kernels import group_rows_by_bucket
    from dedup.jsonl_scan import scan_id_text_block
    from dedup.line_blocks import _newlines
    from dedup.split_stage import band_keys
    from dedup.tokens import tokenize_batch

    _newlines(b"the line counter\n")
    scan_id_text_block(b'{"id": "a", "text": "the JSON lines scan"}\n', "id", "text")
    tokens = tokenize_batch(["warm the spill kernels"])
    sequence_digests(tokens.hashes, tokens.doc_offsets, np.flatnonzero(tokens.token_counts() > 0))
    band_keys(np.zeros((1, 128), np.uint32), 32, 4)
    id_hashes(pa.array(["warm the id hashes"]))
    group_rows_by_bucket(np.zeros((1, 2), np.uint64), np.zeros(1, np.int64), 4096)
    shared_key_rows(np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    distinct_sorted_pairs(np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    values, offsets = np.array([1, 2], np.uint32), np.array([0, 2], np.int64)
    jaccard_of_sets(values, offsets, values, offsets)
    _repeat_sets(values, offsets, np.zeros(2, np.int64))
    warm_pair_check_kernels()


def _warm_libraries() -> None:
    """First calls that cost every worker a fixed price, paid here once: Arrow's first filter
    (~0.15 CPU s: the compute functions' set-up; every write unit filters) and the job's default
    LSH layout (an optimization over bands x rows, ~0.06 s, cached per process)."""
    import pyarrow as pa

    from dedup.config import DedupConfig

    pa.table({"x": [1, 2]}).filter(pa.array([True, False]))
    DedupConfig().lsh  # noqa: B018  (computed and cached by dedup.config)


try:
    _warm()
except Exception:  # noqa: BLE001 - a warm-up that fails only costs speed: the workers start cold
    pass
