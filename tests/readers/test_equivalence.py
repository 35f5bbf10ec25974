"""The same events through every reader give the same tables.

37 real lines (router info and errors, runtime metrics, R14/R15, state changes, API events,
app lines, Postgres and Redis metrics, L10) are rendered into each export format, ingested
with `forensics.ingest.ingest`, and every table is compared with what the `heroku logs` text
gives, ignoring provenance columns and, for formats with whole seconds, sub-second time.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import reader_render as rr
from polars.testing import assert_frame_equal

from forensics.ingest import ingest

FIXTURE = Path(__file__).parents[1] / "data" / "formats" / "equivalence.log"
APP = "warm-cliffs-8392"
TZ = "America/Los_Angeles"
TABLES = ("requests", "events", "dyno_metrics", "addon_metrics", "app_logs")
PROVENANCE = ["source_file", "line_no", "line_count", "byte_offset"]
EVENTS = rr.parse_cli(FIXTURE.read_text())


def _tables(root: Path, whole_seconds: bool) -> dict[str, pl.DataFrame]:
    out = {}
    for table in TABLES:
        files = sorted((root / table).glob("*.parquet"))
        assert files, table
        df = pl.concat([pl.read_parquet(f) for f in files]).drop(PROVENANCE)
        if whole_seconds:
            df = df.with_columns(pl.col("ts").dt.truncate("1s"))
        out[table] = df.sort(df.columns, nulls_last=True)
    return out


def _run(paths: list[Path], root: Path, **options: object) -> None:
    summary = ingest([str(p) for p in paths], root, app=APP, **options)
    totals = summary.totals()
    assert totals["rejected_lines"] == 0, totals["rejects_by_reason"]
    assert all(f.status == "ingested" for f in summary.files)


def _by_year(events: list[rr.Event]) -> dict[int, list[rr.Event]]:
    """Events in time order, split by their year in TZ (year-less formats need one per file)."""
    groups: dict[int, list[rr.Event]] = {}
    for e in sorted(events, key=lambda e: e.ts):
        groups.setdefault(e.ts.astimezone(ZoneInfo(TZ)).year, []).append(e)
    return groups


def _yearless(tmp: Path, name: str, render: Callable[..., bytes]) -> Path:
    """Ingest one file per year, with `year` and `tz` set for it as the CLI's options do."""
    root = tmp / name
    for year, events in _by_year(EVENTS).items():
        path = tmp / f"{name}-{year}.log"
        path.write_bytes(render(events))
        _run([path], root, year=year, tz=TZ)
    return root


def _reference(tmp: Path) -> Path:
    root = tmp / "cli"
    _run([FIXTURE], root)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    root = _reference(tmp_path_factory.mktemp("ref"))
    return _tables(root, False), _tables(root, True)


def _compare(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    for table in TABLES:
        assert_frame_equal(got[table], want[table], check_row_order=True)


def test_fixture_is_varied() -> None:
    assert len(EVENTS) >= 30
    assert {e.origin for e in EVENTS} == {"app", "heroku"}
    assert {"router", "api", "heroku-postgres", "heroku-redis", "logplex"} <= {
        e.dyno for e in EVENTS
    }


def test_drain_body(tmp_path: Path, reference: tuple[dict, dict]) -> None:
    path = tmp_path / "drain.log"
    path.write_bytes(rr.drain_body(EVENTS))
    _run([path], tmp_path / "ds")
    _compare(_tables(tmp_path / "ds", False), reference[0])


def test_syslog_rfc5424(tmp_path: Path, reference: tuple[dict, dict]) -> None:
    path = tmp_path / "syslog.log"
    path.write_bytes(rr.syslog_5424(EVENTS))
    _run([path], tmp_path / "ds")
    _compare(_tables(tmp_path / "ds", False), reference[0])


def test_syslog_bsd(tmp_path: Path, reference: tuple[dict, dict]) -> None:
    root = _yearless(tmp_path, "bsd", functools.partial(rr.bsd, tz=TZ))
    _compare(_tables(root, True), reference[1])


def test_papertrail_text(tmp_path: Path, reference: tuple[dict, dict]) -> None:
    render = functools.partial(rr.papertrail_text, tz=TZ, system=APP)
    root = _yearless(tmp_path, "pt", render)
    _compare(_tables(root, True), reference[1])


def test_papertrail_archive_gz(tmp_path: Path, reference: tuple[dict, dict]) -> None:
    path = tmp_path / "2019-05-01.tsv.gz"
    path.write_bytes(gzip.compress(rr.papertrail_tsv(EVENTS, system=APP)))
    _run([path], tmp_path / "ds")
    _compare(_tables(tmp_path / "ds", True), reference[1])


def test_formats_are_detected(tmp_path: Path) -> None:
    samples = {
        "drain": rr.drain_body(EVENTS),
        "syslog": rr.syslog_5424(EVENTS),
        "papertrail": rr.papertrail_tsv(EVENTS, system=APP),
    }
    for name, data in samples.items():
        path = tmp_path / f"{name}.log"
        path.write_bytes(data)
        summary = ingest([str(path)], tmp_path / name, app=APP)
        assert summary.files[0].format == name
        assert summary.files[0].lines == len(EVENTS)


def test_times_are_utc(reference: tuple[dict, dict]) -> None:
    events = reference[0]["events"]
    first = events.filter(pl.col("message") == "Idling")["ts"][0]
    assert first == datetime.fromisoformat("2018-01-23T10:59:16.605986+00:00")
