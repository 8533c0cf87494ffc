"""Reading inflated one-record members in one compiled call: the common record read without Python.

:mod:`ingest.warc_member_pass` reads each record the way :func:`catalog.warc_records.parse_record`
reads it and builds its key, payload range, WARC-Date and CDXJ line. For the records of the common
shape that costs microseconds of Python each; :func:`scan_records` does it in numba for a batch of
records and marks every record it does not answer for, which the pass then reads in Python as before.

A record is answered here only if no reading could differ from the Python pass (tested against it,
record by record, in ``tests/ingest/test_warc_member_scan.py``):

- its WARC headers are printable ASCII lines ending in CRLF (no tab, no continuation line, every line
  with a colon), ``Content-Length`` is 1 to 15 digits and the member is exactly the record and its
  ``CRLF CRLF``;
- its type is ``response`` (with an ``application/http`` block whose HTTP head is printable ASCII
  lines ending in CRLF, without continuations), ``resource`` or ``conversion``;
- its ``WARC-Date`` (if any) is digits and the bytes ``catalog.cdxj._stamp`` drops;
- its ``WARC-Target-URI`` is already a canonical key (what :func:`catalog.keys.canonical_url` returns
  unchanged: the ``_SIMPLE_CANONICAL`` shape, no ``/.``, not ending in ``?``, at most 4096 bytes), its
  query has no ``&`` (the SURT sorts query arguments) and nothing written into the JSON needs escaping.

Everything else — other record types, unusual headers or URIs — is left to Python (``FALLBACK``),
including every record that would make the Python pass give up on the file.
"""
from __future__ import annotations

import numba as nb
import numpy as np

ANSWERED, FALLBACK = 1, 0
MAX_KEY_BYTES = 4096
_DIGITS = 15  # Content-Length digits read here (more: the Python pass reads it)

# the header names looked for (lower case) and their slots in the field table
_NAMES = [b"warc-type", b"warc-target-uri", b"warc-date", b"content-type", b"content-length",
          b"warc-payload-digest"]
_TYPE, _URI, _DATE, _CTYPE, _CLEN, _SHA1 = range(6)
_NAME_BYTES = np.zeros((len(_NAMES), 24), np.uint8)
_NAME_LENS = np.zeros(len(_NAMES), np.int64)
for _i, _n in enumerate(_NAMES):
    _NAME_BYTES[_i, :len(_n)] = np.frombuffer(_n, np.uint8)
    _NAME_LENS[_i] = len(_n)
_KINDS = [b"response", b"resource", b"conversion"]
_KIND_BYTES = np.zeros((3, 16), np.uint8)
_KIND_LENS = np.zeros(3, np.int64)
for _i, _n in enumerate(_KINDS):
    _KIND_BYTES[_i, :len(_n)] = np.frombuffer(_n, np.uint8)
    _KIND_LENS[_i] = len(_n)
_APP_HTTP = np.frombuffer(b"application/http", np.uint8).copy()
_CT = np.frombuffer(b"content-type", np.uint8).copy()
# characters of a canonical URL's path (and query, with '?'): catalog.keys._SIMPLE_CANONICAL
_PATH_OK = np.zeros(256, np.bool_)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/":
    _PATH_OK[_c] = True
_HOST_OK = np.zeros(256, np.bool_)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789.-":
    _HOST_OK[_c] = True
_TS_DROP = np.zeros(256, np.bool_)  # catalog.cdxj._stamp removes these from the WARC-Date
for _c in b"-:TZ. ":
    _TS_DROP[_c] = True
_DATE_OK = _TS_DROP.copy()
for _c in b"0123456789":
    _DATE_OK[_c] = True


@nb.njit(cache=True, nogil=True)
def _plain_date(buf: np.ndarray, start: int, end: int) -> bool:
    """True if ``buf[start:end]`` has a digit and nothing but digits and the bytes ``_timestamp`` drops
    (what :func:`catalog.cdxj.date_problem` finds no problem in; an empty date has none either)."""
    digits = 0
    for j in range(start, end):
        if not _DATE_OK[buf[j]]:
            return False
        digits += 48 <= buf[j] <= 57
    return digits > 0 or end == start


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8).copy()

