"""Preparing bulk entries with columnar (Arrow) kernels instead of per-key Python work (issue 10).

:func:`prepare_bulk_columns` returns exactly what :func:`catalog.bulk.prepare_bulk` returns — per owner
(or shard) a :class:`~catalog.bulk.ShardBatch` sorted by listing entry, repeats of a key in input
order — but canonicalizes, builds listing entries, groups and sorts whole columns at once. Per key,
only the 128-bit hash remains a Python-level call (``map`` over C functions, no Python frame).

How it stays the same as the per-key encoding functions (:func:`catalog.keys.canonical_key`,
:func:`catalog.keys.key_id`, :func:`catalog.listing.listing_entry`):

- Only keys on the *fast forms* are handled by columns: http(s) URLs that already match the
  canonical fast path of :func:`catalog.keys.canonical_url` (the same regular expression, anchored;
  without ``/.``, a trailing ``?``, ``&`` — query arguments SURT would sort — or a bare ``www`` host),
  ``file://`` URIs made only of characters :func:`catalog.keys.canonical_key` leaves unescaped, and
  other keys (not http(s), not ``file://``) without NUL bytes. Every other key goes through the
  per-key functions themselves. Big batches (:data:`KERNEL_MIN_ROWS`) select the web fast form and
  build its listing entries in compiled passes (:mod:`catalog.web_listing_kernel`) that select the
  same rows and build the same bytes (tested against the regular expressions on fuzzed strings and
  against the Arrow kernels and the per-key functions), and hash the fast-form keys in one compiled
  pass too (:mod:`catalog.key_id_kernel`, tested against ``xxhash``).
- Every batch checks a sample of its columnar rows (first, last and spread between) against
  :func:`~catalog.listing.listing_entry`, :func:`~catalog.keys.canonical_key` and
  :func:`~catalog.keys.key_id`; if any differs (the listing format or the id changed and this
  module was not updated), the whole batch is prepared by
  :func:`catalog.bulk.prepare_bulk` instead, so a format change costs speed, never correctness.
  ``tests/catalog/test_bulk_prepare.py`` compares the two on every row of varied keys.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from catalog.arrow_columns import int64_scalar, int64s, scalar, strings, to_numpy
from catalog.bulk import BulkEntries, ShardBatch, prepare_bulk
from catalog.catalog_meta import slots_of_ids
from catalog.keys import _SIMPLE_CANONICAL, MAX_KEY_BYTES, canonical_key, key_id
from catalog.listing import _PATH_TAG, _TAG_OF, LISTING_SEP, listing_entry
from catalog.location import LOCATION_SIZE, Location

_WEB_FAST = "^(?:" + _SIMPLE_CANONICAL.pattern + ")$"
# characters quote(..., safe=catalog.keys._FILE_SAFE) keeps as they are (ASCII letters, digits, "_.-~" + safe)
_FILE_FAST = r"^file://[A-Za-z0-9_.\-~/:@!$&'()*+,;=%]*$"
_WEB_ANY = r"(?i)^https?://"
# what else keeps a URL matching _WEB_FAST off the fast form (see the module docstring), in one pass
_WEB_NOT_FAST = r"/\.|&|^https?://www/|\?$"
SAMPLE_CHECKS = 64
# batches of this many keys select the fast-form URLs and build their listing entries in compiled
# passes (catalog.web_listing_kernel): ~0.45 us per URL cheaper than the regular expressions and Arrow
# kernels, but a process pays ~0.6 s of CPU once to import numba and load the cached passes, earned
# back over ~1.5M URLs; a worker that prepares batches this big usually prepares many
KERNEL_MIN_ROWS = 200_000
_LS = pa.large_string()
_LB = pa.large_binary()


def _s(text: str | bytes, kind: pa.DataType = _LS) -> pa.Scalar:
    return scalar(text, kind)  # not pa.scalar: that imports pandas (catalog.arrow_columns)


def _reverse_labels(host: pa.Array) -> pa.Array:
    """``"a.b.c"`` -> ``"c,b,a"`` for every row (SURT's host order); computed once per distinct host
    (URLs of one batch share hosts), then spread back."""
    encoded = pc.dictionary_encode(host)
    labels = pc.split_pattern(encoded.dictionary, ".")
    offsets = to_numpy(labels.offsets)
    starts = np.repeat(offsets[:-1], np.diff(offsets))
    ends = np.repeat(offsets[1:], np.diff(offsets))
    position = np.arange(offsets[0], offsets[-1], dtype=np.int64)
    reversed_values = labels.values.take(int64s(starts + ends - 1 - position))
    kind = pa.LargeListArray if isinstance(labels, pa.LargeListArray) else pa.ListArray
    reversed_hosts = pc.binary_join(kind.from_arrays(labels.offsets, reversed_values), _s(","))
    return reversed_hosts.take(encoded.indices)


def _web_listing(urls: pa.Array) -> pa.Array:
    """Listing entries of canonical http(s) URLs on the fast form (see the module docstring).

    A fast-form URL is ``scheme://[www.]host/tail`` with no ``/`` in the host, so splitting at its
    first three slashes gives the authority (``[www.]host``) and the tail after its leading ``/``:
    one split instead of a regular-expression extraction (~8x cheaper per URL; issue 10)."""
    parts = pc.split_pattern(urls, "/", max_splits=3)
    # rest: the tail without its leading "/"
    authority, rest = pc.list_element(parts, int64_scalar(2)), pc.list_element(parts, int64_scalar(3))
    has_www_arr = pc.starts_with(authority, "www.")
    has_www = to_numpy(has_www_arr)
    if not has_www.any():  # a batch of one kind of host skips the per-row choice (~0.05 us per URL)
        host = authority
    elif has_www.all():
        host = pc.utf8_slice_codeunits(authority, 4)
    else:
        host = pc.if_else(has_www_arr, pc.utf8_slice_codeunits(authority, 4), authority)
    rest_lower = pc.ascii_lower(rest)
    sort_key = pc.binary_join_element_wise(_s("u"), _reverse_labels(host), _s(")/"), rest_lower, _s(""))
    https = to_numpy(pc.starts_with(urls, "https://"))
    codes = np.array([[_TAG_OF[("http", False)][0], _TAG_OF[("http", True)][0]],
                      [_TAG_OF[("https", False)][0], _TAG_OF[("https", True)][0]]], dtype=np.uint8)
    tag_bytes = codes[https.astype(np.intp), has_www.astype(np.intp)]
    tags, path_tags = _one_byte_column(tag_bytes), _one_byte_column(tag_bytes + _PATH_TAG)
    # SURT lowercases the path: a URL whose path has capitals keeps its own path after a path tag
    lower_path = pc.equal(rest_lower, rest)
    if to_numpy(lower_path).all():  # no capitals in the batch's paths: no path forms to build
        tail_form = tags
    else:
        path_form = pc.binary_join_element_wise(path_tags, _s(b"/", _LB), rest.cast(_LB), _s(b"", _LB))
        tail_form = pc.if_else(lower_path, tags, path_form)
    return pc.binary_join_element_wise(sort_key.cast(_LB), tail_form, _s(LISTING_SEP, _LB))


def _column_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes as uint8, offsets as int64, n + 1) of a large_string array."""
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)), offsets


