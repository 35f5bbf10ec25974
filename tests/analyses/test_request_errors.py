"""Bursts of failed requests: hand-written logs of each shape, the thresholds, the app's
exceptions behind them, and the real exports that show failures."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from scenario_b import (  # tests/analyses is on sys.path (pytest rootdir-relative import)
    REAL_LOGS,
    ingest_lines,
    real_dataset_fixture,  # noqa: F401 (fixture `b_real`)
    utc,
)

from forensics.analyses.request_errors import request_errors
from forensics.findings import collect_findings
from forensics.findings.downtime import findings as downtime_findings
from forensics.findings.request_errors import findings
from forensics.store.views import open_dataset

T0 = utc("2024-05-20T10:00:00Z")
DESC = {
    "H10": "App crashed",
    "H13": "Connection closed without response",
    "H14": "No web processes running",
    "H27": "Client Request Interrupted",
}


def req(t: datetime, path: str, *, status: int = 200, code: str = "", rid: str = "") -> str:
    head = "at=info" if not code else f'at=error code={code} desc="{DESC.get(code, "x")}"'
    dyno = "" if code in ("H10", "H14") else "web.1"
    rid = rid or f"{path.strip('/').replace('/', '-')}-{t:%H%M%S}"
    return (
        f'{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 heroku[router]: {head} method=GET path="{path}" '
        f'host=x.herokuapp.com request_id={rid} fwd="1.2.3.4" dyno={dyno} connect=1ms '
        f"service=5ms status={status} bytes=10 protocol=https"
    )


def every(seconds: int, start_min: float, end_min: float):
    """Times from T0 + start_min to T0 + end_min (exclusive), every `seconds`."""
    t = T0 + timedelta(minutes=start_min)
    while t < T0 + timedelta(minutes=end_min):
        yield t
        t += timedelta(seconds=seconds)


def log(lines: list[str]) -> str:
    return "\n".join(sorted(lines, key=lambda x: x[:26]))


def test_an_hour_of_h10(tmp_path) -> None:
    lines = [req(t, "/") for t in every(60, 0, 5)]
    lines += [req(t, "/" if i % 2 else "/login", status=503, code="H10")
              for i, t in enumerate(every(20, 5, 55))]  # fmt: skip
    lines += [req(t, "/") for t in every(60, 55, 60)]
    con, _ = ingest_lines(tmp_path, log(lines))
    b = request_errors(con)
    assert b.height == 1
    r = b.row(0, named=True)
    assert r["route"] is None  # app-wide: across / and /login
    assert (r["start"], r["end"], r["count"]) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=55) - timedelta(seconds=20),
        150,
    )
    assert (r["share"], r["share_of_all"]) == (1.0, 1.0)
    assert r["codes"] == [{"code": "H10", "count": 150}]
    assert r["statuses"] == [{"status": 503, "count": 150}]
    (f,) = findings(con)
    assert (f.severity, f.route, f.evidence["count"], f.evidence["codes"]) == (
        "critical",
        None,
        150,
        {"H10": 150},
    )
    assert "150 requests to the whole app failed" in f.summary


def test_one_route_always_500(tmp_path) -> None:
    lines = [req(t, "/ok") for t in every(10, 0, 30)]
    lines += [req(t, "/reports/7", status=500) for t in every(30, 0, 30)]
    con, _ = ingest_lines(tmp_path, log(lines))
    (r,) = request_errors(con).rows(named=True)
    assert (r["route"], r["count"], r["share"]) == ("/reports/:id", 60, 1.0)
    assert r["share_of_all"] == pytest.approx(60 / (60 + 177), abs=0.01)
    assert r["codes"] == [{"code": "500", "count": 60}] and r["dynos"] == ["web.1"]


def test_a_route_failing_across_a_deploy_is_one_burst(tmp_path) -> None:
    lines = [req(t, "/") for t in every(4, 0, 20)]
    lines += [req(t, "/cart") for t in every(20, 0, 5)]
    lines += [req(t, "/cart", status=502) for t in every(4, 5, 12)]
    lines += [req(t, "/cart") for t in every(20, 12, 20)]
    lines.append("2024-05-20T10:08:00.000000+00:00 app[api]: Release v9 created by user a@b.c")
    con, _ = ingest_lines(tmp_path, log(lines))
    (r,) = request_errors(con).rows(named=True)
    assert (r["route"], r["count"]) == ("/cart", 105)
    assert (r["start"], r["end"]) == (T0 + timedelta(minutes=5), T0 + timedelta(seconds=716))
    assert r["share"] == 1.0 and r["share_of_all"] == pytest.approx(0.5, abs=0.01)


def test_a_quiet_gap_does_not_end_a_burst(tmp_path) -> None:
    lines = [req(T0, "/a"), *[req(T0 + timedelta(minutes=m), "/a", status=500) for m in (1, 2)]]
    lines += [req(T0 + timedelta(minutes=40), "/a", status=500), req(T0 + timedelta(hours=1), "/a")]
    con, _ = ingest_lines(tmp_path, log(lines))
    assert request_errors(con)["count"].to_list() == [3]


def test_runs_of_h13_and_h14(tmp_path) -> None:
    lines = [req(T0, "/")]
    lines += [req(T0 + timedelta(seconds=s), "/", status=503, code="H13") for s in (5, 9, 30, 31)]
    lines.append(req(T0 + timedelta(minutes=2), "/"))
    lines += [req(T0 + timedelta(minutes=m), "/x", status=503, code="H14") for m in (5, 6, 7)]
    con, _ = ingest_lines(tmp_path, log(lines))
    b = request_errors(con)
    assert b.select("route", "count").rows() == [(None, 4), (None, 3)]
    assert [c[0]["code"] for c in b["codes"].to_list()] == ["H13", "H14"]


def test_small_bursts_and_client_codes_are_not_reported(tmp_path) -> None:
    lines = [req(T0, "/"), req(T0 + timedelta(seconds=1), "/", status=500)]
    lines += [req(T0 + timedelta(seconds=2), "/", status=500), req(T0 + timedelta(seconds=3), "/")]
    lines += [req(T0 + timedelta(seconds=s), "/", status=499, code="H27") for s in (4, 5, 6, 7)]
    con, _ = ingest_lines(tmp_path, log(lines))
    assert request_errors(con).is_empty()
    assert request_errors(con, min_count=2)["count"].to_list() == [2]


def test_router_timeouts_are_left_to_the_timeouts_analysis(tmp_path) -> None:
    lines = [req(T0, "/s")]
    lines += [req(T0 + timedelta(seconds=s), "/s", status=503, code="H12") for s in (40, 80, 120)]
    lines.append(req(T0 + timedelta(seconds=130), "/s", status=500))
    con, _ = ingest_lines(tmp_path, log(lines))
    assert request_errors(con).is_empty()
    assert request_errors(con, exclude_codes=())["count"].to_list() == [4]


def test_the_apps_exception_by_dyno_and_time_and_by_request_id(tmp_path) -> None:
    lines = [req(T0, "/orders")]
    for i in range(4):
        t = T0 + timedelta(minutes=1 + i)
        lines += [
            f"{t - timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}.000000+00:00 app[web.1]: "
            "NoMethodError (undefined method `total' for nil:NilClass):",
            f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 app[web.1]: Completed 500 Internal Server Error",
            req(t, "/orders", status=500, rid=f"o{i}"),
        ]
    t = T0 + timedelta(minutes=6)
    lines += [
        f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 app[web.1]: request_id=o9 "
        "PG::ConnectionBad (could not connect to server: Connection refused):",
        req(t + timedelta(seconds=3), "/orders", status=500, rid="o9"),
    ]
    con, _ = ingest_lines(tmp_path, log(lines))
    (r,) = request_errors(con).rows(named=True)
    assert r["count"] == 5
    assert [(e["exception"], e["count"]) for e in r["exceptions"]] == [
        ("NoMethodError", 4),
        ("PG::ConnectionBad", 1),
    ]
    # one line that named each, as logged (tags and all: the finding's text drops them)
    assert r["exceptions"][0]["example"] == (
        "NoMethodError (undefined method `total' for nil:NilClass):"
    )
    assert r["exceptions"][1]["example"].endswith(
        "PG::ConnectionBad (could not connect to server: Connection refused):"
    )
    (f,) = findings(con)
    assert "NoMethodError (undefined method `total' for nil:NilClass) for 4 of them" in f.summary


# ----- real exports ----------------------------------------------------------------------------


def test_real_no_web_then_crashed(b_real) -> None:
    # src-012: H14 "No web processes running" (22:12-22:15): an app-wide burst; the H10 at
    # 22:18:57 falls in web.1's downtime (crashed at 22:18:21, up on v61) and is counted there
    con = open_dataset(b_real("src-012"))
    (r,) = request_errors(con).rows(named=True)
    assert (r["route"], r["count"], r["line_nos"]) == (None, 3, [4, 5, 10])
    assert r["codes"] == [{"code": "H14", "count": 3}]
    (down,) = [f for f in downtime_findings(con) if f.dyno == "web.1"]
    assert down.start <= utc("2024-05-20T22:18:57Z") <= down.end
    assert down.evidence["failed_requests"] == 1


def test_real_h10_and_h13(b_real) -> None:
    # src-019: web.1 crash-loops to the end of the log; its 6 H10s are the downtime's failed
    # requests, not also an app-wide burst
    con = open_dataset(b_real("src-019"))
    assert request_errors(con).is_empty()
    assert {f.evidence["failed_requests"] for f in downtime_findings(con)} == {6}
    # src-016: every request of the log (15, over a day of idling) is an H13
    (r,) = request_errors(open_dataset(b_real("src-016"))).rows(named=True)
    assert (r["route"], r["count"], r["share"]) == (None, 15, 1.0)
    (f,) = findings(open_dataset(b_real("src-016")))
    assert "15 requests to the whole app failed in a row over 22.0 h" in f.summary


def test_real_post_route_500_across_a_deploy(b_real) -> None:
    # src-014: POST /api/posts/ answers 500 four times between 15:21 and 15:52, a deploy at
    # 15:33 in between and the browser's CORS preflights (OPTIONS, answered) among them; a
    # POST answered 401 at 15:53 ends it; the static files around it are served
    (r,) = request_errors(open_dataset(b_real("src-014"))).rows(named=True)
    assert (r["route"], r["count"]) == ("/api/posts/", 4)
    assert r["start"] == utc("2025-02-07T15:21:16.300827Z")
    assert r["end"] == utc("2025-02-07T15:52:54.871197Z")


def test_preflights_and_head_probes_do_not_end_a_burst(tmp_path) -> None:
    lines = [req(T0 + timedelta(minutes=m), "/api/posts/", status=500) for m in (1, 3, 5, 7)]
    for m in (2, 4, 6):
        method = "OPTIONS" if m != 4 else "HEAD"
        lines.append(req(T0 + timedelta(minutes=m), "/api/posts/").replace("GET", method))
    con, _ = ingest_lines(tmp_path, log(lines))
    assert request_errors(con)["count"].to_list() == [4]


@pytest.mark.parametrize("stem", REAL_LOGS)
def test_every_real_export_gives_sentences_with_sources(b_real, stem: str) -> None:
    con = open_dataset(b_real(stem))
    for f in [*findings(con), *downtime_findings(con)]:
        assert f.summary.endswith(".") and f.sources, f
        assert 0 <= f.evidence.get("share", f.evidence.get("failed_share", 0)) <= 1
        if f.kind == "downtime":
            assert f.evidence["minutes"] >= 0 and f.start <= f.end


def test_two_app_wide_failures_count_when_the_app_served_nothing(tmp_path) -> None:
    # src-006's shape: an H10, then an H14 an hour later, and no request in the log served
    down = [
        req(T0, "/crash", status=503, code="H10"),
        req(T0 + timedelta(minutes=70), "/ping", status=503, code="H14"),
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    con, _ = ingest_lines(tmp_path / "a", log(down))
    assert request_errors(con)["count"].to_list() == [2]
    con, _ = ingest_lines(tmp_path / "b", log([*down, req(T0 + timedelta(hours=2), "/ping")]))
    assert request_errors(con).is_empty()  # it served later: two failures are not a burst


def test_real_every_request_failed(b_real) -> None:
    (r,) = request_errors(open_dataset(b_real("src-006"))).rows(named=True)
    assert (r["route"], r["count"], r["share_of_all"]) == (None, 2, 1.0)


def _intermittent(tmp_path, *, every_nth: int, start_min: float, end_min: float, noise: int = 0):
    """/checkout every 10 s for 90 min; between start_min and end_min every `every_nth` request
    fails (a bad deploy hitting some carts); outside it, one failure in `noise` if set."""
    lines = []
    for i, t in enumerate(every(10, 0, 90)):
        inside = T0 + timedelta(minutes=start_min) <= t < T0 + timedelta(minutes=end_min)
        bad = (inside and i % every_nth == 0) or (not inside and noise and i % noise == 0)
        lines.append(req(t, "/checkout", status=500 if bad else 200))
    lines += [req(t, "/") for t in every(15, 0, 90)]
    con, _ = ingest_lines(tmp_path, log(lines))
    return request_errors(con)


def test_a_route_failing_a_quarter_of_the_time_is_one_burst(tmp_path) -> None:
    """No three failures in a row ever (one in four), yet 30 min of it: one burst, all of them."""
    b = _intermittent(tmp_path, every_nth=4, start_min=30, end_min=60)
    assert b.height == 1
    r = b.row(0, named=True)
    assert (r["route"], r["count"], r["in_a_row"]) == ("/checkout", 45, False)
    assert 0.24 <= r["share"] <= 0.26
    assert T0 + timedelta(minutes=30) <= r["start"] < T0 + timedelta(minutes=31)
    assert T0 + timedelta(minutes=59) <= r["end"] < T0 + timedelta(minutes=60)
    (f,) = findings(open_dataset(tmp_path / "hand.log.ds"))
    assert f.summary.startswith("45 requests to /checkout failed intermittently over 29 min")
    assert f.evidence["in_a_row"] is False


def test_a_steady_trickle_of_errors_is_not_a_burst(tmp_path) -> None:
    """One request in 20 failing all along (5 %) is the route's usual, not an incident; nor is
    the same rate for a while."""
    assert _intermittent(tmp_path, every_nth=20, start_min=0, end_min=90).is_empty()


def test_an_elevated_run_must_stand_out_from_the_routes_usual(tmp_path) -> None:
    """1 in 8 failing for 30 min on a route that fails 1 in 12 the rest of the time: no run
    (1 in 3 would be one)."""
    b = _intermittent(tmp_path, every_nth=8, start_min=30, end_min=60, noise=12)
    assert not (b["in_a_row"] == False).any()  # noqa: E712
    (tmp_path / "x").mkdir()
    b = _intermittent(tmp_path / "x", every_nth=3, start_min=30, end_min=60, noise=12)
    assert (b["in_a_row"] == False).sum() == 1  # noqa: E712


def test_a_hung_dynos_failures_are_its_own(tmp_path) -> None:
    """web.2 answers nothing (H13) for 5 minutes while web.1 serves: the hung dyno counts them;
    no app-wide bursts of three between web.1's successes."""
    from forensics.analyses.hung_dynos import hung_dynos

    lines = []
    for i, t in enumerate(every(3, 0, 30)):  # web.2 gets three requests in four
        stuck = i % 4 and T0 + timedelta(minutes=10) <= t < T0 + timedelta(minutes=15)
        line = req(t, f"/p/{i % 7}", status=503 if stuck else 200, code="H13" if stuck else "")
        lines.append(line.replace("dyno=web.1", f"dyno=web.{1 + bool(i % 4)}"))
    con, _ = ingest_lines(tmp_path, log(lines))
    hung = hung_dynos(con)
    assert hung["dyno"].to_list() == ["web.2"]
    assert request_errors(con, hung=hung).is_empty()
    assert request_errors(con, hung=hung.clear()).height > 0  # without it: the H13 bursts