_L_URL = np.frombuffer(b' {"url":"', np.uint8).copy()
_L_MIME = np.frombuffer(b'","mime":"', np.uint8).copy()
_L_STATUS = np.frombuffer(b'","status":"', np.uint8).copy()
_L_DIGEST = np.frombuffer(b'","digest":"', np.uint8).copy()
_L_LENGTH = np.frombuffer(b'","length":', np.uint8).copy()
_L_OFFSET = np.frombuffer(b',"offset":', np.uint8).copy()
_L_FILE = np.frombuffer(b',"filename":', np.uint8).copy()
_L_XXH3 = np.frombuffer(b',"xxh3":"', np.uint8).copy()
_L_TYPE = np.frombuffer(b'","type":"', np.uint8).copy()
_L_END = np.frombuffer(b'"}\n', np.uint8).copy()
LINE_SLACK = 256  # bytes of a line besides the URI (twice), the values and the file name


@nb.njit(cache=True, nogil=True, inline="always")
def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


@nb.njit(cache=True, nogil=True)
def _find_crlfcrlf(buf: np.ndarray, start: int, stop: int) -> int:
    i = start
    while i + 3 < stop:
        if buf[i] == 13 and buf[i + 1] == 10 and buf[i + 2] == 13 and buf[i + 3] == 10:
            return i
        i += 1
    return -1


@nb.njit(cache=True, nogil=True)
def _strip(buf: np.ndarray, start: int, stop: int) -> tuple[int, int]:
    while start < stop and buf[start] == 32:
        start += 1
    while stop > start and buf[stop - 1] == 32:
        stop -= 1
    return start, stop


@nb.njit(cache=True, nogil=True)
def _equals_lower(buf: np.ndarray, start: int, stop: int, word: np.ndarray, n: int) -> bool:
    if stop - start != n:
        return False
    for j in range(n):
        if _lower(buf[start + j]) != word[j]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _headers(buf: np.ndarray, start: int, stop: int, spans: np.ndarray) -> bool:
    """Fill ``spans`` (6 x 2: start, stop of each wanted value, stripped; -1 absent) from the header
    lines in ``buf[start:stop]``; False if a line is not of the simple shape."""
    spans[:, :] = -1
    line = start
    while line < stop:
        if buf[line] == 32:
            return False  # a continuation line
        colon = -1
        end = line
        while end < stop:
            c = buf[end]
            if c == 13:
                if end + 1 >= stop or buf[end + 1] != 10:
                    return False
                break
            if c < 32 or c > 126:
                return False
            if c == 58 and colon < 0:
                colon = end
            end += 1
        if colon < 0:
            return False
        ns, ne = _strip(buf, line, colon)
        for k in range(_NAME_LENS.shape[0]):
            if spans[k, 0] < 0 and _equals_lower(buf, ns, ne, _NAME_BYTES[k], _NAME_LENS[k]):
                vs, ve = _strip(buf, colon + 1, end)
                spans[k, 0] = vs
                spans[k, 1] = ve
                break
        line = end + 2
    return True


_NOT_DIGITS, _TOO_LONG = -1, -2


@nb.njit(cache=True, nogil=True)
def _decimal(buf: np.ndarray, start: int, stop: int, max_digits: int) -> int:
    """The number ``buf[start:stop]`` spells in ASCII digits; ``_NOT_DIGITS`` if a byte is not one,
    ``_TOO_LONG`` if all are but there are more than ``max_digits`` (never read: no overflow)."""
    for j in range(start, stop):
        if buf[j] < 48 or buf[j] > 57:
            return _NOT_DIGITS
    if stop - start > max_digits:
        return _TOO_LONG
    value = 0
    for j in range(start, stop):
        value = value * 10 + (buf[j] - 48)
    return value


