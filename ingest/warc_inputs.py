"""Checking the WARC job's inputs before anything is created: a file named on its own that is not a
WARC, WET or ARC file is refused with its name (``haybale ingest warc README.md`` is a mistake, not a
run with one quarantined file).

Only files named one by one are probed (one small read each, on the driver); files found by walking
a directory or matching a glob are not, since there may be many: a non-archive among them is
quarantined by the job with its reason, like any unreadable record.
"""
from __future__ import annotations

import fsspec

from catalog.errors import SourceReadError
from catalog.warc_layout import RecordFormat, probe_layout
from ingest.errors import IngestError
from ingest.file_sources import GLOB_CHARS, input_unreachable


def check_named_inputs(inputs: list[str]) -> None:
    """Raise :class:`IngestError` naming the first input that is a single existing file and not a
    WARC/WET/ARC file (plain, gzip per record or gzip as one stream)."""
    for raw in inputs:
        fs, path = fsspec.core.url_to_fs(raw)
        try:
            if any(ch in path for ch in GLOB_CHARS) or not fs.isfile(path):
                continue  # globs and directories: checked per record by the job; missing: by the planner
            layout = probe_layout(raw)
        except OSError as exc:  # storage that does not answer (aiohttp's errors are OSErrors)
            raise input_unreachable(raw, exc) from exc
        except SourceReadError as exc:  # the same, from the probe's reads (catalog.warc_layout)
            raise input_unreachable(raw, exc.__cause__ or exc) from exc
        if layout.record_format is RecordFormat.UNKNOWN:
            raise IngestError(f"input {raw!r} is not a WARC, WET or ARC file (no WARC/1.x or ARC header at "
                              "its start): give WARC/WET/ARC files (.warc, .warc.gz, .wet.gz, .arc.gz), or "
                              "a directory or quoted glob of them")
