"""Arrow columns built and read without pyarrow's pandas probe (catalog/arrow_columns.py, issue 10): the
same arrays as pyarrow's own constructors, and a fresh process that prepares a registration batch never
imports pandas (~0.25 s of CPU per fresh Ray worker before)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from catalog.arrow_columns import int64s, scalar, strings, to_numpy

REPO = Path(__file__).resolve().parents[2]


def test_columns_equal_pyarrows_own() -> None:
    values = ["https://a.example/x", "", "file:///tmp/ü é", "k:\U0001f600", "plain"]
    assert strings(values).equals(pa.array(values, pa.large_string()))
    assert strings(["a", "b"]).equals(pa.array(["a", "b"], pa.large_string()))
    with pytest.raises(TypeError):
        strings(["a", 3])  # type: ignore[list-item]
    with pytest.raises(UnicodeEncodeError):
        strings(["a", "\ud800"])
    assert scalar("u").equals(pa.scalar("u", pa.large_string()))
    assert scalar(b"\x00", pa.large_binary()).equals(pa.scalar(b"\x00", pa.large_binary()))
    assert int64s(np.array([3, 1], np.int32)).equals(pa.array([3, 1], pa.int64()))


def test_to_numpy_reads_sliced_booleans_and_integers() -> None:
    bools = pc.greater(pa.array(list(range(20))), 6).slice(3, 11)  # an offset inside a byte
    assert to_numpy(bools).tolist() == bools.to_pylist()
    ints = pa.array(list(range(10)), pa.int32()).slice(4)
    assert to_numpy(ints).tolist() == list(range(4, 10))
    with pytest.raises(ValueError, match="nulls"):
        to_numpy(pa.array([1, None]))


def test_a_fresh_process_prepares_a_batch_without_importing_pandas() -> None:
    code = (
        "import sys, numpy as np\n"
        "from catalog.bulk_prepare import prepare_bulk_columns\n"
        "from catalog.location import pack_many\n"
        "n = 3000\n"
        "keys = [f'https://h{i % 31}.example/p/{i}' for i in range(n)] + ['file:///x y', 'k:plain', 'HTTP://A.org/?b&a']\n"
        "m = len(keys); i = np.arange(m, dtype=np.uint64)\n"
        "packed = pack_many(np.ones(m, np.uint32), i, np.full(m, 3, np.uint32), i)\n"
        "b = prepare_bulk_columns(keys, packed, np.arange(4096) % 4)\n"
        "assert len(b) == m, len(b)\n"
        "print('pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
