"""The dataset on disk: overlapping inputs stored once, true repeats kept, atomic per-input
commits that survive an interruption, and compaction of many small parts."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from forensics.ingest import compaction as compaction_mod
from forensics.ingest import ingest
from forensics.ingest import job as job_mod
from forensics.ingest import run as ingest_mod
from forensics.readers import cli_text
from forensics.readers import lines as lines_mod
from forensics.readers import source as source_mod
from forensics.store.manifest import load_manifest

ROUTER = (
    "2024-05-20T10:00:{s:02d}.{us:06d}+00:00 heroku[router]: at=info method=GET "
    'path="/users/{n}" host=a.herokuapp.com request_id=r-{n} fwd="1.2.3.4" dyno=web.1 '
    "connect=1ms service={n}ms status=200 bytes=10 protocol=https"
)
APP = "2024-05-20T10:00:{s:02d}.{us:06d}+00:00 app[web.1]: Completed 200 OK in 5ms"


def _lines(n: int, start: int = 0) -> list[str]:
    return [ROUTER.format(s=i % 60, us=i, n=i) for i in range(start, start + n)]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(root: Path, table: str) -> pl.DataFrame:
    files = list((root / table).glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame()


def test_overlapping_dumps_store_the_overlap_once(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.log", _lines(40, 0))
    b = _write(tmp_path / "b.log", _lines(40, 20))  # lines 20..39 are in both
    root = tmp_path / "ds"
    ingest([str(a)], root)
    summary = ingest([str(b)], root)
    assert summary.files[0].duplicate_lines == 20
    req = _rows(root, "requests")
    assert req.height == 60
    assert sorted(req["request_id"].to_list()) == sorted(f"r-{i}" for i in range(60))


def test_true_repeats_in_one_input_are_kept_and_matched_by_multiplicity(tmp_path: Path) -> None:
    same = [APP.format(s=1, us=5)] * 3  # the app really logged it three times
    root = tmp_path / "ds"
    ingest([str(_write(tmp_path / "a.log", same))], root)
    assert _rows(root, "app_logs").height == 3
    # An export holding two of them adds nothing; one holding four adds one.
    ingest([str(_write(tmp_path / "b.log", same[:2]))], root)
    assert _rows(root, "app_logs").height == 3
    summary = ingest([str(_write(tmp_path / "c.log", [*same, same[0]]))], root)
    assert _rows(root, "app_logs").height == 4
    assert summary.files[0].duplicate_lines == 3


def _day_lines(day: int, n: int, start: int, repeats: int = 1) -> list[str]:
    """App lines on 2024-05-<day>; each message `repeats` times (true repeats)."""
    ts = f"2024-05-{day:02d}T10:00:{{s:02d}}.000000+00:00"
    return [
        f"{ts.format(s=i % 60)} app[web.1]: job {i} done"
        for i in range(start, start + n)
        for _ in range(repeats)
    ]


@pytest.mark.parametrize("max_bytes", [1, 32 << 20])  # evict all but the last day, or nothing
def test_one_job_of_many_inputs_dedups_like_one_command_per_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_bytes: int
) -> None:
    # Overlapping inputs over three days, with true repeats; the key index keeps one day in
    # memory (evicting and re-reading) or all of them (each input folded in as it finishes),
    # and the job compacts as it goes.
    monkeypatch.setattr(ingest_mod, "COMPACT_EVERY_FILES", 3)
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 2)
    specs = [(20, 30, 0, 1), (21, 30, 0, 1), (20, 30, 10, 2), (22, 20, 0, 1), (21, 30, 15, 3),
             (20, 20, 20, 1), (22, 20, 10, 2), (21, 10, 0, 4), (20, 40, 0, 2)]  # fmt: skip
    paths = [
        str(_write(tmp_path / f"in-{i}.log", _day_lines(*spec))) for i, spec in enumerate(specs)
    ]
    separate, together = tmp_path / "separate", tmp_path / "together"
    for path in paths:
        ingest([path], separate)
    real = ingest_mod.KeyIndex

    def small_index(root: Path, *, trusted: bool = True) -> object:
        return real(root, trusted=trusted, max_bytes=max_bytes)

    monkeypatch.setattr(ingest_mod, "KeyIndex", small_index)
    summary = ingest(paths, together)

    def messages(root: Path) -> list[tuple]:
        return sorted(_rows(root, "app_logs").select("ts", "message").iter_rows())

    assert messages(together) == messages(separate)
    # day 20: keys 0..29 once, 10..39 twice, 20..39 once, 0..39 twice -> max per key
    want_day20 = 10 * 2 + 30 * 2  # keys 0..9 twice (last input), 10..39 twice
    got = _rows(together, "app_logs").filter(pl.col("ts").dt.day() == 20).height
    assert got == want_day20
    assert (
        sum(f.duplicate_lines for f in summary.files)
        == sum(len(_day_lines(*spec)) for spec in specs) - _rows(together, "app_logs").height
    )


def test_whole_second_timestamps_match_microsecond_ones(tmp_path: Path) -> None:
    precise = APP.format(s=7, us=123456)
    coarse = precise.replace(".123456", "")
    root = tmp_path / "ds"
    ingest([str(_write(tmp_path / "a.log", [precise]))], root)
    summary = ingest([str(_write(tmp_path / "b.log", [coarse]))], root)
    assert summary.files[0].duplicate_lines == 1
    assert _rows(root, "app_logs").height == 1


def test_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.log", _lines(10))
    root = tmp_path / "ds"
    ingest([str(a)], root)
    again = ingest([str(a)], root)
    assert again.files[0].status == "already_ingested"
    assert _rows(root, "requests").height == 10
    assert len(load_manifest(root).files) == 1


def test_the_manifest_is_json_with_a_line_per_input(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    logs = [str(_write(tmp_path / f"{i}.log", _lines(3, i * 10))) for i in range(3)]
    ingest(logs, root)
    text = (root / "manifest.json").read_text()
    entries = [line for line in text.splitlines() if '"sha256": ' in line]
    assert [json.loads(line.strip().rstrip(","))["name"] for line in entries] == logs
    assert [f["name"] for f in json.loads(text)["files"]] == logs
    # A later ingest keeps the entries it loaded and adds its own.
    more = str(_write(tmp_path / "3.log", _lines(3, 30)))
    ingest([more], root)
    again = json.loads((root / "manifest.json").read_text())["files"]
    assert [f["name"] for f in again] == [*logs, more]


def test_interrupted_ingest_leaves_dataset_as_before_and_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _write(tmp_path / "a.log", _lines(10))
    b = _write(tmp_path / "b.log", _lines(10, 100))
    root = tmp_path / "ds"
    ingest([str(a)], root)
    before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())

    real = job_mod.parse_envelope

    def boom(env: pl.DataFrame, **kw: object) -> object:
        real(env, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(job_mod, "parse_envelope", boom)
    with pytest.raises(KeyboardInterrupt):
        ingest([str(b)], root)
    after = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert after == before
    monkeypatch.setattr(job_mod, "parse_envelope", real)
    summary = ingest([str(a), str(b)], root)
    assert [f.status for f in summary.files] == ["already_ingested", "ingested"]
    assert _rows(root, "requests").height == 20


def test_parts_of_an_unfinished_commit_are_removed_on_next_open(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    ingest([str(_write(tmp_path / "a.log", _lines(5)))], root)
    stray = root / "requests" / "part-deadbeefdeadbeef.parquet"
    stray.write_bytes(next((root / "requests").glob("part-*.parquet")).read_bytes())
    ingest([str(_write(tmp_path / "b.log", _lines(5, 50)))], root)
    assert not stray.exists()
    assert _rows(root, "requests").height == 10


def test_many_small_parts_are_compacted_without_changing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction_mod, "COMPACT_MIN_PARTS", 4)
    logs = [str(_write(tmp_path / f"{i}.log", _lines(5, i * 10))) for i in range(6)]
    root = tmp_path / "ds"
    ingest(logs, root)
    parts = list((root / "requests").glob("*.parquet"))
    assert len(parts) == 1
    # Written with the ingest's settings: statistics on `ts` and `line_no` only, no dictionary
    # for mostly distinct text.
    chunks = pq.ParquetFile(parts[0]).metadata.row_group(0)
    columns = {chunks.column(i).path_in_schema: chunks.column(i) for i in range(chunks.num_columns)}
    assert columns["ts"].is_stats_set and not columns["path"].is_stats_set
    assert "PLAIN_DICTIONARY" not in str(columns["request_id"].encodings)
    assert "RLE_DICTIONARY" in str(columns["dyno"].encodings)
    req = _rows(root, "requests")
    assert req.height == 30
    assert req["request_id"].n_unique() == 30
    # The dedup index still works after its parts were merged.
    summary = ingest([str(_write(tmp_path / "again.log", _lines(6, 0)))], root)
    assert summary.files[0].duplicate_lines == 5
    assert _rows(root, "requests").height == 31


def test_a_dyno_cut_keeps_app_wide_release_events(tmp_path: Path) -> None:
    from forensics.store.views import Cut, open_dataset, query

    lines = [
        "2024-05-20T09:00:00.000001+00:00 app[api]: Release v7 created by user a@b.c",
        "2024-05-20T09:01:00.000001+00:00 heroku[web.1]: State changed from starting to up",
        "2024-05-20T09:01:00.000001+00:00 heroku[web.2]: State changed from starting to up",
    ]
    root = tmp_path / "ds"
    ingest([str(_write(tmp_path / "a.log", lines))], root)
    con = open_dataset(root, cut=Cut(dyno="web.1"))
    rows = query(con, "SELECT dyno, kind FROM events ORDER BY ts").rows()
    assert rows == [("api", "release"), ("web.1", "state_change")]


def test_an_input_failing_midway_drops_only_its_own_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inputs around it are committed; the failed one leaves no part and no key behind
    (its lines are not counted as duplicates when a good copy of them comes next)."""

    def small(*args: Any, **kw: Any) -> Any:  # batches before the cut, whatever size asked
        return lines_mod.iter_line_batches(*args, **{**kw, "batch_bytes": 1 << 16})

    monkeypatch.setattr(cli_text, "iter_line_batches", small)
    chunks = functools.partial(source_mod.iter_chunks, chunk_bytes=1 << 15)
    monkeypatch.setattr(job_mod, "iter_chunks", chunks)
    parsed: list[str] = []  # the input of each batch parsed
    real_parse = job_mod.parse_envelope
    monkeypatch.setattr(
        job_mod,
        "parse_envelope",
        lambda env, **kw: parsed.extend(env["source_file"][:1]) or real_parse(env, **kw),
    )
    a = _write(tmp_path / "a.log", _lines(30))
    lines = _lines(5000, 1000)
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    bad = tmp_path / "b.log.gz"
    bad.write_bytes(packed[: len(packed) // 2])  # cut mid-stream
    c = _write(tmp_path / "c.log", lines)  # the same lines, whole
    root = tmp_path / "ds"
    # the Polars engine: its batches are the ones made small above (the native core splits
    # batches of its own)
    summary = ingest([str(a), str(bad), str(c)], root, engine="polars")
    assert [f.status for f in summary.files] == ["ingested", "failed", "ingested"]
    assert "b.log.gz" in (summary.files[1].error or "")
    assert summary.files[2].duplicate_lines == 0
    assert _rows(root, "requests").height == 30 + 5000
    assert not [p for p in root.rglob("*") if p.name.startswith(".tmp")]
    assert parsed.count(str(bad)) > 2  # its first batches were parsed, then dropped
