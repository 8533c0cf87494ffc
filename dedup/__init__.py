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
"""
