"""Compaction beside a running ingest job: the job goes on while small parts are merged, the
key index copes with parts removed under it, and errors are neither lost nor masking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import polars as pl
import pytest

from forensics import compaction as compaction_mod
from forensics import dedup
from forensics import ingest as ingest_mod
from forensics.compaction import BackgroundCompaction
from forensics.dataset import Manifest, load_manifest
from forensics.ingest import ingest

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
    real = compaction_mod.compact

    def patient(root: Path, manifest: Manifest) -> int:
        if not seen:
            deadline = time.monotonic() + 20
            while len(manifest.files) < len(paths) and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(len(manifest.files))
        return real(root, manifest)

    monkeypatch.setattr(compaction_mod, "compact", patient)
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

    monkeypatch.setattr(compaction_mod, "compact", broken)
    with (
        pytest.raises(OSError, match="disk full"),
        BackgroundCompaction(tmp_path, Manifest()) as compaction,
    ):
        compaction.start()


def test_the_job_error_wins_over_a_compaction_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction_mod, "compact", lambda root, manifest: 1 / 0)
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

    monkeypatch.setattr(compaction_mod, "compact", slow)
    with BackgroundCompaction(tmp_path, Manifest()) as compaction:
        compaction.start()
        compaction.start()  # still running: skipped
        release.set()
    assert calls == [1]


def test_the_index_lists_a_day_again_when_a_compaction_removed_its_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = "2024-05-20"
    folder = tmp_path / dedup.KEYS_DIR / day
    folder.mkdir(parents=True)
    keyed = pl.DataFrame({"_key": pl.Series([1, 1, 2], dtype=pl.UInt64), "n": [1, 1, 1]})
    old = [folder / "part-a-0.parquet", folder / "part-b-0.parquet"]
    for path in old:
        keyed.with_columns(pl.col("n").cast(pl.UInt32)).write_parquet(path)
    real = dedup.read_day
    calls = []

    def compacted_meanwhile(files: list[Path]) -> dedup.Counts:
        calls.append(files)
        if len(calls) == 1:  # listed the old parts; a compaction merges and removes them now
            merged = real(old)
            pl.DataFrame({"_key": merged.keys, "n": merged.n}).write_parquet(
                folder / "part-c1.parquet"
            )
            for path in old:
                path.unlink()
        return real(files)

    monkeypatch.setattr(dedup, "read_day", compacted_meanwhile)
    index = dedup.KeyIndex(tmp_path)
    the_day = pl.Series([day]).str.to_date()[0]
    got = index.counts([the_day], pl.Series([1, 2, 3], dtype=pl.UInt64))
    assert sorted(got.iter_rows()) == [(1, 2), (2, 1)]
    assert [[p.name for p in files] for files in calls] == [
        ["part-a-0.parquet", "part-b-0.parquet"],
        ["part-c1.parquet"],
    ]
