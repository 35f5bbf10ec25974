"""Router timeouts: exact numbers on a hand-written log, ground truth on generated scenarios,
and every real export."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from scenario_b import (  # tests/analyses is on sys.path (pytest rootdir-relative import)
    FAULTY,
    REAL_LOGS,
    by_kind,
    ingest_lines,
    real_dataset_fixture,  # noqa: F401 (fixture `b_real`)
    scenario_fixture,  # noqa: F401 (fixture `b_scenario`)
    utc,
)

from forensics.analyses import timeouts
from forensics.errors import ForensicsError
from forensics.findings import MAX_SOURCES, Source, collect_findings
from forensics.findings.timeouts import findings
from forensics.store.views import open_dataset


def router(
    ts: str,
    path: str,
    dyno: str,
    service: int,
    *,
    rid: str,
    status: int = 200,
    code: str | None = None,
    method: str = "GET",
    connect: int = 1,
) -> str:
    head = "at=info" if code is None else f'at=error code={code} desc="Request timeout"'
    return (
        f'2024-05-20T{ts}.000000+00:00 heroku[router]: {head} method={method} path="{path}" '
        f'host=x.herokuapp.com request_id={rid} fwd="1.2.3.4" dyno={dyno} connect={connect}ms '
        f"service={service}ms status={status} bytes=10 protocol=https"
    )


LINES = [
    "2024-05-20T09:30:00.000000+00:00 app[api]: Release v42 created by user a@b.c",
    router("09:00:00", "/search?q=a", "web.1", 100, rid="s0"),
    *[
        router(f"10:01:0{i}", f"/users/{i + 1}", "web.1", 100 * (i + 1), rid=f"u{i}")
        for i in range(5)
    ],
    "2024-05-20T10:10:01.000000+00:00 app[web.1]: at=info request_id=h1 msg=search_started",
    router("10:10:30", "/search?q=b", "web.1", 30000, rid="h1", status=503, code="H12"),
    router("10:10:30", "/products/9", "web.1", 500, rid="p1"),
    router("10:10:20", "/search?q=c", "web.2", 30000, rid="o1"),
    router("10:10:40", "/reports/7/export", "web.1", 25000, rid="e1"),
    "2024-05-20T10:10:45.000000+00:00 app[web.1]: at=info request_id=h1 msg=search_done",
    router("10:11:00", "/search?q=d", "web.1", 200, rid="s1"),
    router("10:12:00", "/search?q=e", "web.1", 30001, rid="h2", status=503, code="H12"),
    router("10:13:00", "/search?q=f", "web.2", 150, rid="s2"),
    router("10:14:00", "/search?q=g", "web.2", 30000, rid="h3", status=503, code="H12"),
    router("10:14:10", "/reports/8/export", "web.2", 45000, rid="e2"),
    router("10:30:00", "/reports/9/export", "web.1", 1800, rid="e3"),
    router("10:31:00", "/cable", "web.1", 1806661, rid="ws", status=101),
    router("11:30:00", "/search?q=h", "web.1", 30000, rid="h4", status=503, code="H12"),
]


def line_of(rid: str) -> int:
    """1-based line number of the router line with this request id."""
    return next(i + 1 for i, x in enumerate(LINES) if "router" in x and f"request_id={rid} " in x)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory):
    con, log = ingest_lines(tmp_path_factory.mktemp("timeouts"), "\n".join(LINES))
    return con, str(log)


def test_error_counts_by_route_bucket_dyno(hand) -> None:
    con, _ = hand
    df = timeouts.error_counts(con, bucket_seconds=300)
    assert df.select("route", "dyno", "bucket_start", "count", "route_requests").rows() == [
        ("/search", "web.1", utc("2024-05-20T10:10:00Z"), 2, 3),
        ("/search", "web.2", utc("2024-05-20T10:10:00Z"), 1, 3),
        ("/search", "web.1", utc("2024-05-20T11:30:00Z"), 1, 1),
    ]
    assert df["share"].to_list() == pytest.approx([2 / 3, 1 / 3, 1.0])
    assert df["bucket_end"][0] == utc("2024-05-20T10:15:00Z")
    assert set(df["code"]) == {"H12"}
    hourly = timeouts.error_counts(con, bucket_seconds=3600)
    assert hourly.select("dyno", "bucket_start", "count", "route_requests").rows() == [
        ("web.1", utc("2024-05-20T10:00:00Z"), 2, 3),
        ("web.2", utc("2024-05-20T10:00:00Z"), 1, 3),
        ("web.1", utc("2024-05-20T11:00:00Z"), 1, 1),
    ]
    assert timeouts.error_counts(con, codes=("H27",)).is_empty()
    with pytest.raises(ForensicsError):
        timeouts.error_counts(con, codes=("DROP TABLE",))


def test_service_percentiles(hand) -> None:
    con, _ = hand
    df = timeouts.service_percentiles(con)
    users = df.filter(pl.col("route") == "/users/:id").row(0, named=True)
    assert users["requests"] == 5
    assert (users["p50_ms"], users["p95_ms"], users["p99_ms"], users["max_ms"]) == (
        300.0,
        pytest.approx(480.0),
        pytest.approx(496.0),
        500,
    )
    search = df.filter(pl.col("route") == "/search").row(0, named=True)
    assert (search["requests"], search["timeouts"], search["over_20s"]) == (8, 4, 5)
    assert "/cable" not in df["route"].to_list()  # WebSocket (101) left out


def test_near_limit_and_offload(hand) -> None:
    con, log = hand
    near = timeouts.near_limit_requests(con)
    assert near.select("request_id", "route", "service_ms", "start").rows() == [
        ("o1", "/search", 30000, utc("2024-05-20T10:09:50Z")),
        ("e1", "/reports/:id/export", 25000, utc("2024-05-20T10:10:15Z")),
        ("e2", "/reports/:id/export", 45000, utc("2024-05-20T10:13:25Z")),
    ]
    off = timeouts.offload_candidates(con)
    rep = off.filter(pl.col("route") == "/reports/:id/export").row(0, named=True)
    assert (rep["near_limit"], rep["requests"], rep["timeouts"], rep["max_ms"]) == (2, 3, 0, 45000)
    assert rep["share"] == pytest.approx(2 / 3)
    assert rep["p50_ms"] == 35000.0
    assert (rep["first"], rep["last"]) == (utc("2024-05-20T10:10:40Z"), utc("2024-05-20T10:14:10Z"))
    assert timeouts.offload_candidates(con, threshold_ms=40_000)["route"].to_list() == [
        "/reports/:id/export"
    ]
    found = by_kind(findings(con), "offload_candidate")
    rep_f = next(f for f in found if f.route == "/reports/:id/export")
    assert rep_f.severity == "warning"
    assert rep_f.release == "v42"
    assert rep_f.evidence["near_limit"] == 2
    assert rep_f.evidence["request_ids"] == ["e1", "e2"]
    assert rep_f.sources == [
        Source(log, line_of("e1"), line_of("e1")),
        Source(log, line_of("e2"), line_of("e2")),
    ]
    search_f = next(f for f in found if f.route == "/search")
    assert search_f.severity == "warning" and search_f.evidence["route_timeouts"] == 4


def test_timeout_details_in_flight_and_app_lines(hand) -> None:
    con, log = hand
    d = timeouts.timeout_details(con)
    assert d["request_id"].to_list() == ["h1", "h2", "h3", "h4"]
    # h1 on web.1 [10:10:00, 10:10:30]: itself, /products/9 ending at 10:10:30 and the export
    # running 10:10:15-10:10:40; o1 is on web.2. h3 on web.2 overlaps the 45 s export e2.
    assert d["in_flight"].to_list() == [3, 1, 2, 1]
    h1 = d.row(0, named=True)
    assert h1["start"] == utc("2024-05-20T10:10:00Z")
    assert h1["app_line_count"] == 2
    assert h1["app_lines"] == [
        "at=info request_id=h1 msg=search_started",
        "at=info request_id=h1 msg=search_done",
    ]
    assert h1["app_line_nos"] == [
        LINES.index(next(x for x in LINES if "search_started" in x)) + 1,
        LINES.index(next(x for x in LINES if "search_done" in x)) + 1,
    ]
    assert (h1["source_file"], h1["line_no"]) == (log, line_of("h1"))
    assert d["app_line_count"].to_list()[1:] == [0, 0, 0]


def test_hotspot_finding(hand) -> None:
    con, log = hand
    hot = timeouts.hotspots(con)
    assert hot.height == 1  # the lone 11:30 H12 is no cluster
    found = by_kind(findings(con), "timeout_hotspot")
    assert len(found) == 1
    f = found[0]
    assert (f.route, f.start, f.end) == (
        "/search",
        utc("2024-05-20T10:10:30Z"),
        utc("2024-05-20T10:14:00Z"),
    )
    assert (f.severity, f.dyno, f.process_type, f.release) == ("warning", None, "web", "v42")
    ev = f.evidence
    assert ev["count"] == 3 and ev["by_dyno"] == {"web.1": 2, "web.2": 1}
    assert (ev["window_requests"], ev["share_of_route_requests_in_window"]) == (5, 0.6)
    assert (ev["route_requests_total"], ev["route_errors_total"]) == (8, 4)
    assert f.sources == [Source(log, line_of(r), line_of(r)) for r in ("h1", "h2", "h3")]
    assert "3 H12 on /search" in f.summary and "60%" in f.summary
    # A wider gap joins the 11:30 H12 to the cluster.
    wide = timeouts.hotspots(con, gap_seconds=7200)
    assert wide["count"].to_list() == [4]


# ----- generated scenarios ---------------------------------------------------------------------


@pytest.mark.parametrize("name", FAULTY)
def test_scenario_hotspot_matches_truth(b_scenario, name: str) -> None:
    s = b_scenario(name)
    h12 = s.truth["h12"]
    found = by_kind(findings(s.connect()), "timeout_hotspot")
    assert len(found) == 1, [f.summary for f in found]
    f = found[0]
    start, end = utc(h12["window_start"]), utc(h12["window_end"])
    assert f.route == h12["route"]
    assert start <= f.start < f.end <= end
    assert f.end - f.start >= (end - start) / 2
    assert f.evidence["count"] == h12["count"]
    assert f.evidence["by_dyno"] == h12["by_dyno"]
    assert f.app == s.truth["app"]["name"]
    assert f.evidence["share_of_route_requests_in_window"] >= 0.3
    # the H12 lines cited are exactly the timeouts
    cited = sum(x.last_line - x.first_line + 1 for x in f.sources)
    assert cited == min(h12["count"], MAX_SOURCES)


def test_scenario_details_count_all_timeouts(b_scenario) -> None:
    s = b_scenario("tune-a")
    d = timeouts.timeout_details(s.connect())
    assert d.height == s.truth["h12"]["count"]
    assert (d["in_flight"] >= 1).all()
    assert d["app_line_count"].sum() > 0  # half the requests have Rails lines
    assert (d["ts"] - d["start"] >= timedelta(seconds=30)).all()


def test_healthy_scenario_has_no_timeout_findings(b_scenario) -> None:
    s = b_scenario("healthy")
    assert s.truth["h12"] is None
    assert findings(s.connect()) == []
    assert timeouts.timeout_details(s.connect()).is_empty()


# ----- real exports ----------------------------------------------------------------------------


@pytest.mark.parametrize("stem", REAL_LOGS)
def test_every_timeout_analysis_runs_on_real_exports(b_real, stem: str) -> None:
    con = open_dataset(b_real(stem))
    codes = ("H12", "H13", "H18", "H27")
    timeouts.error_counts(con, codes=codes)
    timeouts.service_percentiles(con)
    timeouts.timeout_details(con, codes=codes)
    # findings() runs hotspots, offload_candidates and near_limit_requests
    for f in findings(con, codes=codes):
        assert f.kind in ("timeout_hotspot", "offload_candidate")
        assert f.sources and f.summary


def test_real_h12_hotspots(b_real) -> None:
    f = by_kind(findings(open_dataset(b_real("src-046"))), "timeout_hotspot")
    assert [(x.route, x.evidence["count"], x.dyno) for x in f] == [("/poll", 3, "web.1")]
    legacy = open_dataset(b_real("src-024"))  # pre-2013 'Error H12 (...) ->' lines
    f = by_kind(findings(legacy), "timeout_hotspot")
    assert [(x.route, x.evidence["count"]) for x in f] == [("/autoprovision/:id", 3)]
    # 02:10:47 (x2) and 02:10:48, 30 s each: at 02:10:47 all three are in flight; at 02:10:48
    # the first two have ended.
    assert timeouts.timeout_details(legacy)["in_flight"].to_list() == [3, 3, 1]


def test_real_errors_without_dyno(b_real) -> None:
    con = open_dataset(b_real("src-012"))  # H14: no web processes, no dyno
    df = timeouts.error_counts(con, codes=("H14",), bucket_seconds=3600)
    assert df.select("route", "dyno", "count", "route_requests").rows() == [("/orders", None, 3, 4)]
    h18 = timeouts.timeout_details(open_dataset(b_real("src-010")), codes=("H18",))
    assert h18.select("dyno", "route", "service_ms").rows() == [("web.1", "/me/", 1109)]


def test_bucket_seconds_must_be_positive(hand) -> None:
    for call in (
        lambda: timeouts.error_counts(hand[0], bucket_seconds=0),
        lambda: timeouts.error_heatmap(hand[0], bucket_seconds=0.5),
    ):
        with pytest.raises(ForensicsError, match="bucket_seconds must be positive"):
            call()


def _stall_log(lines, *, culprit_only: bool) -> list[str]:
    """One web dyno, five routes, a request every 4 s for an hour. From 20 to 30 min either
    every request times out (the dyno stalls: `culprit_only=False`), or /search times out and
    every third request to the other routes too (a slow route backing the dyno up)."""
    r = lines.router
    paths = ["/search", "/users/1", "/orders/2", "/", "/api/v1/items/3"]
    out = []
    for k in range(900):
        t = 4.0 * k
        path = paths[k % len(paths)]
        inside = 1200 <= t < 1800
        timed_out = inside and (not culprit_only or path == "/search" or k % 3 == 0)
        if timed_out:
            out.append(r(t + 30, "web.1", path, service=30000, status=503, code="H12"))
        else:
            out.append(r(t, "web.1", path, service=40))
    return out


def test_a_stalled_only_dyno_is_one_hung_dyno_not_five_hotspots(dataset_from_lines, lines):
    """Every request the only web dyno got for 10 minutes timed out, on every route: one
    hung_dyno for web.1 (a stuck dyno times out on every route it is sent), not five route
    hotspots beside it (the hotspots a hung dyno explains are not raised)."""
    con = open_dataset(dataset_from_lines(_stall_log(lines, culprit_only=False), "stall"))
    assert [f for f in findings(con) if f.kind == "timeout_hotspot"] == []
    every = collect_findings(con)
    hung = [f for f in every if f.kind == "hung_dyno"]
    assert [f.dyno for f in hung] == ["web.1"], [f.summary for f in every]
    assert not [f for f in every if f.kind == "timeout_hotspot"]


def test_a_slow_route_backing_the_dyno_up_stays_route_hotspots(dataset_from_lines, lines):
    """/search times out on every request while a third of the others time out behind it:
    the dyno still answers most requests, so each route keeps its own hotspot."""
    con = open_dataset(dataset_from_lines(_stall_log(lines, culprit_only=True), "backup"))
    hot = [f for f in findings(con) if f.kind == "timeout_hotspot"]
    assert {f.route for f in hot} >= {"/search"} and all(f.route for f in hot)
    top = max(hot, key=lambda f: f.evidence["share_of_route_requests_in_window"])
    assert top.route == "/search"


def _app(ts: str, dyno: str, msg: str) -> str:
    return f"2024-05-20T{ts}.000000+00:00 app[{dyno}]: {msg}"


def test_the_app_servers_own_worker_timeouts_join_the_hotspot(tmp_path) -> None:
    """gunicorn, unicorn, puma and rack-timeout each say it their way; a client library's
    read timeout, or a timeout on another dyno, is not the app server killing a worker."""
    from forensics.analyses.worker_timeouts import worker_timeouts

    lines = [
        router("10:00:00", "/slow", "web.1", 100, rid="a0"),
        *[
            router(f"10:0{i}:30", "/slow", "web.1", 30000, rid=f"h{i}", status=503, code="H12")
            for i in range(1, 6)
        ],
        _app(
            "10:01:31",
            "web.1",
            "[2024-05-20 10:01:31 +0000] [4] [CRITICAL] WORKER TIMEOUT (pid:17)",
        ),
        _app("10:02:45", "web.1", "worker=2 PID:19 timeout (31s > 30s), killing"),
        _app(
            "10:03:40",
            "web.1",
            "! Terminating timed out worker (worker failed to check in within 60 seconds): 23",
        ),
        _app(
            "10:04:31",
            "web.1",
            "Rack::Timeout::RequestTimeoutException (Request ran for longer than 15000ms)",
        ),
        _app("10:04:40", "web.1", "Net::ReadTimeout: Net::ReadTimeout with #<TCPSocket:(closed)>"),
        _app(
            "10:03:00", "web.2", "[2024-05-20 10:03:00 +0000] [4] [CRITICAL] WORKER TIMEOUT (pid:9)"
        ),
        router("10:06:00", "/slow", "web.2", 80, rid="b0"),
    ]
    con, _ = ingest_lines(tmp_path, "\n".join(lines))
    k = worker_timeouts(con)
    assert k.select("dyno", "server").rows() == [
        ("web.1", "gunicorn"),
        ("web.1", "unicorn"),
        ("web.2", "gunicorn"),
        ("web.1", "puma"),
        ("web.1", "rack-timeout"),
    ]
    (hot,) = [f for f in findings(con) if f.kind == "timeout_hotspot"]
    assert hot.evidence["worker_timeouts"] == {
        "gunicorn": 1, "unicorn": 1, "puma": 1, "rack-timeout": 1
    }  # fmt: skip
    assert hot.summary.endswith(
        "; the app server killed workers for timing out meanwhile (gunicorn 1, puma 1, "
        "rack-timeout 1, unicorn 1)."
    )


def _near_limit_log(tmp_path, *, burst: bool):
    """/export takes 20-28 s now and then: all day long (steady work for a background job), or
    only inside a 30-minute H12 burst on that route (that slowdown's symptom)."""
    import random
    from datetime import UTC, datetime, timedelta

    from forensics.ingest import ingest

    rnd = random.Random(8)
    t0 = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)
    out, t, i = [], t0, 0
    while t < t0 + timedelta(hours=6):
        in_burst = timedelta(hours=3) <= t - t0 < timedelta(hours=3, minutes=30)
        path = "/export" if i % 3 == 0 else "/"
        slow = path == "/export" and (in_burst if burst else rnd.random() < 0.05)
        h12 = slow and burst and rnd.random() < 0.4
        service = 30000 if h12 else rnd.randint(20000, 28000) if slow else rnd.randint(20, 300)
        head = 'at=error code=H12 desc="Request timeout"' if h12 else "at=info"
        out.append(
            f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 heroku[router]: {head} method=GET "
            f'path="{path}" host=x.herokuapp.com request_id=q{i} fwd="1.2.3.4" dyno=web.1 '
            f"connect=0ms service={service}ms status={503 if h12 else 200} bytes=10 "
            "protocol=https"
        )
        t, i = t + timedelta(seconds=rnd.uniform(2, 6)), i + 1
    log = tmp_path / "x.log"
    log.write_text("\n".join(out) + "\n")
    ingest([str(log)], tmp_path / "ds")
    return open_dataset(tmp_path / "ds")


@pytest.mark.parametrize("burst", [False, True])
def test_near_limit_requests_inside_an_h12_burst_are_not_called_background_work(
    tmp_path, burst
) -> None:
    con = _near_limit_log(tmp_path, burst=burst)
    (f,) = [f for f in findings(con) if f.kind == "offload_candidate"]
    assert f.evidence["in_h12_burst"] is burst
    assert ("a candidate for a background job" in f.summary) is (not burst)
    assert ("during the route's H12 burst" in f.summary) is burst