def test_maintenance_mode_is_one_app_wide_window_told_as_such(tmp_path) -> None:
    """H80 is the router's maintenance page for every route: one warning for the window, named
    maintenance mode, and no release regression from a release pushed while it was on."""
    paths = ["/", "/login", "/api/v2/orders", "/static/app.js"]
    lines = []
    for i, t in enumerate(every(7, 0, 90)):
        m = (t - T0).total_seconds() / 60
        code, status = ("H80", 503) if 30 <= m < 52 else ("", 200)
        lines.append(req(t, paths[i % len(paths)], status=status, code=code))
    lines.append(f"{T0 + timedelta(minutes=35):%Y-%m-%dT%H:%M:%S}.000000+00:00 app[api]: "
                 "Release v88 created by user ops@example.org")  # fmt: skip
    con, _ = ingest_lines(tmp_path, log(lines))
    fs = findings(con)
    assert len(fs) == 1
    f = fs[0]
    assert f.route is None and f.severity == "warning"
    assert f.evidence["router_page"] == "H80" and f.evidence["codes"] == {
        "H80": f.evidence["count"]
    }
    assert f.summary.startswith("The app was in maintenance mode")
    assert not [g for g in collect_findings(con) if g.kind == "release_regression"]


def test_a_platform_incident_failing_half_the_requests_is_one_burst(tmp_path) -> None:
    """H99 for about half of every request for 15 minutes (across routes, between successes):
    one app-wide burst 'over 15 min', not dozens of runs of three, and Heroku's own error."""
    import random

    rnd = random.Random(99)
    lines = []
    for i, t in enumerate(every(2, 0, 60)):
        path = ("/", "/cart", "/api/items")[i % 3]
        m = (t - T0).total_seconds() / 60
        if 20 <= m < 35 and rnd.random() < 0.5:
            lines.append(req(t, path, status=503, code="H99"))
        else:
            lines.append(req(t, path))
    con, _ = ingest_lines(tmp_path, log(lines))
    fs = findings(con)
    assert len(fs) == 1, [f.summary for f in fs]
    (f,) = fs
    assert f.route is None and f.evidence["in_a_row"] is False
    assert 14 <= f.evidence["minutes"] <= 15
    assert f.evidence["codes"] == {"H99": f.evidence["count"]} and f.evidence["count"] > 150
    from forensics.incidents import build_incidents

    (inc,) = build_incidents(con, fs)
    assert any(a.startswith("H99 is Heroku's own error") for a in inc.advice)
