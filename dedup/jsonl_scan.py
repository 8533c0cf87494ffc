"""A compiled scan of JSON Lines blocks whose every line is ``{"<id>": "...", "<text>": "..."}``.

The JSONL reader's fast path (dedup/sources.py) used Arrow's JSON reader for every block: ~0.14 CPU s
per 95 MB file, ~2.8 CPU s of the 1.9 GB benchmark, most of it type inference and builders for
two string fields. :func:`scan_id_text_block` reads the common shape directly: each line one object
with exactly the id and the text field, both JSON strings, in either order, with spaces or tabs
between tokens. It decodes the strings (every JSON escape, ``\\uXXXX`` and surrogate pairs
included) into two Arrow string arrays, or gives up (returns None) at the first thing outside that
shape: another field, a repeated field, a non-string value, a blank line, a ``\\r``, invalid UTF-8,
an unpaired surrogate escape, a control character, any syntax error. The caller then reads the block
as before, so giving up never changes a result; the tests check the arrays equal Arrow's reader's.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import uint8, uint64

from dedup.minhash_kernels import _inline, _jit, _load8

_QUOTE = 0x22
_BACKSLASH = 0x5C
_NEWLINE = 0x0A
_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)


@_inline
def _has_zero_byte(word: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Non-zero iff a byte of ``word`` is 0 (exact as a yes/no)."""
    return (word - _ONES) & ~word & _HIGHS


