"""Arrow arrays made from and read into Python and numpy values without pyarrow's pandas probe.

``pa.array``, ``pa.scalar`` and ``Array.to_numpy`` first test whether their argument is a pandas
object, which imports pandas (~0.25 s of CPU) in every fresh process that calls them: each Ray
worker that prepares a registration batch (:mod:`catalog.bulk_prepare`) paid it once (issue 10).
These helpers build the same arrays from buffers and read them back through the buffers, so nothing
imports pandas. Only the types the columnar preparation uses are covered; arrays with nulls are
refused (:class:`ValueError`), since none of its columns has any.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

LARGE_STRING = pa.large_string()
LARGE_BINARY = pa.large_binary()
_INT = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
        pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64}


def strings(values: Sequence[str]) -> pa.Array:
    """A ``large_string`` array of ``values`` (all ``str``). TypeError for a value that is not a
    ``str``, UnicodeEncodeError for one that UTF-8 cannot encode (a lone surrogate), as ``pa.array``."""
    joined = "".join(values)  # TypeError for a non-str value
    if joined.isascii():  # the usual case: one encode, and characters are bytes
        data = joined.encode("ascii")
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    else:
        encoded = [v.encode("utf-8") for v in values]
        data = b"".join(encoded)
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(LARGE_STRING, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def int64s(values: np.ndarray) -> pa.Array:
    """An ``int64`` array of a numpy array (copied only if it is not contiguous ``int64``)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def scalar(value: str | bytes, kind: pa.DataType = LARGE_STRING) -> pa.Scalar:
    """A ``large_string`` (``str``) or ``large_binary`` (``bytes``) scalar."""
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    offsets = np.array([0, len(data)], dtype=np.int64)
    return pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])[0]


def int64_scalar(value: int) -> pa.Scalar:
    """An ``int64`` scalar."""
    return int64s(np.array([value], dtype=np.int64))[0]


def to_numpy(arr: pa.Array) -> np.ndarray:
    """A boolean or integer array as numpy (a copy for booleans, a view for integers)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count:
        raise ValueError(f"a {arr.type} column with {arr.null_count} nulls: the columnar preparation makes none")
    n, offset = len(arr), arr.offset
    if pa.types.is_boolean(arr.type):
        buf = arr.buffers()[1]
        if buf is None or not n:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
        return bits[offset:offset + n].astype(bool)
    dtype = _INT.get(arr.type)
    if dtype is None:
        raise TypeError(f"to_numpy covers boolean and integer arrays, not {arr.type}")
    buf = arr.buffers()[1]
    if buf is None or not n:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype)[offset:offset + n]
