"""The allocator settings an ingest job runs with (they keep its memory flat over many inputs)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
from forensics.ingest.allocator import release_free_memory, tune_allocators
tune_allocators()
import os, pyarrow as pa, polars as pl
release_free_memory()
# jemalloc reads the pairs in order, the last one of a key wins (Polars prepends its defaults)
conf = dict(pair.split(":") for pair in os.environ["_RJEM_MALLOC_CONF"].split(","))
print(pa.default_memory_pool().backend_name, sorted(conf.items()))
"""


def _run(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in env and not k.startswith("ARROW_")}
    clean.pop("_RJEM_MALLOC_CONF", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean | env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and jemalloc settings")
def test_arrow_uses_malloc_and_jemalloc_decays_fast() -> None:
    assert _run({}) == "system [('dirty_decay_ms', '500'), ('muzzy_decay_ms', '0')]"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and jemalloc settings")
def test_the_users_own_settings_win() -> None:
    got = _run({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc", "_RJEM_MALLOC_CONF": "narenas:1"})
    assert got.startswith("mimalloc ") and "('narenas', '1')" in got
    assert "('muzzy_decay_ms', '1000')" in got  # Polars' default, not ours


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm")
def test_trims_only_above_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from forensics.ingest import allocator

    rss = allocator.resident_mib()
    assert rss is not None and rss > 1
    trims: list[int] = []

    class Pool:
        backend_name = "system"

        def release_unused(self) -> None:
            trims.append(1)

    monkeypatch.setattr(pa, "system_memory_pool", Pool)
    monkeypatch.setattr(pa, "default_memory_pool", Pool)
    allocator.release_free_memory(above_mib=rss + 1024)
    assert trims == []
    allocator.release_free_memory(above_mib=0)
    assert trims == [1]
    monkeypatch.setattr(allocator, "resident_mib", lambda: None)  # unknown: trim as before
    allocator.release_free_memory()
    assert trims == [1, 1]
