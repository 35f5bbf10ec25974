"""Ingest: inputs -> readers -> parsers -> the dataset, with a summary that adds up.

`run` is the entry point (`ingest`), `options` its options validated once, `job` one job's
inputs in order, `pipeline` its threads, `dedup` the overlap keys, `compaction` the merging of
small parts, `allocator` the memory settings of a long job, `summary` what a job reports.

The names below load on first use, so `forensics.ingest.allocator` can tune the allocators
before Polars and pyarrow are imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ingest": "forensics.ingest.run",
    "IngestOptions": "forensics.ingest.options",
    "FileResult": "forensics.ingest.summary",
    "IngestSummary": "forensics.ingest.summary",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'forensics.ingest' has no attribute {name!r}")