@nb.njit(cache=True, nogil=True)
def _http_head(buf: np.ndarray, start: int, stop: int) -> tuple[bool, int, int, int]:
    """(simple, status or -1, Content-Type value start, stop or -1, -1) of the HTTP head
    ``buf[start:stop]`` read as ``ingest.warc_member_pass.http_status_and_type`` reads it."""
    status = -1
    cts, cte = -1, -1
    line = start
    first = True
    while line < stop:
        end = line
        while end < stop:
            c = buf[end]
            if c == 13:
                if end + 1 >= stop or buf[end + 1] != 10:
                    return False, -1, -1, -1
                break
            if c < 32 or c > 126:
                return False, -1, -1, -1
            end += 1
        if first:
            first = False
            s, e = _strip(buf, line, end)
            sp = s
            while sp < e and buf[sp] != 32:
                sp += 1
            if e - s >= 5 and buf[s] == 72 and buf[s + 1] == 84 and buf[s + 2] == 84 and buf[s + 3] == 80 \
                    and buf[s + 4] == 47 and sp < e:
                ds = sp + 1
                de = ds
                while de < e and buf[de] != 32:
                    de += 1
                if ds < de:
                    value = _decimal(buf, ds, de, _DIGITS)
                    if value == _TOO_LONG:
                        return False, -1, -1, -1
                    if value >= 0:
                        status = value
        else:
            if buf[line] == 32:
                return False, -1, -1, -1  # a continuation line
            if cts < 0:
                colon = line
                while colon < end and buf[colon] != 58:
                    colon += 1
                if colon < end:
                    ns, ne = _strip(buf, line, colon)
                    if _equals_lower(buf, ns, ne, _CT, 12):
                        cts, cte = _strip(buf, colon + 1, end)
        line = end + 2
    return True, status, cts, cte


@nb.njit(cache=True, nogil=True)
def _simple_url(buf: np.ndarray, start: int, stop: int) -> tuple[bool, int, int]:
    """(a canonical URL of the simple shape, host start, host stop) for ``buf[start:stop]``."""
    n = stop - start
    if n > MAX_KEY_BYTES or n < 9:
        return False, 0, 0
    if not (buf[start] == 104 and buf[start + 1] == 116 and buf[start + 2] == 116 and buf[start + 3] == 112):
        return False, 0, 0
    p = start + 4
    if buf[p] == 115:
        p += 1
    if p + 3 > stop or buf[p] != 58 or buf[p + 1] != 47 or buf[p + 2] != 47:
        return False, 0, 0
    host = p + 3
    h = host
    while h < stop and _HOST_OK[buf[h]]:
        h += 1
    if h == host or h >= stop or buf[h] != 47:
        return False, 0, 0
    if buf[host] == 46 or buf[host] == 45 or buf[h - 1] == 46 or buf[h - 1] == 45:
        return False, 0, 0
    query = False
    for j in range(h, stop):
        c = buf[j]
        if c == 63:
            query = True
        elif c == 38 and query:
            return False, 0, 0  # the SURT sorts query arguments: left to Python
        elif not _PATH_OK[c]:
            return False, 0, 0
        if c == 47 and j + 1 < stop and buf[j + 1] == 46:
            return False, 0, 0  # "/." : dot segments are resolved by the slow path
    if buf[stop - 1] == 63:
        return False, 0, 0
    return True, host, h


@nb.njit(cache=True, nogil=True)
def _put(out: np.ndarray, at: int, src: np.ndarray, start: int, stop: int) -> int:
    for j in range(start, stop):
        out[at] = src[j]
        at += 1
    return at


@nb.njit(cache=True, nogil=True)
def _put_all(out: np.ndarray, at: int, src: np.ndarray) -> int:
    return _put(out, at, src, 0, src.shape[0])


@nb.njit(cache=True, nogil=True)
def _put_int(out: np.ndarray, at: int, value: int) -> int:
    if value == 0:
        out[at] = 48
        return at + 1
    digits = 0
    v = value
    while v:
        digits += 1
        v //= 10
    for j in range(digits - 1, -1, -1):
        out[at + j] = 48 + value % 10
        value //= 10
    return at + digits


