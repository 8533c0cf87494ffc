"""Where a dedup run may write: never over what it reads.

``--overwrite`` deletes what ``--output`` holds before the run. With ``--output`` naming the input
folder, or a folder above it, or a deployment root whose catalog is the input, that deleted the data
the run was about to read (the run then failed on files that were gone). So before anything is
claimed or deleted, :func:`refuse_output_over_inputs` checks that the output holds none of the run's
input files and none of the places the caller protects (a catalog input's root: its volumes, catalog
and runs). An output *inside* an input folder is fine: later runs leave it out
(:func:`dedup.sources.dedup_outputs`).
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from dedup.errors import ConfigError
from dedup.sources import Split


def comparable(url: str) -> str:
    """``url`` as comparisons need it: local paths absolute, no ``file://``, no trailing slash."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" not in url:
        url = os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")


def _under(url: str, place: str) -> bool:
    return url == place or url.startswith(place + "/")


def refuse_output_over_inputs(output: str, splits: Iterable[Split], protected: Sequence[str] = (),
                              overwrite: bool = False) -> None:
    """Raise :class:`ConfigError` naming the first input file or protected place that lies in
    ``output`` (or is it), and what to do."""
    place = comparable(output)
    held = next((s.url for s in splits if _under(comparable(s.url), place)), None)
    held = held or next((p for p in protected if _under(comparable(p), place)), None)
    if held is None:
        return
    harm = "--overwrite would delete it before the run reads it" if overwrite else \
        "the run would write its files among what it reads"
    raise ConfigError(f"--output {output} holds the input {held}: {harm}; choose an --output outside the inputs "
                      "(a folder inside an input folder is fine: later runs leave it out)")
