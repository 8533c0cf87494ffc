"""How a WARC/ARC file is laid out: :mod:`catalog.warc_layout` (kept under this name for callers)."""
from catalog.warc_layout import (GZIP_MAGIC, Compression, FileLayout, RecordFormat, SourceFile, is_indexable_in_place,
                                 probe_layout, resolve_source)

__all__ = ["GZIP_MAGIC", "Compression", "FileLayout", "RecordFormat", "SourceFile", "is_indexable_in_place",
           "probe_layout", "resolve_source"]
