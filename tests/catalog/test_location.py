"""Fixed-width location values."""
from __future__ import annotations

import numpy as np
import pytest

from catalog.location import LOCATION_SIZE, Location, pack_many, split_fixed


def test_pack_roundtrip_including_large_offsets() -> None:
    for loc in [Location(1, 0, 1, 0), Location(2**32 - 1, 2**48 - 1, 2**32 - 1, 2**64 - 1),
                Location(7, 5_000_000_000, 1234, 0xDEADBEEF)]:
        packed = loc.pack()
        assert len(packed) == LOCATION_SIZE
        assert Location.unpack(packed) == loc


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        Location(1, 2**48, 10, 0).pack()
    with pytest.raises(ValueError):
        Location(1, 0, 0, 0).pack()
    with pytest.raises(ValueError):
        Location.unpack(b"short")


def test_vectorized_pack_equals_scalar_pack_even_with_trailing_zero_bytes() -> None:
    # digest 0 ends the value in NUL bytes: numpy's S dtype would strip them in tolist()
    vols = np.array([1, 2, 3], dtype=np.uint32)
    offs = np.array([0, 2**40 + 5, 77], dtype=np.uint64)
    lens = np.array([10, 20, 30], dtype=np.uint32)
    digs = np.array([0, 2**63, 5], dtype=np.uint64)
    packed = split_fixed(pack_many(vols, offs, lens, digs), LOCATION_SIZE)
    expected = [Location(int(v), int(o), int(n), int(d)).pack() for v, o, n, d in zip(vols, offs, lens, digs)]
    assert packed == expected
