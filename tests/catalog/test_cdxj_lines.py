"""external_cdxj_lines (one loop per file, the in-place index pass) writes exactly the lines
external_cdxj_line writes record by record, for every kind of field the format treats specially."""
from __future__ import annotations

import itertools

from catalog.cdxj import external_cdxj_line, external_cdxj_lines, parse_cdxj

KEYS = ["https://www.example.com/a/B?z=1&a=2", "http://example.org/", "file:///data/with space.txt",
        "opaque key", 'https://q.example/"quoted"', "https://ü.example/ñ", "HTTPS://upper.example/x"]
TYPES = ["response", "resource", "conversion"]
MIMES = [None, "text/html; charset=utf-8", " application/pdf ", 'a"b', "tëxt/plain"]
DATES = [None, "2024-05-01T01:02:03Z", "2024-05-01T01:02:03.123456Z", ""]
STATUSES = [None, 200, 404]
SHA1S = [None, "", "sha1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "nocolon"]


def test_lines_equal_the_per_record_function() -> None:
    rows = []
    for n, (key, kind, mime, date, status, sha1) in enumerate(
            itertools.product(KEYS, TYPES, MIMES, DATES, STATUSES, SHA1S)):
        rows.append((key, kind, mime, date, n * 331, 300 + n % 7, (n * 0x9E3779B97F4A7C15) % 2**64, status, sha1))
    for filename in ["/data/crawl/file.warc.gz", 's3://bucket/with "quote".warc.gz']:
        expected = [external_cdxj_line(k, record_type=t, content_type=m, date=d, offset=o, length=n, digest=g,
                                       filename=filename, status=s, payload_sha1=h)
                    for k, t, m, d, o, n, g, s, h in rows]
        assert external_cdxj_lines(filename, rows) == expected
    assert len(list(parse_cdxj("".join(expected), "test"))) == len(rows)  # and they read back
