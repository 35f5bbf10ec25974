"""Compaction beside a running ingest job: the job goes on while small table parts are merged,
only recorded inputs' parts are merged, and errors are neither lost nor masking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import polars as pl
import pytest

from forensics.ingest import compaction as compaction_mod
from forensics.ingest import ingest
from forensics.ingest import run as ingest_mod
from forensics.ingest.compaction import BackgroundCompaction
from forensics.store.manifest import Manifest, load_manifest

LINE = "2024-05-20T10:{m:02d}:{s:02d}.000001+00:00 app[web.1]: job {n} done"


def _inputs(tmp_path: Path, count: int) -> list[str]:
    paths = []
    for i in range(count):
        path = tmp_path / f"in-{i:02d}.log"
        path.write_text(LINE.format(m=i, s=i % 60, n=i) + "\n")
        paths.append(str(path))
    return paths


def test_inputs_are_committed_while_a_compaction_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first compaction waits until every input is in the manifest: it can only see that
    # if the job commits inputs while it runs (a job waiting for it would leave it waiting).
    monkeypatch.setattr(ingest_mod, "COMPACT_EVERY_FILES", 2)
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 2)
    paths = _inputs(tmp_path, 8)
    seen: list[int] = []
    real = compaction_mod.compact_tables

    def patient(root: Path, manifest: Manifest) -> int:
        if not seen:
            deadline = time.monotonic() + 20
            while len(manifest.files) < len(paths) and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(len(manifest.files))
        return real(root, manifest)

    monkeypatch.setattr(compaction_mod, "compact_tables", patient)
    root = tmp_path / "ds"
    ingest(paths, root)
    assert seen == [len(paths)]
    assert len(list((root / "app_logs").glob("*.parquet"))) == 1  # the last compaction's part
    assert pl.read_parquet(root / "app_logs").height == len(paths)
    assert len(load_manifest(root).files) == len(paths)


def test_a_compaction_error_is_raised_when_the_job_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(root: Path, manifest: Manifest) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(compaction_mod, "compact_tables", broken)
    with (
        pytest.raises(OSError, match="disk full"),
        BackgroundCompaction(tmp_path, Manifest()) as compaction,
    ):
        compaction.start()


def test_the_job_error_wins_over_a_compaction_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction_mod, "compact_tables", lambda root, manifest: 1 / 0)
    with (
        pytest.raises(KeyError, match="job"),
        BackgroundCompaction(tmp_path, Manifest()) as compaction,
    ):
        compaction.start()
        raise KeyError("job")


def test_one_compaction_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow(root: Path, manifest: Manifest) -> int:
        calls.append(1)
        release.wait(10)
        return 0

    monkeypatch.setattr(compaction_mod, "compact_tables", slow)
    with BackgroundCompaction(tmp_path, Manifest()) as compaction:
        compaction.start()
        compaction.start()  # still running: skipped
        release.set()
    assert calls == [1]


def test_parts_of_an_input_not_in_the_manifest_yet_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside a job, an input's parts are renamed just before its manifest entry is saved: a
    # compaction in between must not merge (and retire) them.
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 2)
    root = tmp_path / "ds"
    ingest(_inputs(tmp_path, 3)[:2], root)  # two recorded inputs, merged at the end
    manifest = load_manifest(root)
    recorded = sorted(p.name for p in (root / "app_logs").glob("part-*.parquet"))
    unrecorded = root / "app_logs" / "part-0123456789abcdef.parquet"
    unrecorded.write_bytes((root / "app_logs" / recorded[0]).read_bytes())
    extra = root / "app_logs" / "part-fedcba9876543210.parquet"
    extra.write_bytes(unrecorded.read_bytes())
    assert compaction_mod.compact_tables(root, manifest) == 0  # one recorded part: no merge
    assert unrecorded.exists() and extra.exists()
    assert load_manifest(root).retired == []


def test_a_compaction_forgets_only_the_parts_it_retired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keys merge between batches while a table compaction runs: the one that finishes first
    # must not clear the other's retired parts (after a crash they would be read twice).
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 2)
    monkeypatch.setattr(ingest_mod, "compact", lambda root, manifest: 0)  # no final merge
    root = tmp_path / "ds"
    ingest(_inputs(tmp_path, 3), root)
    manifest = load_manifest(root)
    manifest.retired = ["requests/part-other.parquet"]  # another compaction's, mid-way
    assert compaction_mod.compact_tables(root, manifest) == 3
    assert load_manifest(root).retired == ["requests/part-other.parquet"]


def test_overlapping_inputs_are_deduplicated_across_key_compactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each input repeats the last two lines of the one before: the index reads an input's key
    # parts only when the next one is checked (by then committed under their final names), or
    # before key parts are compacted (every 2 inputs here), so every overlap is still seen.
    monkeypatch.setattr(ingest_mod, "COMPACT_EVERY_FILES", 2)
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 2)
    paths = []
    for i in range(7):
        path = tmp_path / f"in-{i:02d}.log"
        path.write_text("".join(LINE.format(m=n, s=n, n=n) + "\n" for n in range(i, i + 3)))
        paths.append(str(path))
    root = tmp_path / "ds"
    summary = ingest(paths, root)
    assert pl.read_parquet(root / "app_logs").height == 9  # lines 0..8, each once
    assert sum(f.duplicate_lines for f in summary.files) == 7 * 3 - 9
