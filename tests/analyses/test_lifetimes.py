"""Dyno lifetimes: a hand-written timeline with exact expectations, the generator's ground truth
on several scenarios, and every real export."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from forensics.analyses.lifetimes import END_CAUSES, START_CAUSES, lifetimes
from forensics.store.views import open_dataset


@pytest.fixture
def timeline(dataset_from_lines, lines):
    """web.1: before the log, deploy (new process starts before the old exits), crash, R15,
    cycling with R12. web.2: metrics only, its dyno_id changes. web.3: scaled up, then down."""
    m, r, e = lines.metric, lines.router, lines.event
    h1, h2, h3 = "heroku[web.1]", "heroku[web.2]", "heroku[web.3]"
    start = "Starting process with command `bundle exec puma`"
    out = [
        m(0, "web.1", "a", 300),
        r(1, "web.1", "/"),
        e(100, "app[api]", "Release v5 created by user dev@example.com"),
        e(101, h1, "Restarting"),
        e(101.5, h1, "State changed from up to starting"),
        e(103, h1, "Stopping all processes with SIGTERM"),
        e(105, h1, start),
        e(106, h1, "Process exited with status 143"),  # the old process, after the new start
        e(108, h1, "State changed from starting to up"),
        m(110, "web.1", "b", 250),
        e(3600, h1, "Process exited with status 1"),
        e(3600.1, h1, "State changed from up to crashed"),
        e(3605, h1, "State changed from crashed to starting"),
        e(3609, h1, start),
        e(3612, h1, "State changed from starting to up"),
        m(3620, "web.1", "c", 250),
        e(5000, h1, "Process running mem=1100M(214.8%)"),
        e(5000.01, h1, "Error R15 (Memory quota vastly exceeded)"),
        e(5000.02, h1, "Stopping process with SIGKILL"),
        e(5000.2, h1, "Process exited with status 137"),
        e(5000.3, h1, "State changed from up to crashed"),
        e(5003, h1, "State changed from crashed to starting"),
        e(5006, h1, start),
        e(5009, h1, "State changed from starting to up"),
        m(5020, "web.1", "d", 250),
        e(7000, h1, "Cycling"),
        e(7000.1, h1, "State changed from up to starting"),
        e(7002, h1, "Stopping all processes with SIGTERM"),
        e(
            7032,
            h1,
            "Error R12 (Exit timeout) -> At least one process failed to exit within "
            "30 seconds of SIGTERM",
        ),
        e(7032.1, h1, "Stopping remaining processes with SIGKILL"),
        e(7032.2, h1, "Process exited with status 137"),
        e(7036, h1, start),
        e(7040, h1, "State changed from starting to up"),
        m(7050, "web.1", "e", 250),
        m(8000, "web.1", "e", 251),
        # web.2: metrics only; a new dyno_id at 2010 s is a restart whose events are missing
        m(0, "web.2", "c2", 300),
        m(2000, "web.2", "c2", 300),
        m(2010, "web.2", "d2", 200),
        m(4000, "web.2", "d2", 200),
        # web.3: scaled up, then down
        e(2500, "app[api]", "Scaled to web@3:Standard-1X by user dev@example.com"),
        e(2503, h3, start),
        e(2506, h3, "State changed from starting to up"),
        m(2520, "web.3", "f", 200),
        e(5990, "app[api]", "Scaled to web@2:Standard-1X by user dev@example.com"),
        e(6000, h3, "State changed from up to down"),
        e(6001, h3, "Stopping all processes with SIGTERM"),
        e(6002, h3, "Process exited with status 143"),
    ]
    assert h2  # web.2 has no heroku[...] event lines at all
    return open_dataset(dataset_from_lines(out))


def test_hand_built_timeline_exact(timeline, lines, by_key):
    df = lifetimes(timeline)
    at = lines.at
    rows = by_key(df, "dyno", "lifetime")
    expected = {
        # dyno, n: start, up, end, before_log, start_cause, end_cause, exit, r12, release, inf
        ("web.1", 1): (at(0), None, at(106), True, "before_log", "deploy", 143, False, "v4", True),
        ("web.1", 2): (at(105), at(108), at(3600), False, "deploy", "crash", 1, False, "v5", False),
        ("web.1", 3): (
            at(3605),
            at(3612),
            at(5000.2),
            False,
            "crash",
            "R15",
            137,
            False,
            "v5",
            False,
        ),
        ("web.1", 4): (
            at(5003),
            at(5009),
            at(7032.2),
            False,
            "R15",
            "cycling",
            137,
            True,
            "v5",
            False,
        ),
        ("web.1", 5): (
            at(7036),
            at(7040),
            at(8000),
            False,
            "cycling",
            "end_of_log",
            None,
            False,
            "v5",
            False,
        ),
        ("web.2", 1): (
            at(0),
            None,
            at(2000),
            True,
            "before_log",
            "unknown",
            None,
            False,
            "v4",
            True,
        ),
        ("web.2", 2): (
            at(2010),
            None,
            at(4000),
            False,
            "unknown",
            "end_of_log",
            None,
            False,
            "v5",
            False,
        ),
        ("web.3", 1): (
            at(2503),
            at(2506),
            at(6002),
            False,
            "scale",
            "scale",
            143,
            False,
            "v5",
            False,
        ),
    }
    assert set(rows) == set(expected)
    cols = (
        "start",
        "up",
        "end",
        "started_before_log",
        "start_cause",
        "end_cause",
        "exit_status",
        "r12",
        "release",
        "release_inferred",
    )
    for key, want in expected.items():
        got = tuple(rows[key][c] for c in cols)
        assert got == want, key
    assert rows[("web.1", 2)]["dyno_id"] == "heroku.1234.b"
    assert rows[("web.2", 2)]["dyno_id"] == "heroku.1234.d2"
    assert rows[("web.1", 5)]["samples"] == 2
    # the app its router lines name (host=app.herokuapp.com) prefixes the id
    assert rows[("web.1", 2)]["lifetime_id"] == "app/web.1#2"
    assert set(df["process_type"]) == {"web"}
    # provenance: the old process's claimed exit line belongs to lifetime 1
    src = rows[("web.1", 1)]["sources"]
    assert len(src) == 1 and src[0]["first_line"] >= 1
    assert src[0]["last_line"] >= src[0]["first_line"]


def test_no_data_gives_an_empty_frame_with_the_columns(dataset_from_lines, lines):
    con = open_dataset(dataset_from_lines([lines.event(0, "app[api]", "Deploy abc1234 by x")]))
    df = lifetimes(con)
    assert df.height == 0
    assert "end_cause" in df.columns and "sources" in df.columns


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


CAUSE = {"scale-down": "scale", "end-of-log": "end_of_log"}


def test_lifetimes_match_the_generator_truth(scenario, scenario_name):
    sc = scenario(scenario_name)
    df = sc.lifetimes()
    assert set(df["start_cause"]) <= set(START_CAUSES)
    assert set(df["end_cause"]) <= set(END_CAUSES)
    truth = sc.truth["lifetimes"]
    log_start = _iso(sc.truth["start"])
    tol = timedelta(seconds=10)
    assert df.height == len(truth)
    for t in truth:
        mine = df.filter(pl.col("dyno") == t["dyno"])
        if t["started_before_log"]:
            got = mine.filter(pl.col("started_before_log"))
            assert got.height == 1, t
            row = got.row(0, named=True)
            assert row["start"] - log_start < timedelta(seconds=60)  # first evidence
        else:
            start = _iso(t["start"])
            got = mine.filter((pl.col("start") - start).abs() <= tol)
            assert got.height == 1, t
            row = got.row(0, named=True)
        assert row["end_cause"] == CAUSE.get(t["ended_by"], t["ended_by"]), t
        if t["ended_by"] != "end-of-log":
            assert abs(row["end"] - _iso(t["end"])) <= tol, t
        assert row["release"] == t["release"], t
        if row["samples"]:
            assert row["dyno_id"] == t["dyno_id"], t


def test_lifecycle_scenario_flags(scenario):
    sc = scenario("lifecycle")
    df = sc.lifetimes()
    r12 = sc.truth["r12"]
    hit = df.filter(pl.col("r12"))
    assert hit["dyno"].to_list() == [r12["dyno"]]
    r15 = {(x["dyno"], x["dyno_id"]) for x in sc.truth["r15"]}
    assert set(df.filter(pl.col("end_cause") == "R15").select("dyno", "dyno_id").rows()) == r15
    crash = sc.truth["crashed_worker"]
    crashed = df.filter(pl.col("dyno") == crash["dyno"], pl.col("end_cause") == "crash")
    assert crashed.height == 1 + len(crash["attempts"])


def test_every_real_export(real_results, real_log):
    df = real_results(real_log)["lifetimes"]
    assert df.columns[:3] == ["app", "dyno", "process_type"]
    if df.height:
        assert (df["end"] >= df["start"]).all()
        numbered = df.group_by("app", "dyno").agg(
            (pl.col("lifetime").sort() == pl.int_range(1, pl.len() + 1)).all().alias("ok")
        )
        assert numbered["ok"].all()
        assert set(df["end_cause"]) <= set(END_CAUSES)
