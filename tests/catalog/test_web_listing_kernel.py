"""The compiled passes (catalog/web_listing_kernel.py, issue 10) select exactly the rows the fast-form
regular expressions select, build exactly the entries the Arrow kernels and the per-key
:func:`catalog.listing.listing_entry` build for them, and a big batch prepared through them equals the
per-key reference."""
from __future__ import annotations

import random

import numpy as np
import pyarrow.compute as pc
import pytest

import catalog.bulk_prepare as bulk_prepare
from catalog.arrow_columns import strings, to_numpy
from catalog.bulk import prepare_bulk
from catalog.keys import MAX_KEY_BYTES, canonical_key
from catalog.listing import listing_entry
from catalog.location import Location
from catalog.web_listing_kernel import fast_web_rows, web_listing_bytes
from tests.catalog.test_bulk_prepare import _forbid_fallback, _same, _varied_keys


def _fast_rows(keys: list[str]) -> np.ndarray:
    arr = strings(keys)
    web = pc.and_(pc.match_substring_regex(arr, bulk_prepare._WEB_FAST),
                  pc.invert(pc.match_substring_regex(arr, bulk_prepare._WEB_NOT_FAST)))
    return np.flatnonzero(to_numpy(web))


def _fuzzed(n: int, seed: int) -> list[str]:
    """Strings near the fast form: every character class edge of the regular expressions."""
    rng = random.Random(seed)
    pieces = ["a", "z", "0", "9", ".", "-", "/", "?", "&", "A", "Z", "_", "~", "!", "$", "'", "(", ")", "*", "+",
              ",", ";", "=", ":", "@", "%", "#", " ", "é", "\n", "www", "www.", "/.", "..", "?&", "[", "]", '"',
              "\x00", "\\", "^", "`", "{", "|", "}", "<", ">"]
    heads = ["http://", "https://", "HTTP://", "http:/", "https:", "http://www/", "https://www.", "httpss://",
             "ftp://", "", "http://a", "https://-", "http://.", "https://a-/"]
    out = []
    for _ in range(n):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.5:  # a plausible host, then the fuzzed rest
            body = rng.choice(["a", "h1.ex", "x-y.b", "www.q", "www"]) + rng.choice(["/", "", "?"]) + body
        out.append(rng.choice(heads) + body)
    return out + ["https://a.b/" + "x" * (MAX_KEY_BYTES - 12), "https://a.b/" + "x" * (MAX_KEY_BYTES - 11)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_selection_equals_the_regular_expressions(seed: int) -> None:
    keys = _fuzzed(20000, seed) + _varied_keys(500, seed) + _odd_hosts(500, seed)
    arr = strings(keys)
    compiled = fast_web_rows(np.frombuffer(arr.buffers()[2], np.uint8), np.frombuffer(arr.buffers()[1], np.int64),
                             MAX_KEY_BYTES)
    expected = np.zeros(len(keys), bool)
    expected[_fast_rows(keys)] = True
    expected &= np.array([len(k.encode()) <= MAX_KEY_BYTES for k in keys])
    assert expected.sum() > 500 and (~expected).sum() > 1000
    wrong = np.flatnonzero(compiled != expected)
    assert not len(wrong), [keys[i] for i in wrong[:10]]


def _entries(blob: bytes, ends: np.ndarray) -> list[bytes]:
    return [blob[b:e] for b, e in zip([0, *ends[:-1].tolist()], ends.tolist())]


def _odd_hosts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = ["https://a..b/c", "http://www.x/", "https://www.www.e.f/p?Q=1", "http://0.0-1/x?y", "https://w/x",
           "https://ww/x", "https://www/x", "https://wwwx.y/Z", "http://www.a/", "https://a.b/%7E~!$'()*+,;=:@/x"]
    for i in range(n):
        labels = [rng.choice(["a", "b1", "x-y", "www", "0", ""]) for _ in range(rng.randint(1, 4))]
        host = ".".join(labels).strip(".-") or "h"
        path = "/".join(rng.choice(["", "p", "Q", "a.b", "A-Z", "x~y"]) for _ in range(rng.randint(1, 3)))
        out.append(f"http{rng.choice(['', 's'])}://{rng.choice(['', 'www.'])}{host}/{path}{rng.choice(['', '?k=V', '?k'])}{i}")
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_compiled_entries_equal_the_arrow_and_the_per_key_ones(seed: int) -> None:
    keys = _varied_keys(3000, seed) + _odd_hosts(3000, seed)
    rows = _fast_rows(keys)
    assert len(rows) > 3000
    arr = strings(keys)
    blob, ends = web_listing_bytes(np.frombuffer(arr.buffers()[2], np.uint8),
                                   np.frombuffer(arr.buffers()[1], np.int64), rows)
    compiled = _entries(blob, ends)
    arrow = bulk_prepare._web_listing(arr.take(bulk_prepare.int64s(rows))).to_pylist()
    assert compiled == arrow
    assert compiled == [listing_entry(canonical_key(keys[r])) for r in rows.tolist()]


def test_a_batch_prepared_through_the_compiled_pass_equals_the_per_key_one(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _varied_keys(4000, 3) + _odd_hosts(2000, 3)
    locations = [Location(3, i * 10, 5, i) for i in range(len(keys))]
    slot_map = np.arange(4096) // 1024
    expected = prepare_bulk(keys, locations, slot_map.tolist()).shards
    used: list[int] = []
    real = bulk_prepare._web_listing_of
    monkeypatch.setattr(bulk_prepare, "_web_listing_of", lambda arr, rows: used.append(len(rows)) or real(arr, rows))
    monkeypatch.setattr(bulk_prepare, "KERNEL_MIN_ROWS", 1)
    _forbid_fallback(monkeypatch)
    _same(expected, bulk_prepare.prepare_bulk_columns(keys, locations, slot_map).shards)
    assert used and used[0] > 3000


def test_small_batches_do_not_import_the_compiled_pass() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, numpy as np\nfrom catalog.bulk_prepare import prepare_bulk_columns\n"
            "from catalog.location import Location\n"
            "prepare_bulk_columns([f'https://h.ex/{i}' for i in range(1000)], [Location(1, 0, 1, 1)] * 1000, "
            "np.zeros(4096, np.int64))\nprint('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
