"""Split sizes from the input's size: consecutive small input files grouped into one split.

A source lists one split per file. Millions of small files would make millions of tasks and, worse,
shuffles of splits x splits ranged reads, so :func:`plan_splits` groups consecutive splits until a
group holds ``split_bytes`` of input (in input order, so output order is kept). By default:

- up to ``GROUP_FROM_SPLITS`` splits are read as they are, one per file;
- up to ``MAX_SPLITS``, consecutive input files (JSONL, Parquet, WARC) are grouped until a group holds
  ``MIN_SPLIT_BYTES``; other splits (the catalog's) stay as they are. Each split costs a task per stage
  and a ranged read per split pair per shuffle: 2,000 files of 700 bytes ran as 2,000 splits in 105 s,
  where one split takes seconds;
- over ``MAX_SPLITS``, into at most ``MAX_SPLITS`` groups (each file in the group its first byte falls
  in, by cumulated size).

A given ``split_bytes`` groups any run of smaller splits. A file larger than the group size stays one
split (files are not cut).

A group is a :class:`~dedup.sources.Split` of kind ``"group"`` whose options list its member splits;
:class:`GroupedSource` reads it by reading its members one after the other with the source that
listed them, so bad records still name their own file and line.
"""
from __future__ import annotations

import json
from typing import Callable, Iterator

import fsspec
import pyarrow as pa

from dedup.sources import BadRecordHandler, DocumentSource, Split

GROUP_KIND = "group"
MAX_SPLITS = 4096
GROUP_FROM_SPLITS = 64
MIN_SPLIT_BYTES = 16 << 20
FILE_KINDS = frozenset({"jsonl", "parquet", "warc"})


def split_size(split: Split) -> int:
    """Bytes of input a split reads (0 when unknown); a group's members added up."""
    if split.kind == GROUP_KIND:
        return sum(split_size(member) for member in members_of(split))
    try:
        fs, path = fsspec.core.url_to_fs(split.url)
        return int(fs.size(path) or 0)
    except (OSError, ValueError, TypeError):
        return 0


def members_of(split: Split) -> list[Split]:
    """The splits a group reads, in order."""
    listed = json.loads(dict(split.options)["members"])
    return [Split(kind, url, tuple((str(k), str(v)) for k, v in options)) for kind, url, options in listed]


def plan_splits(source: DocumentSource, split_bytes: int | None = None) -> tuple[DocumentSource, list[Split]]:
    """The source to read and its splits, small consecutive files grouped (see the module docstring)."""
    splits = source.splits()
    if split_bytes is None and len(splits) <= min(GROUP_FROM_SPLITS, MAX_SPLITS):
        return source, splits
    sizes = _sizes(splits)
    groups: list[list[Split]] = []
    if split_bytes is None and len(splits) <= MAX_SPLITS:
        groups = _held_groups(splits, sizes, MIN_SPLIT_BYTES, lambda split: split.kind in FILE_KINDS)
    elif split_bytes is None:
        # at most MAX_SPLITS groups, each file in the group its first byte falls in (by cumulated
        # size; an unknown or empty file weighs 1). The rule below, which never lets a group pass
        # its size, made one group per file of files a little over half the mean size (5,000 files:
        # 5,000 splits, each wave's shuffle 25 million ranged reads).
        weights = [max(size, 1) for size in sizes]
        target = -(-sum(weights) // MAX_SPLITS)
        start, current = 0, -1
        for split, weight in zip(splits, weights):
            if start // target != current:  # non-decreasing, below MAX_SPLITS
                groups.append([])
                current = start // target
            groups[-1].append(split)
            start += weight
    else:
        groups = _held_groups(splits, sizes, split_bytes, lambda split: True)
    if all(len(group) == 1 for group in groups):
        return source, splits
    planned = [group[0] if len(group) == 1 else _group(group) for group in groups]
    return GroupedSource(source), planned


def _held_groups(splits: list[Split], sizes: list[int], limit: int,
                 groupable: Callable[[Split], bool]) -> list[list[Split]]:
    """Consecutive groupable splits in groups of at most ``limit`` bytes (a bigger one alone); a split
    that is not groupable is a group of its own."""
    groups: list[list[Split]] = []
    held, open_group = 0, False
    for split, size in zip(splits, sizes):
        if not groupable(split):
            groups.append([split])
            open_group = False
            continue
        if not open_group or held >= limit or (held and held + size > limit):
            groups.append([])
            held, open_group = 0, True
        groups[-1].append(split)
        held += size
    return groups


def _sizes(splits: list[Split]) -> list[int]:
    """:func:`split_size` of every split, input files asked in one call per filesystem (an object store
    answers them concurrently, where one request each took a round trip each)."""
    sizes = [0] * len(splits)
    by_protocol: dict[str, list[int]] = {}
    for index, split in enumerate(splits):
        if split.kind in FILE_KINDS:
            by_protocol.setdefault(split.url.split("://", 1)[0] if "://" in split.url else "file", []).append(index)
        else:
            sizes[index] = split_size(split)
    for indexes in by_protocol.values():
        try:
            fs, _ = fsspec.core.url_to_fs(splits[indexes[0]].url)
            paths = [fsspec.core.url_to_fs(splits[i].url)[1] for i in indexes]
            for i, size in zip(indexes, fs.sizes(paths)):
                sizes[i] = int(size or 0)
        except (OSError, ValueError, TypeError):
            for i in indexes:  # one that cannot be sized weighs 0: it is still read, and its error named then
                sizes[i] = split_size(splits[i])
    return sizes


def _group(members: list[Split]) -> Split:
    listed = [[s.kind, s.url, [list(o) for o in s.options]] for s in members]
    return Split(GROUP_KIND, members[0].url, (("members", json.dumps(listed)),))


class GroupedSource:
    """Reads group splits member by member with the wrapped source; other splits go straight to it."""

    def __init__(self, source: DocumentSource) -> None:
        self.source = source
        self.not_read: list[dict[str, str]] = list(getattr(source, "not_read", []))  # see MultiSource

    def splits(self) -> list[Split]:
        return self.source.splits()

    def read(self, split: Split, on_bad_record: BadRecordHandler | None = None) -> Iterator[pa.RecordBatch]:
        if split.kind != GROUP_KIND:
            yield from self.source.read(split, on_bad_record)
            return
        for member in members_of(split):
            yield from self.source.read(member, on_bad_record)
