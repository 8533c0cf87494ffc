"""The dedup job's tuned defaults, in a module that imports nothing (the command line shows them in
its help without loading the job's code).

Chosen on the labelled dev set of real documents (``bench/`` dev set; numbers in dedup/README.md):
LSH tuned for 0.5 finds candidates generously, verification at 0.65 decides.
"""
from __future__ import annotations

DEFAULT_THRESHOLD = 0.65
DEFAULT_LSH_THRESHOLD = 0.5
DEFAULT_NUM_PERM = 128
DEFAULT_NGRAM = 5
DEFAULT_PARTITIONS = 16
