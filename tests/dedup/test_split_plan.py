"""Split sizes: consecutive small files grouped into splits of about --split-bytes; same documents
out, fewer splits."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dedup import split_plan
from dedup.config import DedupConfig
from dedup.sources import JsonlSource
from dedup.split_plan import GROUP_KIND, members_of, plan_splits


@pytest.fixture()
def many_files(tmp_path: Path, articles: list[str]) -> Path:
    directory = tmp_path / "in"
    directory.mkdir()
    records = [{"id": f"a{i}", "text": t} for i, t in enumerate(articles[:30])]
    records += [{"id": f"copy{i}", "text": articles[i]} for i in range(0, 30, 3)]
    for index in range(20):
        lines = [json.dumps(r) + "\n" for r in records[index::20]]
        if index == 7:
            lines.append("not json\n")
        (directory / f"{index:02d}.jsonl").write_text("".join(lines))
    return directory


def test_groups_keep_input_order_and_bound_their_size(many_files: Path) -> None:
    source = JsonlSource([str(many_files)])
    same, splits = plan_splits(source)
    assert same is source and len(splits) == 20  # few files: one split per file
    sizes = [p.stat().st_size for p in sorted(many_files.glob("*.jsonl"))]
    grouped_source, groups = plan_splits(source, split_bytes=3 * max(sizes))
    members = [m.url for g in groups for m in (members_of(g) if g.kind == GROUP_KIND else [g])]
    assert members == [s.url for s in splits] and 2 <= len(groups) < 20
    for group in groups:
        listed = members_of(group) if group.kind == GROUP_KIND else [group]
        assert len(listed) == 1 or sum(Path(m.url).stat().st_size for m in listed) <= 3 * max(sizes)


def test_many_files_are_grouped_by_default(many_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split_plan, "MAX_SPLITS", 4)
    _, groups = plan_splits(JsonlSource([str(many_files)]))
    assert len(groups) <= 5 and all(g.kind == GROUP_KIND for g in groups)


@pytest.mark.ray
def test_grouped_run_finds_the_same_duplicates(ray_session: None, many_files: Path, tmp_path: Path) -> None:
    from dedup.job import run_dedup

    outputs = {}
    for name, split_bytes in (("files", None), ("grouped", 25000)):
        output = tmp_path / name
        summary = run_dedup(JsonlSource([str(many_files)]), str(output), DedupConfig(partitions=2, split_bytes=split_bytes),
                            run_id=name, progress=False)
        data = pq.read_table(output / "data").to_pylist()
        removed = sorted(pq.read_table(output / "removed").to_pylist(), key=lambda r: r["id"])
        quarantine = [(Path(r["source"]).name, r["offset"]) for r in pq.read_table(output / "quarantine.parquet").to_pylist()]
        outputs[name] = (summary["splits"], data, removed, quarantine)
    assert outputs["grouped"][0] < outputs["files"][0] == 20
    assert outputs["grouped"][1:] == outputs["files"][1:]
    assert len(outputs["files"][2]) == 10 and outputs["files"][3] == [("07.jsonl", 3)]


def test_default_grouping_never_leaves_more_than_max_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files a little over half the mean size (one line, and now and then two) were each left a
    group of their own: 5,000 such files ran as 5,000 splits (25 million ranged reads per shuffle
    wave). Now there are at most MAX_SPLITS groups, every file in one, in input order."""
    monkeypatch.setattr(split_plan, "MAX_SPLITS", 10)
    directory = tmp_path / "in"
    directory.mkdir()
    for index in range(40):
        lines = [{"id": f"{index}-a", "text": f"tiny document {index}"}]
        if index % 7 == 0:
            lines.append({"id": f"{index}-b", "text": "a line shared by some files"})
        (directory / f"f{index:03d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (directory / "f999-empty.jsonl").write_text("")
    source = JsonlSource([str(directory)])
    _, groups = plan_splits(source)
    members = [m.url for g in groups for m in (members_of(g) if g.kind == GROUP_KIND else [g])]
    assert members == [s.url for s in source.splits()]
    assert 5 <= len(groups) <= 10


def test_many_small_files_are_read_in_few_splits_by_default(tmp_path: Path) -> None:
    """Each split costs a task per stage and a ranged read per split pair per shuffle: 2,000 files of
    700 bytes ran as 2,000 splits in 105 s (3 s as one). Past GROUP_FROM_SPLITS files, consecutive
    files are grouped up to MIN_SPLIT_BYTES; a file bigger than that stays alone, in input order."""
    directory = tmp_path / "in"
    directory.mkdir()
    for index in range(split_plan.GROUP_FROM_SPLITS + 36):
        (directory / f"f{index:03d}.jsonl").write_text(json.dumps({"id": str(index), "text": f"doc {index}"}) + "\n")
    few = tmp_path / "few"
    few.mkdir()
    for index in range(split_plan.GROUP_FROM_SPLITS):
        (few / f"g{index:03d}.jsonl").write_text(json.dumps({"id": f"g{index}", "text": "x"}) + "\n")
    assert len(plan_splits(JsonlSource([str(few)]))[1]) == split_plan.GROUP_FROM_SPLITS  # few: one each
    source = JsonlSource([str(directory)])
    _, groups = plan_splits(source)
    assert len(groups) == 1 and groups[0].kind == GROUP_KIND
    assert [m.url for m in members_of(groups[0])] == [s.url for s in source.splits()]


def test_default_grouping_leaves_splits_that_are_not_files_alone(tmp_path: Path) -> None:
    from dedup.inputs import MultiSource
    from dedup.sources import Split

    class Listed:
        """Splits of a kind that is not an input file (as the catalog input's), between files."""

        def splits(self) -> list[Split]:
            return [Split("catalog", f"catalog-part-{i}", ()) for i in range(3)]

    directory = tmp_path / "in"
    directory.mkdir()
    for index in range(split_plan.GROUP_FROM_SPLITS):
        (directory / f"f{index:03d}.jsonl").write_text(json.dumps({"id": str(index), "text": "t"}) + "\n")
    source = MultiSource([JsonlSource([str(directory)]), Listed()])
    _, groups = plan_splits(source)
    assert [g.kind for g in groups] == [GROUP_KIND, "catalog", "catalog", "catalog"]
