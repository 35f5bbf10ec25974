"""Each incident's window and the slices of the whole log's tables its charts draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from forensics.findings import Finding
from forensics.incidents.model import Incident, Member
from forensics.report.zoom import cut_to, dyno_filter, side_chart, zoom_window

T0 = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


def incident(kind: str, *, start=T0, end=T0 + 4 * H, dynos=(), types=(), **impact) -> Incident:
    f = Finding(kind=kind, severity="critical", summary="s")
    return Incident(
        id="i-1", kind=kind, app=None, members=[Member(f, "f-1", "root")], start=start,
        end=end, dynos=list(dynos), process_types=list(types), impact=impact,
    )  # fmt: skip


def test_the_window_is_widened_and_kept_in_the_log() -> None:
    log = (T0 - 10 * H, T0 + 10 * H)
    assert zoom_window(incident("downtime"), log_start=log[0], log_end=log[1]) == (
        T0 - H, T0 + 5 * H
    )  # fmt: skip  # a quarter of 4 h on each side
    short = incident("request_errors", end=T0 + timedelta(seconds=5))
    lo, hi = zoom_window(short, log_start=log[0], log_end=log[1])
    assert (lo, hi) == (T0 - timedelta(minutes=10), T0 + timedelta(minutes=10, seconds=5))
    edge = incident("downtime", start=T0 - 10 * H, end=T0 + 10 * H)
    assert zoom_window(edge, log_start=log[0], log_end=log[1]) == log


def test_which_side_chart_and_dynos() -> None:
    assert side_chart(incident("memory_leak")) == "memory"
    assert side_chart(incident("release_regression", r14=3)) == "memory"
    assert side_chart(incident("downtime")) == "availability"
    assert side_chart(incident("request_errors", crashes=1)) == "availability"
    assert side_chart(incident("timeout_hotspot", h12=40)) is None
    assert dyno_filter(incident("x", dynos=["worker.1"], types=["worker"])) == "worker.1"
    assert dyno_filter(incident("x", dynos=["web.1", "web.2"], types=["web"])) == "web"
    assert dyno_filter(incident("x", types=["web", "worker"])) is None


def test_cut_to_keeps_the_window_and_clips_periods() -> None:
    rows = pl.DataFrame(
        {
            "lane": ["app", "web.1", "web.1", "web.12", "worker.1", "web.1"],
            "ts": [T0, T0 - 2 * H, T0 + H, T0 + H, T0 + H, T0 + 9 * H],
            "ts_end": [None, T0 + 2 * H, None, None, None, None],
        },
        schema={"lane": pl.String, "ts": pl.Datetime("us", "UTC"),
                "ts_end": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    got = cut_to(rows, (T0 - H, T0 + 3 * H), dyno="web.1", dyno_col="lane", keep=("app",))
    assert got["lane"].to_list() == ["app", "web.1", "web.1"]
    assert got["ts"].to_list() == [T0, T0 - H, T0 + H]  # the period starts at the window
    assert got["ts_end"].to_list() == [None, T0 + 2 * H, None]  # points stay points
    by_type = cut_to(rows, (T0 - H, T0 + 3 * H), dyno="web", dyno_col="lane")
    assert by_type["lane"].to_list() == ["web.1", "web.1", "web.12"]


def test_durations_read_as_people_say_them() -> None:
    from forensics.report.page import _duration

    assert [_duration(s) for s in (5, 1800, 7200, 9000, 260 * 3600 + 33 * 60)] == [
        "5 s", "30 min", "2 h", "2 h 30 min", "10 d 21 h"
    ]  # fmt: skip
