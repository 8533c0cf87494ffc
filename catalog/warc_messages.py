"""What warcio says while it reads, caught as text for the record it was reading instead of printed.

warcio writes its warnings straight to ``sys.stderr`` ("Record not followed by newline, perhaps
Content-Length is invalid", a gzip error) or logs them ("Replacing spaces in invalid WARC-Target-URI"),
so they landed on the terminal of ``haybale ingest warc --quiet`` and in no report. :func:`caught`
collects them, for the calling thread only and only while its block runs, into a list the reader
attaches to the record (``SourceRecord.notes``); the ingest job lists them as warnings of its report.

Contract: output of other threads, and of this thread outside the block, goes where it went before.
``sys.stderr`` is wrapped once by a router that forwards every write it does not catch; the
``warcio.recordloader`` logger gets a filter that keeps a caught message from its handlers.
"""
from __future__ import annotations

import logging
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_local = threading.local()
_LOGGERS = ("warcio.recordloader",)


class _Router:
    """``sys.stderr`` as it was, except that writes of a thread inside :func:`caught` are collected."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        messages = getattr(_local, "messages", None)
        if messages is None:
            return self._stream.write(text)
        messages.append(text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Catch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        messages = getattr(_local, "messages", None)
        if messages is None:
            return True
        messages.append(record.getMessage())
        return False


_filter = _Catch()


def _install() -> None:
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router(sys.stderr)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


@contextmanager
def caught(messages: list[str]) -> Iterator[None]:
    """Within the block, this thread's writes to ``sys.stderr`` and warcio's log messages are appended
    to ``messages`` instead of printed."""
    _install()
    outer = getattr(_local, "messages", None)
    _local.messages = messages
    try:
        yield
    finally:
        _local.messages = outer


def as_notes(messages: list[str]) -> list[str]:
    """The caught text as one line per message (warcio writes each warning in one call, over lines)."""
    return [" ".join(line.strip() for line in m.splitlines() if line.strip()) for m in messages if m.strip()]