@nb.njit(cache=True, nogil=True)
def _printable_json(buf: np.ndarray, start: int, stop: int) -> bool:
    for j in range(start, stop):
        c = buf[j]
        if c < 32 or c > 126 or c == 34 or c == 92:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def scan_records(buf: np.ndarray, out_starts: np.ndarray, out_sizes: np.ndarray, first: int, count: int,
                 offsets: np.ndarray, lengths: np.ndarray, filename: np.ndarray, state: np.ndarray,
                 payload: np.ndarray, lines: np.ndarray, line_ends: np.ndarray, hex_at: np.ndarray,
                 keys: np.ndarray, key_ends: np.ndarray, dates: np.ndarray, date_ends: np.ndarray
                 ) -> tuple[int, int, int, int]:
    """Read records ``first .. first + count - 1`` (record ``i`` is ``buf[out_starts[i]:][:out_sizes[i]]``,
    its member at ``offsets[i]``, ``lengths[i]`` bytes, of the file whose JSON-quoted name is
    ``filename``). ``state[i]`` becomes ANSWERED or FALLBACK; for each answered record, in order: its
    payload range in ``buf`` (``payload[i]``), its CDXJ line appended to ``lines`` with 16 bytes left at
    ``hex_at`` for the xxh3 digest, its key to ``keys`` and its WARC-Date to ``dates`` (each followed by
    a newline). Stops early when a buffer could overflow; returns (records read, lines, keys, dates
    bytes used)."""
    spans = np.empty((6, 2), np.int64)
    lat, kat, dat = 0, 0, 0
    answered = 0
    for r in range(first, first + count):
        a = out_starts[r]
        size = out_sizes[r]
        if lat + 3 * size + filename.shape[0] + LINE_SLACK > lines.shape[0] or kat + size + 1 > keys.shape[0] \
                or dat + size + 1 > dates.shape[0]:
            return r - first, lat, kat, dat
        state[r] = FALLBACK
        z = a + size
        if size < 14 or buf[a] != 87 or buf[a + 1] != 65 or buf[a + 2] != 82 or buf[a + 3] != 67 or \
                buf[a + 4] != 47 or buf[a + 5] != 49 or buf[a + 6] != 46 or (buf[a + 7] != 48 and buf[a + 7] != 49) \
                or buf[a + 8] != 13 or buf[a + 9] != 10:
            continue
        end = _find_crlfcrlf(buf, a, z)
        if end < a + 10 or not _headers(buf, a + 10, end, spans):
            continue
        cs, ce = spans[_CLEN, 0], spans[_CLEN, 1]
        if cs < 0 or ce == cs or ce - cs > _DIGITS:
            continue
        clen = _decimal(buf, cs, ce, _DIGITS)
        if clen < 0:
            continue
        start = end + 4
        stop = start + clen
        if z != stop + 4 or buf[z - 4] != 13 or buf[z - 3] != 10 or buf[z - 2] != 13 or buf[z - 1] != 10:
            continue
        kind = -1
        for k in range(3):
            if _equals_lower(buf, spans[_TYPE, 0], spans[_TYPE, 1], _KIND_BYTES[k], _KIND_LENS[k]):
                kind = k
        if kind < 0:
            continue
        # the media type and status written into the line
        ms, me = spans[_CTYPE, 0], spans[_CTYPE, 1]
        status = -1
        pstart = start
        if kind == 0:
            if ms < 0 or me - ms < 16:
                continue
            app = True
            for j in range(16):
                if buf[ms + j] != _APP_HTTP[j]:
                    app = False
                    break
            if not app:
                continue
            http_end = _find_crlfcrlf(buf, start, stop)
            if http_end <= start:
                continue  # no HTTP head end, or an empty head: the Python pass decides
            simple, status, ms, me = _http_head(buf, start, http_end)
            if not simple:
                continue
            pstart = http_end + 4
        if ms >= 0:
            semi = ms
            while semi < me and buf[semi] != 59:
                semi += 1
            ms, me = _strip(buf, ms, semi)
            if not _printable_json(buf, ms, me):
                continue
        us, ue = spans[_URI, 0], spans[_URI, 1]
        if us < 0:
            continue
        simple, hs, he = _simple_url(buf, us, ue)
        if not simple:
            continue
        ss, se = spans[_SHA1, 0], spans[_SHA1, 1]
        if ss >= 0:
            colon = ss
            while colon < se and buf[colon] != 58:
                colon += 1
            if colon < se:
                ss = colon + 1
            if not _printable_json(buf, ss, se):
                continue
        ds, de = spans[_DATE, 0], spans[_DATE, 1]
        if ds >= 0 and not _plain_date(buf, ds, de):
            continue  # a WARC-Date that is not a date: Python writes its line (and warns)
        # answered: the SURT (host labels reversed, a leading "www" dropped, the rest lower-cased)
        label_end = he
        j = he - 1
        first_label = True
        while True:
            if j < hs or buf[j] == 46:
                ls = j + 1
                if not (ls == hs and label_end - ls == 3 and buf[ls] == 119 and buf[ls + 1] == 119
                        and buf[ls + 2] == 119):
                    if not first_label:
                        lines[lat] = 44
                        lat += 1
                    lat = _put(lines, lat, buf, ls, label_end)
                    first_label = False
                label_end = j
                if j < hs:
                    break
            j -= 1
        lines[lat] = 41
        lat += 1
        for j in range(he, ue):
            lines[lat] = _lower(buf[j])
            lat += 1
        lines[lat] = 32
        lat += 1
        digits = 0
        if ds >= 0:
            for j in range(ds, de):
                if digits < 14 and not _TS_DROP[buf[j]]:
                    lines[lat] = buf[j]
                    lat += 1
                    digits += 1
        while digits < 14:
            lines[lat] = 48
            lat += 1
            digits += 1
        lat = _put_all(lines, lat, _L_URL)
        lat = _put(lines, lat, buf, us, ue)
        lat = _put_all(lines, lat, _L_MIME)
        if ms >= 0:
            lat = _put(lines, lat, buf, ms, me)
        if kind == 0 and status >= 0:
            lat = _put_all(lines, lat, _L_STATUS)
            lat = _put_int(lines, lat, status)
        if ss >= 0 and se > spans[_SHA1, 0]:
            lat = _put_all(lines, lat, _L_DIGEST)
            lat = _put(lines, lat, buf, ss, se)
        lat = _put_all(lines, lat, _L_LENGTH)
        lat = _put_int(lines, lat, lengths[r])
        lat = _put_all(lines, lat, _L_OFFSET)
        lat = _put_int(lines, lat, offsets[r])
        lat = _put_all(lines, lat, _L_FILE)
        lat = _put_all(lines, lat, filename)
        lat = _put_all(lines, lat, _L_XXH3)
        hex_at[answered] = lat
        lat += 16
        lat = _put_all(lines, lat, _L_TYPE)
        lat = _put(lines, lat, _KIND_BYTES[kind], 0, _KIND_LENS[kind])
        lat = _put_all(lines, lat, _L_END)
        line_ends[answered] = lat
        kat = _put(keys, kat, buf, us, ue)
        keys[kat] = 10
        kat += 1
        key_ends[answered] = kat
        if ds >= 0:
            dat = _put(dates, dat, buf, ds, de)
        dates[dat] = 10
        dat += 1
        date_ends[answered] = dat
        payload[r, 0] = pstart
        payload[r, 1] = stop
        state[r] = ANSWERED
        answered += 1
    return count, lat, kat, dat


@nb.njit(cache=True, nogil=True)
def write_digests(lines: np.ndarray, hex_at: np.ndarray, digests: np.ndarray) -> None:
    """Write each digest as 16 lower-case hex digits at its place in the lines."""
    for i in range(digests.shape[0]):
        d = digests[i]
        at = hex_at[i]
        for j in range(15, -1, -1):
            lines[at + j] = _HEX[d & np.uint64(15)]
            d >>= np.uint64(4)
