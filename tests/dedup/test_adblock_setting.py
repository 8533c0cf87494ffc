"""An --adblock-list that cannot be read is the run's error, not every HTML page's."""
from __future__ import annotations

from pathlib import Path

import pytest

from dedup.clean import AdblockListError
from dedup.config import DedupConfig
from dedup.warc_source import WarcSource


def test_a_missing_list_fails_the_run_before_anything_is_written(tmp_path: Path, shared_data_dir: Path) -> None:
    """A typo in --adblock-list removed every HTML page of the input as a clean_error, exit 0."""
    from dedup.job import run_dedup

    warc = shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz"
    output = tmp_path / "out"
    output.mkdir()
    (output / "kept.txt").write_text("an earlier output, which --overwrite would delete")
    config = DedupConfig(adblock_list=str(tmp_path / "easylist-typo.txt"))
    with pytest.raises(AdblockListError, match=r"cannot read adblock list .*easylist-typo\.txt"):
        run_dedup(WarcSource([str(warc)]), str(output), config, progress=False, overwrite=True)
    assert [p.name for p in output.iterdir()] == ["kept.txt"]


def test_a_list_gone_from_a_worker_fails_the_split(tmp_path: Path, shared_data_dir: Path) -> None:
    """The list is read again in each worker (another node, or deleted meanwhile): a page's cleaning
    error stays the page's (clean_error), but the list's error fails the split."""
    from dedup.split_stage import process_split
    from dedup.workdir import WorkDir

    source = WarcSource([str(shared_data_dir / "warc" / "dolma-wget-sample-0000.warc.gz")])
    config = DedupConfig(adblock_list=str(tmp_path / "gone.txt"))
    with pytest.raises(AdblockListError, match="gone.txt"):
        process_split(0, source.splits()[0], source, config, WorkDir(str(tmp_path / "out"), "r"))
