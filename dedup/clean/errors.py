"""Errors of the cleaning stage.

    DedupError (dedup.errors)
    └── CleanError              base: catch this to handle any cleaning failure
        ├── AdblockListError    the ad-blocking list cannot be read or holds no rules
        ├── HtmlParseError      the HTML parser rejected a document
        └── CleanDirError       clean-html was given a source it cannot use
"""
from __future__ import annotations

from dedup.errors import DedupError


class CleanError(DedupError):
    """Base of every error raised by ``dedup.clean``."""


class AdblockListError(CleanError):
    """An EasyList file (``CleanConfig.adblock_list``) cannot be read or parses to no rules."""


class HtmlParseError(CleanError):
    """The HTML parser failed on a document (the caller should quarantine it with its source)."""


class CleanDirError(CleanError):
    """``clean_html_dir`` was given a source directory that does not exist or is not a directory."""
