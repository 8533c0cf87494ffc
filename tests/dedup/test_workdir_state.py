"""WorkDir resolves its file system once per process and never ships it to another one."""
from __future__ import annotations

import pickle
from pathlib import Path

from dedup.workdir import WorkDir


def test_file_system_is_resolved_once_and_not_pickled(tmp_path: Path) -> None:
    work = WorkDir(str(tmp_path / "out"), "r1")
    assert work.fs is work.fs and work.is_local()
    work.write_bytes(work.path("a", "b.bin"), b"payload")
    copy = pickle.loads(pickle.dumps(work))
    assert copy._fs is None and copy._local is None  # resolved again where it lands
    assert (copy.output, copy.run_id, copy.root) == (work.output, work.run_id, work.root)
    assert copy.read_range(copy.path("a", "b.bin"), 1, 4) == b"ayl" and copy.is_local()
    assert copy.list(copy.path("a")) == [work.path("a", "b.bin")]
