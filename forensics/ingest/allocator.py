"""Keep a long ingest job's memory flat, input after input.

Three allocators share an ingest process: jemalloc inside Polars, Arrow's memory pool (mimalloc
by default) and glibc's malloc (Python, NumPy). Each keeps freed memory for reuse, and over a job
of several large inputs the peaks crept up by 30-60 MiB per input (5 drain files of 250 MB:
509 -> 683 MiB), most of it memory that was free but still held. The remedy (8 such files:
flat at 471-522 MiB; on one 1 GB file, ~2 % more CPU):

- Polars' jemalloc returns freed pages to the OS outright (`muzzy_decay_ms:0`; Polars' own
  default keeps them another second);
- Arrow allocates with malloc (the "system" pool) instead of its own mimalloc arenas, so
- one call after each batch (`release_free_memory`) hands back what malloc holds free in all
  its per-thread arenas (glibc keeps it otherwise, as large reads and writes come and go):
  Arrow's system pool does that with `malloc_trim(0)` under glibc, a no-op elsewhere.

`tune_allocators` must run before Polars and pyarrow are imported (they read their settings
once); it never overrides a setting the user made in the environment. (Serving large
allocations from their own mappings, `M_MMAP_THRESHOLD`, kept memory as flat but cost 10-15 %
more CPU in page faults.)
"""

from __future__ import annotations

import os
import sys


def tune_allocators() -> None:
    """Set the allocators up for a long job (see the module docstring)."""
    if "polars" not in sys.modules:
        os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:500,muzzy_decay_ms:0")
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def release_free_memory() -> None:
    """Hand the memory malloc (and Arrow's pool, if it is not malloc) holds free back to the OS
    (microseconds when there is little to hand back)."""
    import pyarrow as pa

    pa.system_memory_pool().release_unused()  # malloc_trim: Python, NumPy, Arrow on malloc
    pool = pa.default_memory_pool()
    if pool.backend_name != "system":  # a pool of the user's choosing (ARROW_DEFAULT_MEMORY_POOL)
        pool.release_unused()
