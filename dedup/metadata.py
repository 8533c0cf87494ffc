"""Document metadata as JSON: the one format of the ``metadata`` column, in and out.

``metadata`` is a string column holding a JSON object (or NULL): every input field other than the
id and the text, nested objects and lists kept as they are. JSON rather than a Parquet struct because
inputs differ in their fields from file to file and even line to line (a struct column would need
one schema for the whole run, and a union of every input's fields); JSON keeps each document's fields
exactly and reads anywhere (``json.loads``, DuckDB's ``json`` functions, Arrow).

Arrow values that JSON lacks are written as: timestamps, dates and times in ISO 8601; decimals as
strings; binary as base64 strings; maps as lists of ``[key, value]`` pairs; NaN/Infinity as strings.
"""
from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
from typing import Any

import pyarrow as pa

OWN_METADATA_COLUMN = "metadata"


def _plain(value: Any) -> Any:
    """``value`` (from Arrow's ``to_pylist``) with every part JSON can hold natively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def metadata_json(batch: pa.RecordBatch, columns: list[str]) -> list[str | None]:
    """The ``metadata`` JSON of each row of ``batch``: the values of ``columns`` by name. A string
    column named ``metadata`` holding a JSON object (haybale's own output) gives the row's metadata
    itself; the other columns are set on top. NULL when a row has nothing."""
    n = batch.num_rows
    if not columns:
        return [None] * n
    own = None
    if OWN_METADATA_COLUMN in columns and pa.types.is_string(batch.schema.field(OWN_METADATA_COLUMN).type):
        own = batch.column(OWN_METADATA_COLUMN).to_pylist()
        columns = [c for c in columns if c != OWN_METADATA_COLUMN]
    values = {c: batch.column(c).to_pylist() for c in columns}
    out: list[str | None] = []
    for row in range(n):
        meta: dict[str, Any] = {}
        if own is not None:
            parsed = _object(own[row])
            if parsed is None and own[row] is not None:
                meta[OWN_METADATA_COLUMN] = own[row]  # a string that is not our JSON: kept as a string
            elif parsed is not None:
                meta.update(parsed)
        for column in columns:
            meta[column] = _plain(values[column][row])
        out.append(json.dumps(meta, ensure_ascii=False) if meta else None)
    return out


def _object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
