"""The dedup job's own driver loop (:func:`dedup.job._run`) with its units run in the test's process
(:func:`dedup.units.inline_executor`): the same waves, markers, resume rule and summary as
``run_dedup``, without a process pool or Ray, so that what lives in this process (an in-memory
filesystem, a patched limit) is what the units see."""
from __future__ import annotations

from typing import Any

from dedup.config import DedupConfig
from dedup.sources import DocumentSource


def run_inline(source: DocumentSource, output: str, run_id: str, inputs: list[str],
               config: DedupConfig = DedupConfig()) -> dict[str, Any]:
    """Run (or resume) the job over ``source`` into ``output``; its summary."""
    from dedup.job import _Reporter, _run
    from dedup.split_plan import plan_splits
    from dedup.units import inline_executor
    from dedup.workdir import WorkDir

    source, splits = plan_splits(source, config.split_bytes)
    work = WorkDir(output, run_id)
    work.claim_output(False)
    return _run(source, splits, work, config, _Reporter(False), None, inputs, inline_executor, 1)
