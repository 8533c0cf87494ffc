"""Rows handed to the SST writer in id order (catalog/sst_files.py ``_in_order``, issue 10): the buffer
itself when the order is every row in place, else exactly the rows gathered, for any row width."""
from __future__ import annotations

import numpy as np
import pytest

from catalog.sst_files import ShardSstJob, _in_order, sorted_unique_order, write_shard_ssts


@pytest.mark.parametrize("width", [16, 22])
def test_rows_in_order_equal_the_rows_gathered(width: int) -> None:
    rng = np.random.default_rng(width)
    rows = rng.integers(0, 256, (500, width), dtype=np.uint8)
    buf = rows.tobytes()
    assert _in_order(buf, width, np.arange(500)) is buf  # in place: no copy
    for order in (rng.permutation(500), np.arange(499), np.arange(1, 500), np.array([0, 2, 1]), np.zeros(0, np.int64)):
        assert _in_order(buf, width, order) == rows[order].tobytes()


def test_the_writer_writes_sorted_and_unsorted_ids_alike(tmp_path) -> None:
    import rocksdict as rd

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 256, (300, 16), dtype=np.uint8)
    ids[50] = ids[10]  # a repeat: the later one wins
    values = rng.integers(0, 256, (300, 22), dtype=np.uint8)
    order = sorted_unique_order(ids)
    contents = []
    for name, (i, v) in {"unsorted": (ids, values), "sorted": (ids[order], values[order])}.items():
        job = ShardSstJob(0, str(tmp_path / f"{name}.sst"), None, i.tobytes(), v.tobytes(), 22)
        assert write_shard_ssts(job).written == len(order)
        reader = rd.Rdict(str(tmp_path / f"db-{name}"), rd.Options(raw_mode=True))
        reader.ingest_external_file([str(tmp_path / f"{name}.sst")])
        contents.append(list(reader.items()))
        reader.close()
    assert contents[0] == contents[1] == [(ids[r].tobytes(), values[r].tobytes()) for r in order.tolist()]
