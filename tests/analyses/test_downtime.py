"""Downtime windows: hand-written logs of each shape (and what is not downtime), and the real
exports that show an outage, checked against what a person reading the raw log would say."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from scenario_b import (  # tests/analyses is on sys.path (pytest rootdir-relative import)
    as_drain,
    ingest_lines,
    real_dataset_fixture,  # noqa: F401 (fixture `b_real`)
    utc,
)

from forensics.analyses.downtime import downtime
from forensics.findings import collect_findings
from forensics.findings.downtime import findings
from forensics.store.views import open_dataset

DAY = "2024-05-20"


def h(ts: str, dyno: str, msg: str) -> str:
    """A platform line at `ts` (HH:MM:SS on DAY)."""
    src = "app[api]" if dyno == "api" else f"heroku[{dyno}]"
    return f"{DAY}T{ts}.000000+00:00 {src}: {msg}"


def req(t: datetime, path: str, *, dyno: str = "web.1", status: int = 200, code: str = "") -> str:
    head = "at=info" if not code else f'at=error code={code} desc="App crashed"'
    d = "" if code in ("H10", "H14", "H20") else dyno
    return (
        f'{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 heroku[router]: {head} method=GET path="{path}" '
        f'host=x.herokuapp.com request_id=r{t:%H%M%S}{path.strip("/")} fwd="1.2.3.4" dyno={d} '
        f"connect=1ms service=5ms status={status} bytes=10 protocol=https"
    )


def at(ts: str) -> datetime:
    return utc(f"{DAY}T{ts}Z")


def lines(*parts: str | list[str]) -> str:
    out: list[str] = []
    for p in parts:
        out += p if isinstance(p, list) else [p]
    return "\n".join(out)


def rows(df):
    return df.select("dyno", "process_type", "start", "end", "ongoing", "ended_by").rows()


# A sidekiq worker dies in the morning; the platform retries it (crashed again), then waits its
# cool-off; a deploy in the afternoon brings it back.
WORKER = lines(
    h("08:00:00", "api", "Release v7 created by user a@b.c"),
    h("08:00:05", "worker.1", "State changed from starting to up"),
    h("09:00:00", "worker.1", "Process exited with status 1"),
    h("09:00:00", "worker.1", "State changed from up to crashed"),
    h("09:00:01", "worker.1", "State changed from crashed to starting"),
    h("09:00:04", "worker.1", "Starting process with command `bundle exec sidekiq`"),
    h("09:00:09", "worker.1", "Process exited with status 1"),
    h("09:00:09", "worker.1", "State changed from starting to crashed"),
    h("09:20:09", "worker.1", "State changed from crashed to starting"),
    h("09:20:12", "worker.1", "Starting process with command `bundle exec sidekiq`"),
    h("09:20:13", "worker.1", "State changed from starting to up"),
    h("09:20:15", "worker.1", "Process exited with status 1"),
    h("09:20:15", "worker.1", "State changed from up to crashed"),
    h("14:30:00", "api", "Deploy 1a2b3c4d by user a@b.c"),
    h("14:30:00", "api", "Release v8 created by user a@b.c"),
    h("14:30:02", "worker.1", "State changed from crashed to starting"),
    h("14:30:06", "worker.1", "Starting process with command `bundle exec sidekiq`"),
    h("14:30:10", "worker.1", "State changed from starting to up"),
    h("16:00:00", "worker.1", "Process running mem=200M(40.0%)"),
)


def test_worker_down_until_a_deploy(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, WORKER)
    d = downtime(con)
    assert rows(d) == [
        ("worker.1", "worker", at("09:00:00"), at("14:30:10"), False, "release"),
        (None, "worker", at("09:00:00"), at("14:30:10"), False, "release"),
    ]
    r = d.row(0, named=True)
    # crashed again at 09:00:09; up at 09:20:13 but crashed 2 s later: two failed boots
    assert (r["restart_attempts"], r["release"], r["ended_by_release"]) == (2, "v7", "v8")
    assert (r["line_no"], r["end_line_no"]) == (4, 18)
    assert r["minutes"] == pytest.approx(330 + 10 / 60)
    assert r["requests"] is None  # not web
    (dyno, ptype) = findings(con)
    assert (dyno.dyno, dyno.severity, ptype.process_type, ptype.severity) == (
        "worker.1",
        "warning",
        "worker",
        "critical",
    )
    assert ptype.dyno is None and ptype.evidence["dynos"] == ["worker.1"]
    ev = dyno.evidence
    assert ev["ended_by"] == {"kind": "release", "release": "v8"}
    assert (ev["ongoing"], ev["minutes"], ev["restart_attempts"]) == (False, 330.17, 2)
    assert "v8" in dyno.summary and "2 failed restarts" in dyno.summary


def test_worker_down_to_the_end_is_ongoing(tmp_path) -> None:
    text = "\n".join(WORKER.splitlines()[:13]) + "\n" + h("16:00:00", "api", "Set FOO config vars")
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con)
    assert rows(d) == [
        ("worker.1", "worker", at("09:00:00"), at("16:00:00"), True, None),
        (None, "worker", at("09:00:00"), at("16:00:00"), True, None),
    ]
    assert d["ended_by_release"].to_list() == [None, None]
    (f, _) = findings(con)
    assert f.evidence["ongoing"] is True and f.evidence["ended_by"] is None
    assert "still down when the log ends" in f.summary


def _web_outage() -> str:
    """The only web dyno stops for a deploy (v42), crashes booting it, v43 and v44 crash too,
    v45 comes up and holds; every request meanwhile is an H10."""
    out = [
        h("13:00:00", "api", "Release v41 created by user a@b.c"),
        h("13:00:05", "web.1", "State changed from starting to up"),
        req(at("13:59:00"), "/"),
        h("14:00:00", "api", "Deploy aaaa1111 by user a@b.c"),
        h("14:00:00", "api", "Release v42 created by user a@b.c"),
        h("14:00:02", "web.1", "Restarting"),
        h("14:00:02", "web.1", "State changed from up to starting"),
        h("14:00:03", "web.1", "Stopping all processes with SIGTERM"),
        h("14:00:04", "web.1", "Process exited with status 143"),
        h("14:00:06", "web.1", "Starting process with command `bundle exec puma`"),
        h("14:00:09", "web.1", "Process exited with status 1"),
        h("14:00:09", "web.1", "State changed from starting to crashed"),
    ]
    t = at("14:00:30")
    while t < at("14:49:00"):
        out.append(req(t, "/", status=503, code="H10"))
        t += timedelta(seconds=30)
    for ts, v in (("14:15:00", "v43"), ("14:30:00", "v44")):
        hh, mm, _ = ts.split(":")
        out += [
            h(ts, "api", f"Release {v} created by user a@b.c"),
            h(f"{hh}:{mm}:05", "web.1", "State changed from crashed to starting"),
            h(f"{hh}:{mm}:08", "web.1", "Starting process with command `bundle exec puma`"),
            h(f"{hh}:{mm}:10", "web.1", "State changed from starting to up"),
            h(f"{hh}:{mm}:12", "web.1", "Process exited with status 1"),
            h(f"{hh}:{mm}:12", "web.1", "State changed from up to crashed"),
        ]
    out += [
        h("14:49:00", "api", "Release v45 created by user a@b.c"),
        h("14:49:02", "web.1", "State changed from crashed to starting"),
        h("14:49:05", "web.1", "Starting process with command `bundle exec puma`"),
        h("14:49:10", "web.1", "State changed from starting to up"),
        req(at("14:50:00"), "/"),
        req(at("15:30:00"), "/"),
    ]
    return "\n".join(sorted(out, key=lambda x: x[:26]))


def test_web_down_across_failing_releases(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, _web_outage())
    d = downtime(con)
    assert rows(d) == [
        ("web.1", "web", at("14:00:02"), at("14:49:10"), False, "release"),
        (None, "web", at("14:00:02"), at("14:49:10"), False, "release"),
    ]
    r = d.row(1, named=True)
    # the v42 boot, then v43's and v44's (up, crashed 2 s later)
    assert (r["restart_attempts"], r["release"], r["ended_by_release"]) == (3, "v42", "v45")
    assert (r["failed_requests"], r["requests"]) == (97, 97)
    assert r["failed_share"] == 1.0
    assert r["failed_codes"] == [{"code": "H10", "count": 97}]
    web = [f for f in findings(con) if f.dyno is None]
    (f,) = web
    assert f.severity == "critical"
    assert f.evidence["failed_requests"] == 97 and f.evidence["failed_share"] == 1.0
    assert f.evidence["failed_releases"] == ["v42", "v43", "v44"]
    assert f.evidence["ended_by"] == {"kind": "release", "release": "v45"}
    assert f.summary == (
        "web was down 49 min (2024-05-20 14:00-14:49 UTC): no web dyno up, 3 failed restarts "
        "on 3 failing releases (v42, v43, v44); 97 requests failed (100 %, H10); v45 brought it "
        "back."
    )


IDLING = lines(
    h("10:00:00", "web.1", "State changed from starting to up"),
    h("11:00:00", "web.1", "Idling"),
    h("11:00:00", "web.1", "State changed from up to down"),
    h("11:00:02", "web.1", "Stopping all processes with SIGTERM"),
    h("11:00:03", "web.1", "Process exited with status 143"),
    h("13:00:00", "web.1", "Unidling"),
    h("13:00:00", "web.1", "State changed from down to starting"),
    h("13:00:04", "web.1", "Starting process with command `npm start`"),
    h("13:00:07", "web.1", "State changed from starting to up"),
)


def test_idling_is_not_downtime(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, IDLING)
    assert downtime(con).is_empty()
    assert findings(con) == []


def test_scaling_to_zero_is_not_downtime(tmp_path) -> None:
    text = lines(
        h("10:00:00", "web.1", "State changed from starting to up"),
        h("10:00:00", "worker.1", "State changed from starting to up"),
        h("11:00:00", "api", "Scaled to web@0:Basic worker@0:Basic by user a@b.c"),
        h("11:00:01", "web.1", "State changed from up to down"),
        h("11:00:01", "worker.1", "State changed from up to down"),
        h("11:00:02", "web.1", "Stopping all processes with SIGTERM"),
        h("11:00:03", "web.1", "Process exited with status 143"),
        h("15:00:00", "api", "Scaled to web@1:Basic by user a@b.c"),
        h("15:00:02", "web.1", "State changed from down to starting"),
        h("15:00:05", "web.1", "Starting process with command `npm start`"),
        h("15:00:09", "web.1", "State changed from starting to up"),
        h("16:00:00", "api", "Set FOO config vars by user a@b.c"),
    )
    con, _ = ingest_lines(tmp_path, text)
    assert downtime(con).is_empty()


def test_normal_restart_is_not_downtime(tmp_path) -> None:
    text = lines(
        h("10:00:00", "web.1", "State changed from starting to up"),
        h("11:00:00", "web.1", "Restarting"),
        h("11:00:00", "web.1", "State changed from up to starting"),
        h("11:00:01", "web.1", "Stopping all processes with SIGTERM"),
        h("11:00:02", "web.1", "Process exited with status 143"),
        h("11:00:05", "web.1", "Starting process with command `npm start`"),
        h("11:00:40", "web.1", "State changed from starting to up"),
        h("12:00:00", "web.1", "Cycling"),
        h("12:00:00", "web.1", "State changed from up to starting"),
        h("12:00:09", "web.1", "State changed from starting to up"),
    )
    con, _ = ingest_lines(tmp_path, text)
    assert downtime(con).is_empty()
    # the same restart taking 5 minutes to come up is downtime, ended by the restart
    slow = text.replace("11:00:40", "11:05:00")
    con, _ = ingest_lines(tmp_path, slow, name="slow.log")
    assert rows(downtime(con))[0] == (
        "web.1", "web", at("11:00:00"), at("11:05:00"), False, "restart",
    )  # fmt: skip


def _preboot(*, down_line: bool, serve_after: bool) -> str:
    """Two deploys with preboot: each web dyno's new instance comes up, the old one of the same
    name is stopped 3 min later (SIGTERM, 143, no `up` after it), requests keep being served."""
    out = [h("09:00:00", "web.1", "State changed from starting to up")]
    for hh in ("10", "13"):
        out += [
            h(f"{hh}:00:00", "api", "Release v9 created by user a@b.c"),
            h(f"{hh}:00:30", "web.1", "State changed from up to starting"),
            h(f"{hh}:00:31", "web.1", "Starting process with command `bundle exec puma`"),
            h(f"{hh}:00:40", "web.1", "State changed from starting to up"),
            h(f"{hh}:03:30", "web.1", "Stopping all processes with SIGTERM"),
            h(f"{hh}:03:32", "web.1", "Process exited with status 143"),
        ]
        if down_line:
            out.append(h(f"{hh}:03:32", "web.1", "State changed from up to down"))
    t = at("09:00:10")
    while serve_after and t < at("15:00:00"):
        out.append(req(t, "/orders"))
        t += timedelta(seconds=20)
    return lines(out)


@pytest.mark.parametrize("down_line", [False, True])
def test_preboot_stopping_the_old_instance_is_not_downtime(tmp_path, down_line) -> None:
    con, _ = ingest_lines(tmp_path, _preboot(down_line=down_line, serve_after=True))
    assert downtime(con).is_empty()
    assert not [f for f in collect_findings(con) if f.kind == "downtime"]


def test_a_stop_that_serves_nothing_afterwards_is_still_downtime(tmp_path) -> None:
    # the same lines with no request after the stop: the log shows web.1 stopped and not up
    # again until the next deploy came up
    con, _ = ingest_lines(tmp_path, _preboot(down_line=False, serve_after=False))
    got = rows(downtime(con))
    assert got[0] == ("web.1", "web", at("10:03:30"), at("13:00:40"), False, "release")
    assert all(r[3] > r[2] for r in got)  # never a window that ends before it starts


def test_platform_restart_that_holds_is_a_short_window(tmp_path) -> None:
    text = lines(
        h("10:00:00", "web.1", "State changed from starting to up"),
        h("10:00:00", "web.2", "State changed from starting to up"),
        h("11:00:00", "web.1", "Process exited with status 1"),
        h("11:00:00", "web.1", "State changed from up to crashed"),
        h("11:00:01", "web.1", "State changed from crashed to starting"),
        h("11:00:05", "web.1", "Starting process with command `npm start`"),
        h("11:00:09", "web.1", "State changed from starting to up"),
        h("12:00:00", "web.1", "Process running mem=200M(40.0%)"),
    )
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con)
    # web.2 stayed up: a window of web.1 only, no process-type row
    assert rows(d) == [("web.1", "web", at("11:00:00"), at("11:00:09"), False, "platform")]
    assert d["restart_attempts"].to_list() == [0]
    (f,) = findings(con)
    assert f.severity == "info" and f.evidence["ended_by"] == {"kind": "platform", "release": None}


def test_a_served_request_ends_a_window_whose_up_line_is_missing(tmp_path) -> None:
    text = lines(
        h("10:00:00", "web.1", "State changed from starting to up"),
        h("11:00:00", "web.1", "State changed from up to crashed"),
        req(at("11:00:30"), "/", code="H10", status=503),
        h("11:00:40", "api", "Release v9 created by user a@b.c"),
        h("11:00:42", "web.1", "State changed from crashed to starting"),
        req(at("11:01:00"), "/"),  # served by web.1: it was up, the `up` line is not in the log
        req(at("12:00:00"), "/"),
    )
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con)
    assert rows(d) == [
        ("web.1", "web", at("11:00:00"), at("11:01:00"), False, "release"),
        (None, "web", at("11:00:00"), at("11:01:00"), False, "release"),
    ]
    assert d["end_inferred"].to_list() == [True, True]
    assert d["end_line_no"].to_list() == [6, 6]
    assert d["failed_requests"].to_list() == [1, 1]


def test_crashed_dyno_scaled_away_closes_its_window(tmp_path) -> None:
    text = lines(
        h("10:00:00", "worker.1", "State changed from starting to up"),
        h("11:00:00", "worker.1", "State changed from up to crashed"),
        h("11:30:00", "api", "Scaled to worker@0:Basic by user a@b.c"),
        h("11:30:01", "worker.1", "State changed from crashed to down"),
        h("15:00:00", "api", "Set FOO config vars by user a@b.c"),
    )
    con, _ = ingest_lines(tmp_path, text)
    assert rows(downtime(con))[0] == (
        "worker.1", "worker", at("11:00:00"), at("11:30:01"), False, "stop",
    )  # fmt: skip


def test_type_window_ended_by_a_scaled_up_sibling(tmp_path) -> None:
    # worker.1 crashes and stays down; scaling to worker@2 starts worker.2, which comes up:
    # the worker type was down from the crash to then, worker.1 to the end
    text = lines(
        h("10:00:00", "worker.1", "State changed from starting to up"),
        h("11:00:00", "worker.1", "State changed from up to crashed"),
        h("11:00:02", "worker.1", "State changed from crashed to starting"),
        h("11:00:05", "worker.1", "State changed from starting to crashed"),
        h("12:00:00", "api", "Scaled to worker@2:Standard-1X by user a@b.c"),
        h("12:00:03", "worker.2", "Starting process with command `sidekiq`"),
        h("12:00:06", "worker.2", "State changed from starting to up"),
        h("15:00:00", "worker.2", "Process running mem=100M(20.0%)"),
    )
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con)
    assert rows(d) == [
        ("worker.1", "worker", at("11:00:00"), at("15:00:00"), True, None),
        (None, "worker", at("11:00:00"), at("12:00:06"), False, "scale"),
    ]
    assert d["restart_attempts"].to_list() == [1, 1]
    ptype = next(f for f in findings(con) if f.dyno is None)
    assert ptype.severity == "critical" and ptype.summary.endswith("a scaling brought it back.")


def test_downtime_is_collected(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, WORKER)
    kinds = [f.kind for f in collect_findings(con)]
    assert kinds.count("downtime") == 2 and "worker_down" not in kinds


# ----- real exports ----------------------------------------------------------------------------


def test_real_web_crash_after_deploy_fixed_by_a_release(b_real) -> None:
    # src-012: scaled to web@1 with v59 (22:17:43), web.1 starts 22:17:50, is up at 22:18:05
    # and 22:18:20 but crashes within 2 s each time; an H10 at 22:18:57; v61 (22:22:27) comes
    # up at 22:22:35 and holds.
    d = downtime(open_dataset(b_real("src-012")))
    assert rows(d) == [
        ("web.1", "web", utc("2024-05-20T22:17:50.990746Z"), utc("2024-05-20T22:22:35.257958Z"),
         False, "release"),
        (None, "web", utc("2024-05-20T22:17:50.990746Z"), utc("2024-05-20T22:22:35.257958Z"),
         False, "release"),
    ]  # fmt: skip
    r = d.row(0, named=True)
    assert (r["restart_attempts"], r["ended_by_release"], r["failed_requests"]) == (2, "v61", 1)
    assert (r["line_no"], r["end_line_no"]) == (16, 507)


def test_real_crash_loop_down_from_the_log_start(b_real) -> None:
    # src-019: web.1 is crashed when the log starts, retried every ~10 min, never up; H10s
    # the next day.
    con = open_dataset(b_real("src-019"))
    d = downtime(con)
    assert d["dyno"].to_list() == ["web.1", None]
    r = d.row(0, named=True)
    assert r["ongoing"] and r["started_before_log"] and r["ended_by"] is None
    assert r["start"] == utc("2013-09-28T03:30:35.383590Z")
    assert r["end"] == utc("2013-09-29T21:52:36.503825Z")
    assert r["restart_attempts"] == 18
    assert (r["failed_requests"], r["failed_share"]) == (6, 1.0)
    web = [f for f in findings(con) if f.dyno is None]
    assert web[0].severity == "critical" and web[0].evidence["ongoing"] is True


def test_real_r10_crash_not_back_by_the_end(b_real) -> None:
    # src-041: R10 boot timeout at 23:52:35, a new start at 01:15:54 that never reports `up`
    d = downtime(open_dataset(b_real("src-041")))
    r = d.row(0, named=True)
    assert (r["dyno"], r["start"], r["ongoing"]) == (
        "web.1",
        utc("2018-12-24T23:52:35.220316Z"),
        True,
    )


@pytest.mark.parametrize("stem", ["src-010", "src-016", "src-007"])
def test_real_idling_is_not_downtime(b_real, stem: str) -> None:
    assert downtime(open_dataset(b_real(stem))).is_empty()


def test_real_worker_r15_at_the_end_is_not_downtime(b_real) -> None:
    # src-049 ends on the R15 crash: the log ends seconds after it, and Heroku restarts a
    # crashed dyno at once the first time, so whether it came back is not in the log: the crash
    # is told (with its R15), no downtime is invented
    con = open_dataset(b_real("src-049"))
    assert findings(con) == []
    assert [f.kind for f in collect_findings(con) if f.dyno == "worker.1"].count("crash") == 1


@pytest.mark.parametrize("stem", ["src-004", "src-005"])
def test_real_excerpts_are_not_months_of_downtime(b_real, stem: str) -> None:
    # a handful of lines years apart (test fixtures pasted together): a crash or a start with
    # nothing after it for months is not months down
    d = downtime(open_dataset(b_real(stem)))
    assert d.filter(pl.col("minutes") > 10).is_empty(), d


def test_ongoing_window_ends_at_a_silence(tmp_path) -> None:
    # the worker crashes and keeps failing; then the export has nothing for 3 days (a drain
    # that stopped) and one line of the app again: down until the silence, not 3 days
    later = "2024-05-23T10:00:00.000000+00:00 app[api]: Set FOO config vars by user a@b.c"
    text = "\n".join(WORKER.splitlines()[:13]) + "\n" + later
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con).filter(pl.col("dyno") == "worker.1")
    assert d["end"].to_list() == [at("09:20:15")], d
    assert d["ongoing"].to_list() == [True]
    assert d["silent_until"].to_list() == [utc("2024-05-23T10:00:00Z")]
    (f, *_) = findings(con)
    assert "falls silent" in f.summary and f.evidence["silent_until"].startswith("2024-05-23")


def test_h10_after_a_silence_keeps_web_down(tmp_path) -> None:
    # the only web dyno crash-loops, the log is silent for 30 h, then the router still says
    # `H10 App crashed`: it stayed down across the silence
    text = lines(
        h("01:00:00", "web.1", "State changed from up to crashed"),
        h("01:00:01", "web.1", "State changed from crashed to starting"),
        h("01:00:09", "web.1", "State changed from starting to crashed"),
        req(at("11:30:00") + timedelta(days=1), "/", code="H10", status=503),
        req(at("11:30:05") + timedelta(days=1), "/", code="H10", status=503),
    )
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con).filter(pl.col("dyno") == "web.1")
    assert d["end"].to_list() == [at("11:30:05") + timedelta(days=1)]
    assert d["silent_until"].to_list() == [None]


def test_log_ends_seconds_after_a_crash_is_not_downtime(tmp_path) -> None:
    text = lines(
        h("09:00:00", "worker.1", "State changed from starting to up"),
        h("10:00:00", "worker.1", "Process exited with status 1"),
        h("10:00:00", "worker.1", "State changed from up to crashed"),
    )
    con, _ = ingest_lines(tmp_path, text)
    assert downtime(con).is_empty()


def test_downtime_says_why_it_crashed(tmp_path) -> None:
    """The worker printed a missing config var before each exit: both downtime findings (the
    dyno's and the type's) carry it as evidence.reason, in the summary and in the sources."""
    app = f"{DAY}T09:00:00.000000+00:00 app[worker.1]: "
    log = WORKER.replace(
        f"{DAY}T09:00:00.000000+00:00 heroku[worker.1]: Process exited with status 1",
        app
        + 'KeyError: key not found: "SIDEKIQ_REDIS_URL"\n'
        + app
        + "/app/config/initializers/sidekiq.rb:4:in `fetch'\n"
        + f"{DAY}T09:00:00.000000+00:00 heroku[worker.1]: Process exited with status 1",
    )
    con, _ = ingest_lines(tmp_path, log)
    found = findings(con)
    assert len(found) == 2
    for f in found:
        reason = f.evidence["reason"]
        assert "SIDEKIQ_REDIS_URL" in reason["text"] and "SIDEKIQ_REDIS_URL" in f.summary
        assert any(s.first_line <= 3 <= s.last_line for s in f.sources)  # the KeyError line


def a(ts: str, dyno: str, msg: str) -> str:
    """An app line at `ts` (HH:MM:SS on DAY)."""
    return f"{DAY}T{ts}.000000+00:00 app[{dyno}]: {msg}"


# A Python (celery) worker dies on a lost database connection in a task; every restart then
# fails on boot on a config var someone removed meanwhile; a config fix brings it back.
CELERY = lines(
    h("08:00:00", "api", "Release v3 created by user a@b.c"),
    h("08:00:05", "worker.1", "State changed from starting to up"),
    a("10:00:00", "worker.1", "[2024-05-20 10:00:00,001: ERROR/MainProcess] Task sync failed"),
    a("10:00:00", "worker.1", "Traceback (most recent call last):"),
    a("10:00:00", "worker.1", '  File "/app/tasks/sync.py", line 40, in run'),
    a("10:00:00", "worker.1", "    conn = engine.connect()"),
    a("10:00:00", "worker.1", "sqlalchemy.exc.OperationalError: server closed the connection"),
    h("10:00:01", "worker.1", "Process exited with status 1"),
    h("10:00:01", "worker.1", "State changed from up to crashed"),
    h("10:00:02", "worker.1", "State changed from crashed to starting"),
    h("10:00:05", "worker.1", "Starting process with command `celery -A app worker`"),
    a("10:00:07", "worker.1", "Traceback (most recent call last):"),
    a("10:00:07", "worker.1", '  File "/app/app/settings.py", line 12, in <module>'),
    a("10:00:07", "worker.1", "    BROKER = os.environ['REDIS_URL']"),
    a("10:00:07", "worker.1", "KeyError: 'REDIS_URL'"),
    h("10:00:08", "worker.1", "Process exited with status 1"),
    h("10:00:08", "worker.1", "State changed from starting to crashed"),
    h("10:20:08", "worker.1", "State changed from crashed to starting"),
    h("10:20:11", "worker.1", "Starting process with command `celery -A app worker`"),
    a("10:20:13", "worker.1", "Traceback (most recent call last):"),
    a("10:20:13", "worker.1", '  File "/app/app/settings.py", line 12, in <module>'),
    a("10:20:13", "worker.1", "    BROKER = os.environ['REDIS_URL']"),
    a("10:20:13", "worker.1", "KeyError: 'REDIS_URL'"),
    h("10:20:14", "worker.1", "Process exited with status 1"),
    h("10:20:14", "worker.1", "State changed from starting to crashed"),
    h("11:00:00", "api", "Set REDIS_URL config vars by user a@b.c"),
    h("11:00:00", "api", "Release v4 created by user a@b.c"),
    h("11:00:02", "worker.1", "State changed from crashed to starting"),
    h("11:00:06", "worker.1", "Starting process with command `celery -A app worker`"),
    h("11:00:10", "worker.1", "State changed from starting to up"),
    h("12:00:00", "worker.1", "Process running mem=200M(40.0%)"),
)


def test_downtime_names_what_took_it_down_and_what_kept_it_down(tmp_path) -> None:
    """The window's reason is the first crash's (the task's database error), not the boots'
    more frequent KeyError, which is said as what kept it down."""
    con, _ = ingest_lines(tmp_path, CELERY)
    dyno = next(f for f in findings(con) if f.dyno == "worker.1")
    r = dyno.evidence["reason"]
    assert r["text"].startswith("sqlalchemy.exc.OperationalError: server closed")
    assert (r["crashes"], r["of_crashes"]) == (1, 3)
    kept = r["kept_down_by"]
    assert kept["text"] == "KeyError: 'REDIS_URL'" and kept["crashes"] == 2
    assert [o["text"] for o in r["others"]] == ["KeyError: 'REDIS_URL'"]
    assert "it went down on sqlalchemy.exc.OperationalError" in dyno.summary
    assert "its restarts then failed on KeyError: 'REDIS_URL'" in dyno.summary
    lines_cited = {n for s in dyno.sources for n in range(s.first_line, s.last_line + 1)}
    assert {7, 23} <= lines_cited  # the exception line of each reason (the latest block)


# The export begins in the middle of an outage: every request is an H10 until someone restarts
# the two web dynos; their first platform lines are `crashed -> starting`.
MID_OUTAGE = lines(
    [req(at("02:10:00") + timedelta(seconds=20 * i), "/", code="H10") for i in range(150)],
    h("03:00:01", "web.1", "Restarting"),
    h("03:00:01", "web.1", "State changed from crashed to starting"),
    h("03:00:01", "web.2", "Restarting"),
    h("03:00:01", "web.2", "State changed from crashed to starting"),
    h("03:00:05", "web.1", "Starting process with command `gunicorn app.wsgi`"),
    h("03:00:05", "web.2", "Starting process with command `gunicorn app.wsgi`"),
    h("03:00:08", "web.1", "State changed from starting to up"),
    h("03:00:08", "web.2", "State changed from starting to up"),
    [
        req(at("03:00:10") + timedelta(seconds=10 * i), "/", dyno=f"web.{1 + i % 2}")
        for i in range(30)
    ],
)


def test_down_when_the_export_begins_counts_from_its_first_line(tmp_path) -> None:
    """Not from the first platform line (the restart, 50 min in): from the first H10."""
    con, _ = ingest_lines(tmp_path, MID_OUTAGE)
    d = downtime(con)
    assert rows(d) == [
        ("web.1", "web", at("02:10:00"), at("03:00:08"), False, "restart"),
        ("web.2", "web", at("02:10:00"), at("03:00:08"), False, "restart"),
        (None, "web", at("02:10:00"), at("03:00:08"), False, "restart"),
    ]
    assert d["started_before_log"].to_list() == [True, True, True]
    assert d["failed_requests"].to_list() == [150, 150, 150]


# A deploy restarts web.1 (SIGTERM, the old process exits 143); the new one fails at boot.
CRASH_AFTER_RESTART = lines(
    h("10:00:00", "web.1", "State changed from starting to up"),
    h("11:00:00", "api", "Release v50 created by user a@b.c"),
    h("11:00:02", "web.1", "Restarting"),
    h("11:00:02", "web.1", "State changed from up to starting"),
    h("11:00:03", "web.1", "Stopping all processes with SIGTERM"),
    h("11:00:04", "web.1", "Process exited with status 143"),
    h("11:00:06", "web.1", "Starting process with command `npm start`"),
    h("11:00:08", "web.1", "Process exited with status 1"),
    h("11:00:08", "web.1", "State changed from starting to crashed"),
)


def test_the_new_process_failing_after_a_restart_is_not_a_crash_while_stopping(tmp_path) -> None:
    from forensics.analyses.availability import crashes

    con, _ = ingest_lines(tmp_path, CRASH_AFTER_RESTART)
    k = crashes(con)
    assert k.select("ts", "exit_status", "during_shutdown").rows() == [(at("11:00:08"), 1, False)]


# ----- log loss: Logplex dropped lines (L10), the `up` among them ----------------------------

LOSS = "heroku[logplex]: Error L10 (output buffer overflow)"


def _alive(dyno: str, start: str, end: str, *, served: bool) -> list[str]:
    """Runtime metrics (and, for web, served requests) of a running dyno every 20 s."""
    out, t = [], at(start)
    while t < at(end):
        out.append(
            f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 heroku[{dyno}]: source={dyno} "
            "dyno=heroku.1.0d6c0e2e-8cd8-4a3c-a2c5-6a9b1e1c9e11 sample#load_avg_1m=0.05"
        )
        if served:
            out.append(req(t, "/", dyno=dyno))
        t += timedelta(seconds=20)
    return out


def _deploy_while_logplex_drops(dyno: str, *, report: bool) -> str:
    """A deploy restarts `dyno`; Logplex drops lines from 10:00:06 (after its new process
    started) to 10:06, the `up` with them, and says so at 10:06 (`report`)."""
    web = dyno.startswith("web")
    text = [
        h("09:00:00", dyno, "State changed from starting to up"),
        *_alive(dyno, "09:00:10", "10:00:00", served=web),
        h("10:00:00", "api", "Release v9 created by user a@b.c"),
        h("10:00:01", dyno, "Restarting"),
        h("10:00:01", dyno, "State changed from up to starting"),
        h("10:00:02", dyno, "Stopping all processes with SIGTERM"),
        h("10:00:03", dyno, "Process exited with status 143"),
        h("10:00:05", dyno, "Starting process with command `bin/start`"),
    ]
    if report:
        text.append(
            f"{DAY}T10:06:00+00:00 {LOSS}: 230 messages dropped since {DAY}T10:00:06+00:00."
        )
    return lines(text, _alive(dyno, "10:06:10", "11:00:00", served=web))


@pytest.mark.parametrize("export", ["cli", "drain"])
@pytest.mark.parametrize("dyno", ["web.1", "worker.1"])
def test_a_restart_whose_up_the_log_lost_is_not_downtime(tmp_path, dyno, export) -> None:
    """The dyno runs again after the loss (metrics, served requests) and its `up` was among
    the dropped lines: a deploy, not a window of an hour (or, for web, of six minutes). As
    `heroku logs` prints it and as a drain delivers it."""
    text = _deploy_while_logplex_drops(dyno, report=True)
    con, _ = ingest_lines(tmp_path, as_drain(text) if export == "drain" else text)
    assert downtime(con).is_empty()
    assert [f.kind for f in collect_findings(con) if f.kind in ("downtime", "hung_dyno")] == []
    # without Logplex's report nothing says lines were lost: a worker that never logged `up`
    # is down to the end (web: until it serves a request)
    con, _ = ingest_lines(tmp_path, _deploy_while_logplex_drops(dyno, report=False), name="n.log")
    end = at("10:06:10") if dyno == "web.1" else at("10:59:50")
    (r,) = [x for x in rows(downtime(con)) if x[0] == dyno]
    assert r[:5] == (dyno, dyno.split(".")[0], at("10:00:01"), end, dyno == "worker.1")


def test_down_until_the_log_lost_its_up(tmp_path) -> None:
    """The worker crashed at 09:00 and its reboot failed; the log shows nothing of it until
    Logplex drops lines from 09:30, and it runs again after: down from 09:00 to 09:30 as far as
    the log shows (its `up` is among the lost lines)."""
    text = lines(
        h("08:00:00", "worker.1", "State changed from starting to up"),
        h("09:00:00", "worker.1", "Process exited with status 1"),
        h("09:00:00", "worker.1", "State changed from up to crashed"),
        h("09:00:01", "worker.1", "State changed from crashed to starting"),
        h("09:00:04", "worker.1", "Starting process with command `bundle exec sidekiq`"),
        h("09:00:09", "worker.1", "Process exited with status 1"),
        h("09:00:09", "worker.1", "State changed from starting to crashed"),
        h("09:20:00", "api", "Set FOO config vars by user a@b.c"),
        f"{DAY}T09:40:00+00:00 {LOSS}: 612 messages dropped since {DAY}T09:30:00+00:00.",
        _alive("worker.1", "09:36:00", "10:30:00", served=False),
    )
    con, _ = ingest_lines(tmp_path, text)
    d = downtime(con)
    assert rows(d) == [
        ("worker.1", "worker", at("09:00:00"), at("09:30:00"), False, "platform"),
        (None, "worker", at("09:00:00"), at("09:30:00"), False, "platform"),
    ]
    assert d["end_inferred"].to_list() == [True, True]
    assert d["lost_until"].to_list() == [at("09:36:00")] * 2
    assert d["restart_attempts"].to_list() == [1, 1]
    f = next(x for x in findings(con) if x.dyno == "worker.1")
    assert f.evidence["minutes"] == 30.0 and f.evidence["lost_until"] == "2024-05-20T09:36:00+00:00"
    assert "its `up` with them: it was running again by 09:36 UTC" in f.summary
    # no sign of life after the loss: the log cannot say it came back, down to the end
    dead = (
        text.split(f"{DAY}T09:40:00+00:00")[0] + f"{DAY}T09:40:00+00:00 {LOSS}: 6 messages "
        f"dropped since {DAY}T09:30:00+00:00.\n" + h("10:30:00", "api", "Set BAR config vars")
    )
    con, _ = ingest_lines(tmp_path, dead, name="dead.log")
    assert rows(downtime(con))[0] == (
        "worker.1",
        "worker",
        at("09:00:00"),
        at("10:30:00"),
        True,
        None,
    )


@pytest.mark.parametrize("fraction", [1.0, 0.7])
def test_generated_deploy_while_logplex_drops_lines(tmp_path, fraction) -> None:
    """A generated deploy (2 web dynos, a worker) during a 4-minute log loss that begins just
    after the dynos were told to restart: their `up` lines are lost (all of them, or 70 % of
    every source's lines); no downtime, no hung dyno, and one log_loss finding with the
    dropped count and since of Logplex's reports."""
    from forensics.ingest import ingest
    from forensics.scenario import ScenarioConfig, generate

    cfg = ScenarioConfig(
        seed=21, hours=3.0, rps=0.5, leak_route=None, h12_route=None, transient_route=None,
        cycling=False, release_hours=(1.0,), log_loss_at_hours=1.0125, log_loss_minutes=4,
        log_loss_fraction=fraction,
    )  # fmt: skip
    truth = generate(cfg, tmp_path / "s.log")
    loss = truth["log_loss"]
    restarts = [r["time"] for r in truth["restarts"]]
    assert loss["dropped"] > 100 and all(r < loss["start"] for r in restarts)
    ups = [x for x in (tmp_path / "s.log").read_text().splitlines() if "starting to up" in x]
    seen = [x for x in ups if restarts[0] < x[:32] < loss["window_end"]]
    assert len(seen) < 3 if fraction < 1 else not seen  # some or all of the three `up`s lost
    ingest([str(tmp_path / "s.log")], tmp_path / "ds", app=cfg.app_name)
    found = collect_findings(open_dataset(tmp_path / "ds"))
    assert [f.kind for f in found if f.kind in ("downtime", "hung_dyno", "crash")] == []
    (f,) = [f for f in found if f.kind == "log_loss"]
    assert f.evidence["dropped"] == loss["reported"] == loss["dropped"]
    assert f.start == utc(loss["reports"][0]["since"]) and f.end == utc(loss["reports"][-1]["time"])
