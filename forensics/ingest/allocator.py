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
  Arrow's system pool does that with `malloc_trim(0)` under glibc, a no-op elsewhere; it
  does so only once the process holds more than `TRIM_ABOVE_MIB`.

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


# A trim hands back pages that the next batch faults in (and the kernel zeroes) again: after
# every batch that was ~0.4 s of system time per 300 MB of CLI text (0.82-1.00 s against
# 0.47-0.52 s trimming only above this; peak 372-387 -> 398-414 MiB, 2026-12-03), while one
# such file never comes near the memory bound. So trim only when the process holds more.
TRIM_ABOVE_MIB = 384
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_mib() -> float | None:
    """This process's resident memory in MiB (Linux `/proc/self/statm`), None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / (1 << 20)
    except (OSError, ValueError, IndexError):
        return None


def release_free_memory(*, above_mib: float = TRIM_ABOVE_MIB) -> None:
    """Hand the memory malloc (and Arrow's pool, if it is not malloc) holds free back to the OS
    when the process holds more than `above_mib` (or its size is unknown); microseconds when
    there is little to hand back."""
    rss = resident_mib()
    if rss is not None and rss <= above_mib:
        return
    import pyarrow as pa

    pa.system_memory_pool().release_unused()  # malloc_trim: Python, NumPy, Arrow on malloc
    pool = pa.default_memory_pool()
    if pool.backend_name != "system":  # a pool of the user's choosing (ARROW_DEFAULT_MEMORY_POOL)
        pool.release_unused()
