"""One dedup run at a time per output (dedup.output_lease): two runs started at once on one empty
--output both found it empty and wrote their part files over each other's."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dedup.config import DedupConfig
from dedup.errors import ConfigError
from dedup.inputs import source_for_inputs
from dedup.job import run_dedup
from dedup.output_lease import output_lease


def _inputs(tmp_path: Path) -> str:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document number {i} with words of its own {i * 7}"})
                            + "\n" for i in range(20)))
    return str(path)


def test_a_run_on_an_output_another_run_writes_is_refused_before_it_touches_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    held = output_lease(str(out)).acquire()  # as a running dedup run holds it
    try:
        with pytest.raises(ConfigError, match=rf"being written by another dedup run \(pid {os.getpid()}\)"):
            run_dedup(source_for_inputs([_inputs(tmp_path)]), str(out), DedupConfig(), progress=False)
        assert not out.exists()
        with pytest.raises(ConfigError, match="being written"):  # the same output, named another way
            run_dedup(source_for_inputs([_inputs(tmp_path)]), f"file://{tmp_path}/./out", DedupConfig(),
                      progress=False, overwrite=True)
    finally:
        held.release()
    summary = run_dedup(source_for_inputs([_inputs(tmp_path)]), str(out), DedupConfig(), progress=False)
    assert summary["documents"]["input"] == 20
    with output_lease(str(tmp_path / "another")):  # other outputs have leases of their own
        with output_lease(str(out)):
            pass
