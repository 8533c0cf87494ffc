"""A stop flag for the long-running helper processes (the head's supervisor, its Ray node process, the
warm-driver server): set by a signal, checked by their loops, so each ends cleanly between steps
(its socket removed, its children stopped) instead of being killed in the middle of one."""
from __future__ import annotations

import signal
from typing import Any


class StopSignals:
    """``stopping`` turns True when one of ``signums`` (default SIGTERM and SIGINT) arrives; installing
    the handlers is the first thing the process does, so no signal can come before them unhandled."""

    def __init__(self, *signums: int) -> None:
        self.stopping = False
        for signum in signums or (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._set)

    def _set(self, *_: Any) -> None:
        self.stopping = True
