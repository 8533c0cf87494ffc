"""Row shuffle files (dedup/shuffle.py): the compiled counting sort writes the bytes of a stable
argsort by bucket, and ranges of buckets read back as written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup.shuffle import _MAGIC_ROWS, _bucket_order, _header, read_row_range, write_row_buckets
from dedup.split_stage import BAND_DTYPE, DIGEST_DTYPE
from dedup.workdir import WorkDir


@pytest.mark.parametrize("dtype", [BAND_DTYPE, DIGEST_DTYPE, np.dtype([("a", "<u4"), ("b", "<u2")])])
def test_row_file_equals_a_stable_argsort_by_bucket(tmp_path: Path, dtype: np.dtype) -> None:
    work = WorkDir(str(tmp_path), "r")
    rng = np.random.default_rng(5)
    for trial, n in enumerate([0, 1, 7, 300, 5000]):
        rows = np.zeros(n, dtype)
        for name in dtype.names:
            rows[name] = rng.integers(0, 2**16, n)
        n_buckets = [1, 3, 4096][trial % 3]
        buckets = rng.integers(0, n_buckets, n)
        path = work.path("rows", f"{trial}.rows")
        write_row_buckets(work, path, rows, buckets, n_buckets)
        order, bounds = _bucket_order(buckets.astype(np.int64), n_buckets)
        expected = _header(_MAGIC_ROWS, bounds * dtype.itemsize) + np.ascontiguousarray(rows[order]).tobytes()
        assert Path(path).read_bytes() == expected
        first, end = 0, (n_buckets + 1) // 2
        back = read_row_range(work, [path], n_buckets, first, end, dtype)
        assert back.tobytes() == np.ascontiguousarray(rows[order][: bounds[end]]).tobytes()


def test_bucket_out_of_range_is_refused(tmp_path: Path) -> None:
    work = WorkDir(str(tmp_path), "r")
    rows = np.zeros(3, BAND_DTYPE)
    with pytest.raises(ValueError, match="bucket numbers must lie in 0..3"):
        write_row_buckets(work, work.path("rows", "bad.rows"), rows, np.array([0, 4, 1]), 4)
