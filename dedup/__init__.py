"""haybale's dedup package: clean documents, remove exact and near duplicates (MinHash-LSH on Ray).

Public API (importing this package does not import Ray):

- ``dedup.sources``: ``DocumentSource`` protocol, ``Split``, ``JsonlSource``, ``ParquetSource``;
  ``dedup.warc_source.WarcSource``; ``dedup.inputs.source_for_inputs(urls, text_field, id_field)``.
- ``dedup.minhash``: ``MinHashConfig``, ``MinHasher.signatures(texts)``, ``shingles(text, ngram)``.
- ``dedup.lsh_params``: ``optimal_params(threshold, num_perm)``, ``LshParams``, ``s_curve``.
- ``dedup.config.DedupConfig``; ``dedup.job.run_dedup(source, output, config, run_id, address,
  mark_sink)`` and the ``MarkSink`` protocol (the command line is ``haybale dedup``).
- ``dedup.errors``: ``DedupError`` and its subclasses.
- ``dedup.clean``: HTML and text cleaning (its own package).

Builds on ``catalog`` (a catalog can be an input, and receives the marks); independent of ``ingest``.
"""
from __future__ import annotations

from catalog.exports import lazy_exports

_EXPORTS = {
    "DedupConfig": "dedup.config", "MinHashConfig": "dedup.minhash", "MinHasher": "dedup.minhash",
    "shingles": "dedup.minhash", "LshParams": "dedup.lsh_params", "optimal_params": "dedup.lsh_params",
    "s_curve": "dedup.lsh_params", "run_dedup": "dedup.job", "MarkSink": "dedup.job",
    "DocumentSource": "dedup.sources", "Split": "dedup.sources", "JsonlSource": "dedup.sources",
    "ParquetSource": "dedup.sources", "WarcSource": "dedup.warc_source", "MultiSource": "dedup.inputs",
    "source_for_inputs": "dedup.inputs", "CatalogMarkSink": "dedup.catalog_source",
    "plan_catalog_source": "dedup.catalog_source",
    **{name: "dedup.errors" for name in ("DedupError", "ConfigError", "SourceError", "InputReadError", "RecordError",
                                                 "RecordWarning", "RecordSkipped", "JobError", "StageError")},
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
