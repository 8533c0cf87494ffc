"""The WARC/WET/ARC reader ingest uses: :mod:`catalog.warc_reader` (kept under this name for callers)."""
from catalog.warc_reader import (FileLayout, Quarantined, SourceRecord, is_indexable_in_place, iter_files,
                                 iter_records, probe_layout, read_record_at)

__all__ = ["FileLayout", "Quarantined", "SourceRecord", "is_indexable_in_place", "iter_files", "iter_records",
           "probe_layout", "read_record_at"]
