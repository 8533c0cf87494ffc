"""The dedup package's errors. Callers catch :class:`DedupError`.

::

    HaybaleError (catalog.errors)
    └── DedupError
        ├── ConfigError        a setting is invalid (flag values, LSH parameters, keep policy)
        ├── SourceError        an input cannot be listed or read at all (missing path, unknown format)
        │   ├── InputReadError a read of an input failed on its storage (not bad data): retried
        │   └── RecordError    one record is bad (undecodable line, missing field); carries file + line
        │       ├── RecordWarning   one record is odd but kept (a false Content-Encoding used as stored)
        │       └── RecordSkipped   one record is not a document (a WARC request, warcinfo, metadata record)
        ├── JobError           a stage of the batch job failed; names the stage and the split
        │   └── StageError     a unit of a wave failed: a rerun with the run id resumes
        └── CleanError         the cleaning stage (dedup.clean.errors) failed
"""
from __future__ import annotations

from catalog.disk_full import disk_full
from catalog.errors import HaybaleError


class DedupError(HaybaleError):
    """Base class of every error raised by the dedup package."""


class ConfigError(DedupError, ValueError):
    """A configuration value is invalid; the message names the setting and the allowed values."""


class SourceError(DedupError):
    """An input cannot be listed or opened; the message names the input URL."""


class InputReadError(SourceError):
    """Reading an input failed on its storage (an I/O error, a failed object-store read), not on its
    data: the unit is tried again (:func:`dedup.units.run_unit`), then its split fails and a resume
    with the run id reads the file again."""


class RecordError(SourceError):
    """One record of an input is unusable.

    Attributes:
        source: URL of the file holding the record.
        offset: line number (JSONL, 1-based), row number (Parquet) or byte offset (WARC).
        reason: what is wrong, in words.
    """

    def __init__(self, source: str, offset: int, reason: str) -> None:
        super().__init__(f"{source}: record at {offset}: {reason}")
        self.source = source
        self.offset = offset
        self.reason = reason


class RecordWarning(RecordError):
    """A record was read, but something was odd (a false Content-Encoding used as stored, undecodable
    bytes replaced by U+FFFD): handed to ``on_bad_record`` like a bad record, the job counts it as a
    warning and keeps the document."""


class RecordSkipped(RecordError):
    """A record that is not a document (a WARC request, warcinfo, metadata or revisit record): handed
    to ``on_bad_record`` so the job counts it by type (``reason`` is the type); neither output nor
    quarantined."""


class JobError(DedupError):
    """A stage of the batch job failed; the message names the stage and the unit of work."""

    exit_status = 1


class StageError(JobError):
    """A unit of a wave failed for good; the message names the stage and says how to resume."""


def with_resume_hint(exc: StageError, run_id: str, output: str) -> StageError:
    """``exc`` with what to do next: free space when a disk was full, then rerun with ``run_id``."""
    message = str(exc)
    if "the same --run-id" in message:  # a unit's error says to resume (dedup.sources.read_failed): name the id
        return StageError(message.replace("the same --run-id", f"--run-id {run_id}"))
    if "--run-id" in message:  # the failure already says how to resume
        return exc
    full = (f"the disk holding {output} (its work dir included) or a temporary directory is full or over quota: "
            "free space there, then " if disk_full(exc) else "")
    return StageError(f"{message}; {full}rerun with --run-id {run_id} to resume (the units done are kept)")
