"""ingest: getting data into volumes and the catalog, as Ray jobs — small files from any fsspec URL,
WARC/WET/ARC files indexed in place or repacked, and a polite web crawl.

Every job runs on one job runner (``ingest.runner``): a run id and a saved plan, splits of thousands
of items per Ray task or actor call, registration of sealed volumes by the driver, completion
markers, progress and a summary; a rerun with the same run id resumes and ends with every input
exactly once. Builds on ``catalog``; independent of ``dedup``.

Names load on first use (``import ingest`` does not import Ray).
"""
from __future__ import annotations

from catalog.exports import lazy_exports

_EXPORTS = {
    "FilesJobConfig": "ingest.files_job", "FilesJobSummary": "ingest.files_job", "run_files_job": "ingest.files_job",
    "WarcJobConfig": "ingest.warc_job", "WarcJobSummary": "ingest.warc_job", "run_warc_job": "ingest.warc_job",
    "CrawlConfig": "ingest.crawl.config", "CrawlJobConfig": "ingest.crawl_summary",
    "CrawlJobSummary": "ingest.crawl_summary", "run_crawl_job": "ingest.crawl_job",
    **{name: "ingest.errors" for name in (
        "IngestError", "IngestJobError", "WarcJobError", "CrawlConfigError", "UnsupportedURLError")},
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
