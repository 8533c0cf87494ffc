"""The dedup job's tuned defaults, in a module that imports nothing (the command line shows them in
its help without loading the job's code).

Chosen on neardup-core (120 human-graded pairs) through the real job, while keeping the synthetic
dev set's F1 (bench/dedup_neardup.py; the sweep and the reasons are in dedup/README.md): word
trigrams; LSH tuned for 0.4 (32 bands x 4 rows) finds candidates generously; a pair is a
near-duplicate at exact Jaccard >= 0.68, or at >= 0.5 when the two shingle sets differ by at most
80 trigrams (a sentence or two, whatever the length).
"""
from __future__ import annotations

DEFAULT_NGRAM = 3
DEFAULT_THRESHOLD = 0.68
DEFAULT_LSH_THRESHOLD = 0.4
DEFAULT_SMALL_DIFFERENCE = 80
DEFAULT_SMALL_DIFFERENCE_THRESHOLD = 0.5
DEFAULT_NUM_PERM = 128

# The --input prefix that names a catalog (dedup/catalog_source.py); here so that the command line
# can tell, before it imports the job, whether the job will read a catalog.
CATALOG_INPUT_PREFIX = "catalog:"

# HTML pages whose nesting was flattened (dedup/clean/nesting.py) that a run's summary names, the first
# in input order (all of them are counted): a bound on the summary and on each read unit's marker.
LISTED_FLATTENED = 1000