@_inline
def _special_bytes(word: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Non-zero iff a byte of ``word`` is a quote, a backslash, a control byte (< 0x20) or >= 0x80."""
    return (_has_zero_byte(word ^ (_ONES * uint64(_QUOTE))) | _has_zero_byte(word ^ (_ONES * uint64(_BACKSLASH)))
            | ((word - _ONES * uint64(0x20)) & ~word & _HIGHS) | (word & _HIGHS))


@_inline
def _store8(out: np.ndarray, at: int, word: np.uint64) -> None:  # pragma: no cover - compiled
    """``out[at:at + 8]`` = the little-endian bytes of ``word`` (unsigned indices: one store, see _load8)."""
    index = uint64(at)
    for step in range(8):
        out[index + uint64(step)] = uint8((word >> uint64(8 * step)) & uint64(0xFF))



@_inline
def _hex_digit(byte: np.uint8) -> int:  # pragma: no cover - compiled
    if 0x30 <= byte <= 0x39:
        return byte - 0x30
    if 0x61 <= byte <= 0x66:
        return byte - 0x61 + 10
    if 0x41 <= byte <= 0x46:
        return byte - 0x41 + 10
    return -1


@_inline
def _hex4(data: np.ndarray, position: int, end: int) -> int:  # pragma: no cover - compiled
    """The value of the 4 hex digits at ``data[position:position + 4]``, or -1."""
    if position + 4 > end:
        return -1
    value = 0
    for step in range(4):
        digit = _hex_digit(data[position + step])
        if digit < 0:
            return -1
        value = value * 16 + digit
    return value


@_inline
def _utf8_width(data: np.ndarray, position: int, end: int) -> int:  # pragma: no cover - compiled
    """Length of the well-formed UTF-8 sequence of 2-4 bytes at ``position`` (lead >= 0x80), or 0."""
    lead = data[position]
    if 0xC2 <= lead <= 0xDF:
        width, low, high = 2, 0x80, 0xBF
    elif lead == 0xE0:
        width, low, high = 3, 0xA0, 0xBF
    elif 0xE1 <= lead <= 0xEC or lead == 0xEE or lead == 0xEF:
        width, low, high = 3, 0x80, 0xBF
    elif lead == 0xED:
        width, low, high = 3, 0x80, 0x9F
    elif lead == 0xF0:
        width, low, high = 4, 0x90, 0xBF
    elif 0xF1 <= lead <= 0xF3:
        width, low, high = 4, 0x80, 0xBF
    elif lead == 0xF4:
        width, low, high = 4, 0x80, 0x8F
    else:
        return 0
    if position + width > end:
        return 0
    second = data[position + 1]
    if second < low or second > high:
        return 0
    for step in range(2, width):
        if not 0x80 <= data[position + step] <= 0xBF:
            return 0
    return width


@_inline
def _put_code_point(out: np.ndarray, at: int, code: int) -> int:  # pragma: no cover - compiled
    """Write ``code`` as UTF-8 at ``out[at]``; returns the position after it."""
    if code < 0x80:
        out[at] = code
        return at + 1
    if code < 0x800:
        out[at] = 0xC0 | (code >> 6)
        out[at + 1] = 0x80 | (code & 0x3F)
        return at + 2
    if code < 0x10000:
        out[at] = 0xE0 | (code >> 12)
        out[at + 1] = 0x80 | ((code >> 6) & 0x3F)
        out[at + 2] = 0x80 | (code & 0x3F)
        return at + 3
    out[at] = 0xF0 | (code >> 18)
    out[at + 1] = 0x80 | ((code >> 12) & 0x3F)
    out[at + 2] = 0x80 | ((code >> 6) & 0x3F)
    out[at + 3] = 0x80 | (code & 0x3F)
    return at + 4


@_inline
def _decode_string(data: np.ndarray, position: int, end: int, out: np.ndarray, at: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """Decode the JSON string whose opening quote is just before ``position`` into ``out[at:]``.

    Returns (position after the closing quote, end of the written bytes), or (-1, at) if the string
    is not one this scan accepts (see the module docstring)."""
    while position < end:
        # 8 plain bytes at a time (printable ASCII but the quote and the backslash: nearly all text)
        while position + 8 <= end:
            word = _load8(data, position)
            if _special_bytes(word):
                break
            _store8(out, at, word)
            position += 8
            at += 8
        byte = data[position]
        if byte == _QUOTE:
            return position + 1, at
        if byte == _BACKSLASH:
            if position + 1 >= end:
                return -1, at
            escape = data[position + 1]
            position += 2
            if escape == _QUOTE or escape == _BACKSLASH or escape == 0x2F:
                out[at] = escape
            elif escape == 0x6E:
                out[at] = 0x0A
            elif escape == 0x74:
                out[at] = 0x09
            elif escape == 0x72:
                out[at] = 0x0D
            elif escape == 0x62:
                out[at] = 0x08
            elif escape == 0x66:
                out[at] = 0x0C
            elif escape == 0x75:
                code = _hex4(data, position, end)
                if code < 0 or 0xDC00 <= code <= 0xDFFF:
                    return -1, at
                position += 4
                if 0xD800 <= code <= 0xDBFF:  # a high surrogate: its low half must follow
                    if position + 2 > end or data[position] != _BACKSLASH or data[position + 1] != 0x75:
                        return -1, at
                    low = _hex4(data, position + 2, end)
                    if low < 0xDC00 or low > 0xDFFF:
                        return -1, at
                    position += 6
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                at = _put_code_point(out, at, code)
                continue
            else:
                return -1, at
            at += 1
            continue
        if byte < 0x20:
            return -1, at
        if byte >= 0x80:
            width = _utf8_width(data, position, end)
            if width == 0:
                return -1, at
            for step in range(width):
                out[at + step] = data[position + step]
            at += width
            position += width
            continue
        out[at] = byte
        at += 1
        position += 1
    return -1, at


@_inline
def _skip_blanks(data: np.ndarray, position: int, end: int) -> int:  # pragma: no cover - compiled
    while position < end and (data[position] == 0x20 or data[position] == 0x09):
        position += 1
    return position


@_inline
def _key_is(data: np.ndarray, begin: int, stop: int, key: np.ndarray) -> bool:  # pragma: no cover - compiled
    if stop - begin != key.shape[0]:
        return False
    for step in range(key.shape[0]):
        if data[begin + step] != key[step]:
            return False
    return True


@_jit
def _scan_kernel(data: np.ndarray, id_key: np.ndarray, text_key: np.ndarray):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """(ok, n_rows, id_offsets int32, id_bytes, text_offsets int64, text_bytes); see the module docstring."""
    end = data.shape[0]
    lines = 1
    for position in range(end):
        if data[position] == _NEWLINE:
            lines += 1
    id_offsets = np.empty(lines + 1, dtype=np.int32)
    text_offsets = np.empty(lines + 1, dtype=np.int64)
    id_bytes = np.empty(end + 8, dtype=np.uint8)  # + 8: room for the 8-byte stores
    text_bytes = np.empty(end + 8, dtype=np.uint8)
    id_offsets[0] = 0
    text_offsets[0] = 0
    id_at = 0
    text_at = 0
    row = 0
    position = 0
    failed = (False, 0, id_offsets, id_bytes, text_offsets, text_bytes)
    while position < end:
        position = _skip_blanks(data, position, end)
        if position >= end or data[position] != 0x7B:  # "{" (a blank line or trailing blanks: give up)
            return failed
        position += 1
        seen_id = False
        seen_text = False
        while True:
            position = _skip_blanks(data, position, end)
            if position >= end or data[position] != _QUOTE:
                return failed
            key_begin = position + 1
            position = key_begin
            while position < end and data[position] != _QUOTE:
                byte = data[position]
                if byte == _BACKSLASH or byte < 0x20:
                    return failed
                position += 1
            if position >= end:
                return failed
            key_stop = position
            position = _skip_blanks(data, position + 1, end)
            if position >= end or data[position] != 0x3A:  # ":"
                return failed
            position = _skip_blanks(data, position + 1, end)
            if position >= end or data[position] != _QUOTE:
                return failed
            if _key_is(data, key_begin, key_stop, id_key) and not seen_id:
                seen_id = True
                position, id_at = _decode_string(data, position + 1, end, id_bytes, id_at)
            elif _key_is(data, key_begin, key_stop, text_key) and not seen_text:
                seen_text = True
                position, text_at = _decode_string(data, position + 1, end, text_bytes, text_at)
            else:
                return failed
            if position < 0 or id_at > 0x7FFFFFFF:
                return failed
            position = _skip_blanks(data, position, end)
            if position >= end:
                return failed
            if data[position] == 0x2C:  # ","
                position += 1
                continue
            if data[position] == 0x7D:  # "}"
                position += 1
                break
            return failed
        if not (seen_id and seen_text):
            return failed
        position = _skip_blanks(data, position, end)
        if position < end:
            if data[position] != _NEWLINE:
                return failed
            position += 1
        row += 1
        id_offsets[row] = id_at
        text_offsets[row] = text_at
    return True, row, id_offsets, id_bytes, text_offsets, text_bytes


def scan_id_text_block(block: bytes | bytearray, id_field: str, text_field: str) -> tuple[pa.Array, pa.Array] | None:
    """(ids as ``string``, texts as ``large_string``) of a block of complete JSON lines whose every
    line is an object of exactly the two string fields, or None if any line is not (then nothing
    is decided here: read the block another way)."""
    id_key = np.frombuffer(id_field.encode("utf-8"), dtype=np.uint8)
    text_key = np.frombuffer(text_field.encode("utf-8"), dtype=np.uint8)
    if id_field == text_field or not block or b"\\" in id_field.encode() + text_field.encode() \
            or b'"' in id_field.encode() + text_field.encode():
        return None
    data = np.frombuffer(block, dtype=np.uint8)
    data.setflags(write=False)  # bytes or bytearray: one compiled specialization (read-only)
    ok, rows, id_offsets, id_bytes, text_offsets, text_bytes = _scan_kernel(data, id_key, text_key)
    if not ok:
        return None
    ids = pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(id_offsets[:rows + 1]),
                                                    pa.py_buffer(id_bytes[:id_offsets[rows]])])
    texts = pa.Array.from_buffers(pa.large_string(), rows, [None, pa.py_buffer(text_offsets[:rows + 1]),
                                                            pa.py_buffer(text_bytes[:text_offsets[rows]])])
    return ids, texts


def count_newlines(data: bytes | bytearray) -> int:
    """Number of b"\\n" in ``data`` (for dedup/line_blocks.py, which must not import numba itself)."""
    array = np.frombuffer(data, dtype=np.uint8)
    array.setflags(write=False)  # bytes or bytearray: one compiled specialization
    return int(_count_newlines(array))


@_jit
def _count_newlines(data: np.ndarray) -> int:  # pragma: no cover - compiled
    count = 0
    for index in range(data.shape[0]):
        count += data[index] == 10
    return count