def _web_listing_of(arr: pa.Array, rows: np.ndarray) -> pa.Array:
    """:func:`_web_listing` of ``arr`` at ``rows`` (fast-form URLs), from one compiled pass over the
    column's bytes (:mod:`catalog.web_listing_kernel`; big batches only)."""
    from catalog.web_listing_kernel import web_listing_arrays

    data, bounds = web_listing_arrays(*_column_bytes(arr), rows)
    return pa.Array.from_buffers(_LB, len(rows), [None, pa.py_buffer(bounds), pa.py_buffer(data)])


def _one_byte_column(values: np.ndarray) -> pa.Array:
    """A large_binary array of one-byte values."""
    n = len(values)
    return pa.Array.from_buffers(_LB, n, [None, pa.py_buffer(np.arange(n + 1, dtype=np.int64)),
                                          pa.py_buffer(values.astype(np.uint8).tobytes())])


def _binaries(values: list[bytes]) -> pa.Array:
    """A large_binary array of ``values``."""
    sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(_LB, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])


def _column_blob(arr: pa.Array) -> tuple[bytes, np.ndarray]:
    """(concatenated values, end offsets from 0) of a large_binary array."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    blob = data[int(offsets[0]):int(offsets[-1])].to_pybytes() if data is not None and len(arr) else b""
    return blob, (offsets[1:] - offsets[0]).astype(np.int64)


def _packed(locations: np.ndarray | Sequence[Location], n: int) -> np.ndarray:
    raw = locations.tobytes() if isinstance(locations, np.ndarray) else b"".join(loc.pack() for loc in locations)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(-1, LOCATION_SIZE)
    if len(packed) != n:
        raise ValueError(f"{n} keys but {len(packed)} locations")
    return packed


def prepare_bulk_columns(keys: Sequence[str], locations: np.ndarray | Sequence[Location],
                         slot_map: Sequence[int] | np.ndarray) -> BulkEntries:
    """:func:`catalog.bulk.prepare_bulk` (same arguments, same result) with columnar kernels.

    ``locations``: :class:`Location` objects or an array of packed values (``LOCATION_SIZE`` bytes
    each, e.g. from :func:`catalog.location.pack_many`). Bad keys raise what ``canonical_key`` raises.
    """
    n = len(keys)
    if len(locations) != n:
        raise ValueError(f"{n} keys but {len(locations)} locations")
    if n == 0:
        return BulkEntries({})
    try:
        arr = strings(keys)  # not pa.array: that imports pandas in every fresh worker (catalog.arrow_columns)
    except (pa.ArrowException, TypeError, UnicodeError):
        return prepare_bulk(keys, locations, slot_map)  # not all str, or unencodable: the per-key errors
    packed = _packed(locations, n)
    compiled = n >= KERNEL_MIN_ROWS  # a big batch: the compiled passes (catalog.web_listing_kernel)
    size_ok = pc.less_equal(pc.binary_length(arr), int64_scalar(MAX_KEY_BYTES))
    if compiled:
        from catalog.web_listing_kernel import fast_web_rows

        web_np = fast_web_rows(*_column_bytes(arr), MAX_KEY_BYTES)
    else:
        web = pc.and_(pc.match_substring_regex(arr, _WEB_FAST), pc.invert(pc.match_substring_regex(arr, _WEB_NOT_FAST)))
        web_np = to_numpy(pc.and_(web, size_ok))
    if web_np.all():  # the usual batch: no key needs the other forms' tests
        other_np = np.zeros(n, dtype=bool)
    else:
        file_fast = pc.match_substring_regex(arr, _FILE_FAST)
        plain = pc.and_(pc.and_(pc.invert(pc.match_substring_regex(arr, _WEB_ANY)), pc.invert(pc.starts_with(arr, "file://"))),
                        pc.and_(pc.invert(pc.match_substring(arr, "\x00")), pc.greater(pc.binary_length(arr), int64_scalar(0))))
        other_np = to_numpy(pc.and_(pc.or_(file_fast, plain), size_ok)) & ~web_np
    web_idx = np.flatnonzero(web_np)
    other_idx = np.flatnonzero(other_np)
    slow_idx = np.flatnonzero(~(web_np | other_np))

    single_group = n in (len(web_idx), len(other_idx), len(slow_idx))  # the usual batch: no copies below
    web_urls = arr if len(web_idx) == n else arr.take(int64s(web_idx))
    other_keys = arr if len(other_idx) == n else arr.take(int64s(other_idx))
    slow_canon = [canonical_key(keys[i]) for i in slow_idx.tolist()]
    pieces = [(web_idx, lambda: _web_listing_of(arr, web_idx) if compiled else _web_listing(web_urls)),
              (other_idx, lambda: pc.binary_join_element_wise(_s("k"), other_keys, _s("")).cast(_LB)),
              (slow_idx, lambda: _binaries([listing_entry(c) for c in slow_canon]))]
    # one group: its column as it is (concatenating it with empty ones copies it: ~0.03 us per key)
    listing = pieces[[len(rows) for rows, _ in pieces].index(n)][1]() if single_group else \
        pa.concat_arrays([make() for _, make in pieces])
    position = np.concatenate([web_idx, other_idx, slow_idx])
    # a key on a fast form is its own canonical form
    if single_group and not len(slow_idx):
        canon: Sequence[str] = keys  # all on one fast form, in input order
    else:
        canon = list(map(keys.__getitem__, position[:len(web_idx) + len(other_idx)].tolist())) + slow_canon
    fast = len(web_idx) + len(other_idx)
    # a big batch hashes its fast-form keys (their own canonical forms, so the column's bytes) in one
    # compiled pass (catalog.key_id_kernel); the sample below checks those ids too
    ids = _column_key_ids(arr, position[:fast], keys, slow_canon) if compiled else key_ids_of(canon)
    if not _sample_agrees(keys, position, canon, listing, ids):
        return prepare_bulk(keys, locations, slot_map)
    owners = np.asarray(slot_map)[slots_of_ids(ids)]
    order = _owner_listing_order(owners, listing, position, single_group=single_group)
    sorted_owners = owners[order]
    bounds = np.flatnonzero(np.diff(sorted_owners)) + 1
    shards: dict[int, ShardBatch] = {}
    # rows as single opaque items: gathering them is one copy per row, not one per byte
    id_rows = np.ascontiguousarray(ids).view(np.dtype((np.void, 16))).ravel()
    location_rows = np.ascontiguousarray(packed).view(np.dtype((np.void, LOCATION_SIZE))).ravel()
    identity = single_group and len(web_idx) == n  # position is 0..n-1: rows are input rows
    for part in np.split(order, bounds):
        blob, ends = _column_blob(listing.take(int64s(part)))
        # np.take, not fancy indexing: ~2x cheaper per row for these opaque items (issue 10)
        shards[int(owners[part[0]])] = ShardBatch(
            ids=np.take(id_rows, part).tobytes(),
            locations=np.take(location_rows, part if identity else position[part]).tobytes(),
            listing_blob=blob, listing_ends=ends)
    return BulkEntries(shards)


def _owner_listing_order(owners: np.ndarray, listing: pa.Array, position: np.ndarray, *,
                         single_group: bool) -> np.ndarray:
    """Row order by (owner, listing entry, input position). When every row came from one group, rows
    are in input order already, so Arrow's stable sort of the listing alone keeps repeats in input
    order and a stable sort of the small owner numbers groups them: ~2x cheaper than sorting the
    three columns as a table, which is what mixed groups still do."""
    if not single_group:
        return to_numpy(pc.sort_indices(pa.table({"o": int64s(owners), "l": listing, "p": int64s(position)}),
                                        sort_keys=[("o", "ascending"), ("l", "ascending"), ("p", "ascending")]))
    by_listing = to_numpy(pc.sort_indices(listing))  # stable (Arrow's sort_indices is)
    grouping = owners[by_listing]
    if len(grouping) and 0 <= grouping.min() and grouping.max() < 1 << 16:
        grouping = grouping.astype(np.uint16)  # numpy's stable sort of 16-bit values is a radix sort: ~4x cheaper
    return by_listing[np.argsort(grouping, kind="stable")]


def _sample_agrees(keys: Sequence[str], position: np.ndarray, canon: Sequence[str], listing: pa.Array,
                   ids: np.ndarray) -> bool:
    """Whether sampled rows match the per-key encoding functions (see the module docstring)."""
    n = len(canon)
    rows = np.unique(np.linspace(0, n - 1, num=min(n, SAMPLE_CHECKS)).astype(np.int64))
    for r in rows.tolist():
        key = keys[int(position[r])]
        c = canonical_key(key)
        if c != canon[r] or listing_entry(c) != listing[r].as_py() or key_id(c) != ids[r].tobytes():
            return False
    return True


def _column_key_ids(arr: pa.Array, rows: np.ndarray, keys: Sequence[str], slow_canon: list[str]) -> np.ndarray:
    """(n, 16) ids in ``position`` order: of the keys at ``rows`` (on a fast form: the canonical key is
    the key, its bytes the column's) from one compiled pass, the few lengths it leaves by the library,
    then of ``slow_canon`` by the library."""
    from catalog.key_id_kernel import key_ids_of_rows

    ids, done = key_ids_of_rows(*_column_bytes(arr), rows)
    if not done.all():
        left = np.flatnonzero(~done)
        ids[left] = key_ids_of([keys[i] for i in rows[left].tolist()])
    return np.concatenate([ids, key_ids_of(slow_canon)]) if slow_canon else ids


def key_ids_of(canonical: Sequence[str]) -> np.ndarray:
    """(n, 16) ids of canonical keys, as :func:`catalog.keys.key_id` gives them (one C call per key)."""
    if not canonical:
        return np.zeros((0, 16), np.uint8)
    try:
        raw = b"".join(map(xxhash.xxh3_128_digest, map(str.encode, canonical)))
    except UnicodeEncodeError:
        raw = b"".join(map(key_id, canonical))
    return np.frombuffer(raw, np.uint8).reshape(-1, 16)
