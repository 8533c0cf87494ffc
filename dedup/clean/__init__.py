"""Cleaning stage of the dedup job: HTML to main text, ads and boilerplate removed, every removal named.

Public API (stable; the dedup job and CLI call exactly this)::

    CleanConfig, CleanResult
    clean_html(html, url=None, config=CleanConfig()) -> CleanResult
    clean_text(text, config=CleanConfig()) -> CleanResult
    clean_html_dir(src_dir, dst_dir, config=CleanConfig()) -> dict
    CleanError (base), AdblockListError, HtmlParseError, CleanDirError
"""
from __future__ import annotations

from .clean_html_dir import clean_html_dir
from .config import CleanConfig, CleanResult
from .errors import AdblockListError, CleanDirError, CleanError, HtmlParseError
from .pipeline import clean_html, clean_text

__all__ = [
    "AdblockListError",
    "CleanConfig",
    "CleanDirError",
    "CleanError",
    "CleanResult",
    "HtmlParseError",
    "clean_html",
    "clean_html_dir",
    "clean_text",
]
