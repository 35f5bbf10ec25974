"""Hung dynos: hand-written logs of a stuck web dyno and a silent worker (with each way they
end), the look-alikes that are not hung (a slow route everywhere, a quiet worker, a crash,
idling, one-off dynos), the real exports and the bundled sample."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from scenario_b import (  # tests/analyses is on sys.path (pytest rootdir-relative import)
    REAL_LOGS,
    as_drain,
    by_kind,
    ingest_lines,
    real_dataset_fixture,  # noqa: F401 (fixture `b_real`)
    utc,
)

from forensics.analyses.hung_dynos import hung_dynos
from forensics.findings import collect_findings
from forensics.findings.hung_dynos import findings
from forensics.ingest import ingest
from forensics.store.views import open_dataset

DAY = "2024-05-20"
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "heroku-sample.log.gz"


def at(ts: str) -> datetime:
    return utc(f"{DAY}T{ts}Z")


def h(t: datetime, dyno: str, msg: str) -> str:
    """A platform line (`app[api]` for dyno "api")."""
    src = "app[api]" if dyno == "api" else f"heroku[{dyno}]"
    return f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 {src}: {msg}"


def app(t: datetime, dyno: str, msg: str) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 app[{dyno}]: {msg}"


def metrics(t: datetime, dyno: str) -> str:
    return h(
        t,
        dyno,
        f"source={dyno} dyno=heroku.1.b6e1c119-fba6-4c25-8129-ccf81cefd942 "
        "sample#load_avg_1m=0.10 sample#load_avg_5m=0.10 sample#load_avg_15m=0.10",
    )


def req(t: datetime, path: str, dyno: str, *, code: str = "") -> str:
    if code:
        head, status, service = f'at=error code={code} desc="Request timeout"', 503, 30000
    else:
        head, status, service = "at=info", 200, 40
    return (
        f'{t:%Y-%m-%dT%H:%M:%S}.000000+00:00 heroku[router]: {head} method=GET path="{path}" '
        f'host=x.herokuapp.com request_id=r{t:%H%M%S}{dyno}{path.strip("/")} fwd="1.2.3.4" '
        f"dyno={dyno} connect=1ms service={service}ms status={status} bytes=10 protocol=https"
    )


def every(start: str, end: str, seconds: float):
    t, stop = at(start), at(end)
    while t < stop:
        yield t
        t += timedelta(seconds=seconds)


def join(lines: list[str]) -> str:
    """Lines in time order (sorted on their timestamp prefix; stable for equal times)."""
    return "\n".join(sorted(lines, key=lambda x: x[:26]))


def rows(df):
    return df.select("dyno", "kind", "start", "end", "ongoing", "ended_by").rows()


# ----- stuck web dyno -------------------------------------------------------------------------


def _stuck(
    ending: list[str],
    *,
    stuck_until: str = "14:20:00",
    log_end: str = "14:40:00",
    resume: bool = True,
):
    """web.1 and web.2 serve / and /items every 10 s from 14:00; from 14:02 every request to
    web.2 times out (H12) until `stuck_until`; then `ending` lines, and web.2 serves again
    from 14:21 (unless the log ends first)."""
    out = [h(at("13:59:00"), "api", "Release v7 created by user a@b.c")]
    for t in every("14:00:00", log_end, 10):
        for path in ("/", "/items"):
            out.append(req(t, path, "web.1"))
            stuck = at("14:02:00") <= t < at(stuck_until)
            if stuck:
                out.append(req(t, path, "web.2", code="H12"))
            elif t < at("14:02:00") or (resume and t >= at("14:21:00")):
                out.append(req(t, path, "web.2"))
    return join(out + ending)


def test_stuck_web_dyno_ended_by_a_restart(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, _stuck([h(at("14:20:05"), "web.2", "Restarting")]))
    d = hung_dynos(con)
    assert rows(d) == [
        ("web.2", "stuck_requests", at("14:02:00"), at("14:20:05"), False, "restart")
    ]
    r = d.row(0, named=True)
    assert (r["requests"], r["timeouts"], r["timeout_share"], r["codes"]) == (
        216,
        216,
        1.0,
        ["H12"],
    )
    assert (r["other_dynos"], r["other_requests"], r["other_timeouts"]) == (["web.1"], 216, 0)
    assert r["routes"] == ["/", "/items"] and r["release"] == "v7"
    (f,) = findings(con)
    assert (f.kind, f.severity, f.dyno, f.process_type) == ("hung_dyno", "critical", "web.2", "web")
    assert f.summary == (
        "web.2 stopped answering for 18 min (14:02-14:20 UTC): 216 of its 216 requests timed "
        "out (H12) while web.1 served 216 normally; a restart at 14:20 brought it back."
    )
    ev = f.evidence
    assert (ev["ended_by"], ev["ongoing"], ev["minutes"], ev["timeouts"]) == (
        "restart",
        False,
        18.1,
        216,
    )
    # sources: the first H12 and the Restarting line
    assert [s.first_line for s in f.sources] == [r["first_line"], r["last_line"]]
    text = Path(tmp_path / "hand.log").read_text().splitlines()
    assert "code=H12" in text[f.sources[0].first_line - 1]
    assert text[f.sources[1].first_line - 1].endswith("heroku[web.2]: Restarting")


@pytest.mark.parametrize(
    ("ending", "ended_by"),
    [
        ([h(at("14:20:05"), "web.2", "Cycling")], "cycling"),
        (
            [
                h(at("14:20:00"), "api", "Release v8 created by user a@b.c"),
                h(at("14:20:03"), "web.2", "Stopping all processes with SIGTERM"),
            ],
            "release",
        ),
        ([h(at("14:20:05"), "web.2", "Stopping all processes with SIGTERM")], "restart"),
        ([h(at("14:20:05"), "api", "Release v8 created by user a@b.c")], "release"),
        ([h(at("14:20:05"), "web.2", "Starting process with command `puma`")], "restart"),
        ([], "resumed"),
    ],
)
def test_stuck_web_dyno_ended_by(tmp_path, ending: list[str], ended_by: str) -> None:
    con, _ = ingest_lines(tmp_path, _stuck(ending))
    (r,) = hung_dynos(con).iter_rows(named=True)
    assert (r["dyno"], r["ended_by"], r["ongoing"]) == ("web.2", ended_by, False)
    end = at("14:21:00") if ended_by == "resumed" else at(ending[-1][11:19])
    assert r["end"] == end
    (f,) = findings(con)
    assert f.evidence["ended_by"] == ended_by
    if ended_by == "resumed":
        assert f.summary.endswith("it resumed by itself at 14:21.")


def test_stuck_web_dyno_to_the_end_is_ongoing(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, _stuck([], stuck_until="14:40:00"))
    (r,) = hung_dynos(con).iter_rows(named=True)
    assert (r["start"], r["end"], r["ongoing"], r["ended_by"]) == (
        at("14:02:00"),
        at("14:39:50"),
        True,
        None,
    )
    (f,) = findings(con)
    assert f.summary.endswith("it was still hung when the log ends.")


def test_timeouts_ending_in_a_crash_are_downtime_not_a_hung_dyno(tmp_path) -> None:
    crash = [
        h(at("14:20:05"), "web.2", "Process exited with status 1"),
        h(at("14:20:05"), "web.2", "State changed from up to crashed"),
    ]
    con, _ = ingest_lines(tmp_path, _stuck(crash))
    assert hung_dynos(con).is_empty()


def test_stuck_web_dyno_whose_traffic_stops_ends_at_its_last_timeout(tmp_path) -> None:
    """web.2 gets no more requests after its H12s and is restarted only an hour later: what
    ended the hang is not known (ended_by null, end = its last H12), and it is not ongoing."""
    late = [h(at("15:20:00"), "web.2", "Restarting")]
    con, _ = ingest_lines(tmp_path, _stuck(late, resume=False))
    assert rows(hung_dynos(con)) == [
        ("web.2", "stuck_requests", at("14:02:00"), at("14:19:50"), False, None)
    ]
    (f,) = findings(con)
    assert f.summary.endswith("it got no more requests after that.")


def test_slow_route_everywhere_is_a_hotspot_not_a_hung_dyno(tmp_path) -> None:
    """/search times out on both dynos for 15 min while / is served: a route problem."""
    out = []
    for t in every("14:00:00", "14:30:00", 10):
        for dyno in ("web.1", "web.2"):
            out.append(req(t, "/", dyno))
            slow = at("14:05:00") <= t < at("14:20:00")
            out.append(req(t, "/search", dyno, code="H12" if slow else ""))
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()
    kinds = [f.kind for f in collect_findings(con)]
    assert "timeout_hotspot" in kinds and "hung_dyno" not in kinds


def test_slow_route_on_one_dyno_of_many_routes_is_not_hung(tmp_path) -> None:
    """web.2's /search times out but it serves / normally meanwhile: it still answers."""
    out = []
    for t in every("14:00:00", "14:30:00", 10):
        out.append(req(t, "/", "web.1"))
        out.append(req(t, "/", "web.2"))
        slow = at("14:05:00") <= t < at("14:20:00")
        out.append(req(t, "/search", "web.2", code="H12" if slow else ""))
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()


def _lone(code: str, *, slow_paths: tuple[str, ...]) -> str:
    """web.1, the app's only web dyno, serves /, /items and /search every 10 s from 14:00; from
    14:02 to 14:20 its requests to `slow_paths` end in `code`; a restart at 14:20:05, served
    again from 14:21."""
    out = [h(at("13:59:00"), "api", "Release v7 created by user a@b.c")]
    for t in every("14:00:00", "14:40:00", 10):
        for path in ("/", "/items", "/search"):
            bad = path in slow_paths and at("14:02:00") <= t < at("14:20:00")
            if bad or not (path in slow_paths and at("14:20:00") <= t < at("14:21:00")):
                out.append(req(t, path, "web.1", code=code if bad else ""))
    return join([*out, h(at("14:20:05"), "web.1", "Restarting")])


def test_a_lone_web_dyno_timing_out_on_every_route_is_hung(tmp_path) -> None:
    """The only web dyno: H12s on every route it is sent, until a restart. No sibling to
    compare with, but one slow route would not stop the others: the dyno stopped answering."""
    con, _ = ingest_lines(tmp_path, _lone("H12", slow_paths=("/", "/items", "/search")))
    assert rows(hung_dynos(con)) == [
        ("web.1", "stuck_requests", at("14:02:00"), at("14:20:05"), False, "restart")
    ]
    found = collect_findings(con)
    (f,) = by_kind(found, "hung_dyno")
    assert f.summary == (
        "web.1 stopped answering for 18 min (14:02-14:20 UTC): 324 of its 324 requests timed "
        "out (H12) on 3 routes, with no other web dyno to take the traffic; a restart at 14:20 "
        "brought it back."
    )
    assert f.evidence["other_dynos"] == [] and f.evidence["other_requests"] == 0
    # the dyno's story, told once: not also a hotspot per route
    assert not by_kind(found, "timeout_hotspot")


@pytest.mark.parametrize(
    ("code", "slow_paths"),
    [("H12", ("/search",)), ("H13", ("/", "/items", "/search"))],
    ids=["one-slow-route", "h13-on-every-route"],
)
def test_a_lone_web_dyno_that_still_answers_is_not_hung(tmp_path, code, slow_paths) -> None:
    """The only web dyno with one route timing out (the others served: a hotspot), or closing
    every connection at once (H13: the app fails each request, request errors): not hung."""
    con, _ = ingest_lines(tmp_path, _lone(code, slow_paths=slow_paths))
    assert hung_dynos(con).is_empty()


# ----- silent worker --------------------------------------------------------------------------


def _worker(*, silent_from: str, ending: list[str], resume: str | None, log_end: str) -> str:
    """worker.1 logs every 30 s and reports runtime metrics every 20 s from 10:00 until
    `silent_from`, then nothing until `resume` (or the log's end); web.1 serves throughout."""
    out = [h(at("09:59:50"), "worker.1", "State changed from starting to up")]
    out += [req(t, "/", "web.1") for t in every("10:00:00", log_end, 60)]
    for t in every("10:00:00", log_end, 30):
        if t < at(silent_from) or (resume and t >= at(resume)):
            out.append(app(t, "worker.1", "Processed job ok"))
    for t in every("10:00:00", log_end, 20):
        if t < at(silent_from) or (resume and t >= at(resume)):
            out.append(metrics(t, "worker.1"))
    out.append(h(at(log_end), "api", "Set FOO config vars"))
    return join(out + ending)


def test_silent_worker_ended_by_a_restart(tmp_path) -> None:
    text = _worker(
        silent_from="10:30:00",
        ending=[h(at("11:15:00"), "worker.1", "Restarting")],
        resume="11:16:00",
        log_end="11:30:00",
    )
    con, _ = ingest_lines(tmp_path, text)
    d = hung_dynos(con)
    assert rows(d) == [("worker.1", "silent", at("10:29:40"), at("11:15:00"), False, "restart")]
    r = d.row(0, named=True)
    assert r["had_metrics"] and r["usual_gap_seconds"] == 20.0
    (f,) = findings(con)
    assert (f.severity, f.process_type) == ("warning", "worker")
    assert f.summary == (
        "worker.1 went silent for 45 min (10:29-11:15 UTC) without exiting: its output and "
        "runtime metrics stopped (usually at most 20 s apart) and no crash or stop was "
        "logged; a restart at 11:15 brought it back."
    )


def test_silent_worker_ended_by_a_release_without_its_stop_line(tmp_path) -> None:
    release = [h(at("11:00:00"), "api", "Release v8 created by user a@b.c")]
    text = _worker(silent_from="10:30:00", ending=release, resume="11:01:00", log_end="11:30:00")
    con, _ = ingest_lines(tmp_path, text)
    (r,) = hung_dynos(con).iter_rows(named=True)
    assert (r["ended_by"], r["end"], r["release"]) == ("release", at("11:00:00"), None)
    text_lines = (tmp_path / "hand.log").read_text().splitlines()
    assert "Release v8" in text_lines[r["last_line"] - 1]


def test_silent_worker_resumes_or_is_ongoing(tmp_path) -> None:
    con, _ = ingest_lines(
        tmp_path, _worker(silent_from="10:30:00", ending=[], resume="11:00:00", log_end="11:30:00")
    )
    assert rows(hung_dynos(con)) == [
        ("worker.1", "silent", at("10:29:40"), at("11:00:00"), False, "resumed")
    ]
    con, _ = ingest_lines(
        tmp_path,
        _worker(silent_from="10:30:00", ending=[], resume=None, log_end="11:30:00"),
        name="ongoing.log",
    )
    assert rows(hung_dynos(con)) == [
        ("worker.1", "silent", at("10:29:40"), at("11:30:00"), True, None)
    ]


def test_a_gap_in_the_whole_export_is_not_a_silent_worker(tmp_path) -> None:
    """Nothing at all from 10:30 to 11:15 (the export has a hole): not the worker's doing."""
    text = _worker(silent_from="10:30:00", ending=[], resume="11:15:00", log_end="11:30:00")
    text = "\n".join(x for x in text.splitlines() if not "T10:30:00" <= x[10:19] < "T11:15:00")
    con, _ = ingest_lines(tmp_path, text)
    assert hung_dynos(con).is_empty()


def test_log_loss_inside_the_silence_is_not_a_silent_worker(tmp_path) -> None:
    """Logplex reports dropped lines meanwhile: the worker's lines may be the lost ones."""
    loss = (
        f"{DAY}T10:50:00.000000+00:00 heroku[logplex]: Error L10 (output buffer overflow): "
        f"500 messages dropped since {DAY}T10:30:00+00:00."
    )
    text = _worker(silent_from="10:30:00", ending=[loss], resume="11:15:00", log_end="11:30:00")
    con, _ = ingest_lines(tmp_path, text)
    assert hung_dynos(con).is_empty()


@pytest.mark.parametrize("export", ["cli", "drain"])
def test_log_loss_reported_after_the_silence_is_not_a_silent_worker(tmp_path, export) -> None:
    """Logplex reports the loss when it can deliver again, here after the worker's first line
    back: "dropped since 10:29:50" covers the silence though the report's own time does not.
    The web dyno's lines go on meanwhile (a thinning, not a gap of the whole export). The
    report as `heroku logs` prints it and as a drain delivers it."""
    loss = (
        f"{DAY}T11:15:30+00:00 heroku[logplex]: Error L10 (output buffer overflow): "
        f"1830 messages dropped since {DAY}T10:29:50+00:00."
    )
    text = _worker(silent_from="10:30:00", ending=[loss], resume="11:15:00", log_end="11:30:00")
    text = as_drain(text) if export == "drain" else text
    con, _ = ingest_lines(tmp_path, text)
    assert hung_dynos(con).is_empty()
    (f,) = [x for x in collect_findings(con) if x.kind in ("log_loss", "hung_dyno")]
    assert (f.kind, f.start, f.end) == ("log_loss", at("10:29:50"), at("11:15:30"))


def test_log_loss_elsewhere_does_not_excuse_a_silence(tmp_path) -> None:
    """A loss reported after the worker came back, for lines dropped since then, says
    nothing of the silence before it."""
    loss = (
        f"{DAY}T11:25:00+00:00 heroku[logplex]: Error L10 (output buffer overflow): "
        f"12 messages dropped since {DAY}T11:20:00+00:00."
    )
    text = _worker(silent_from="10:30:00", ending=[loss], resume="11:15:00", log_end="11:30:00")
    con, _ = ingest_lines(tmp_path, text)
    assert rows(hung_dynos(con)) == [
        ("worker.1", "silent", at("10:29:40"), at("11:15:00"), False, "resumed")
    ]


def test_short_silence_is_not_hung(tmp_path) -> None:
    """Five minutes without metrics or output: within min_silence_seconds."""
    text = _worker(silent_from="10:30:00", ending=[], resume="10:35:00", log_end="11:00:00")
    con, _ = ingest_lines(tmp_path, text)
    assert hung_dynos(con).is_empty()


def test_quiet_worker_is_not_hung(tmp_path) -> None:
    """A worker that logs once an hour while its metrics keep coming; and one without metrics
    that logs once an hour for a day: neither is hung."""
    out = [app(t, "worker.1", "hourly report sent") for t in every("00:00:00", "23:00:00", 3600)]
    out += [metrics(t, "worker.1") for t in every("00:00:00", "23:00:00", 20)]
    out += [app(t, "clock.1", "tick") for t in every("00:00:00", "23:00:00", 3600)]
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()


def test_worker_without_metrics_silent_many_times_its_usual_gap(tmp_path) -> None:
    """No runtime metrics: output every minute, then three hours of nothing, then a restart."""
    out = [app(t, "worker.1", "job done") for t in every("08:00:00", "10:00:00", 60)]
    out += [h(at("13:00:00"), "worker.1", "Cycling")]
    out += [app(t, "clock.1", "tick") for t in every("08:00:00", "13:30:00", 600)]
    out += [app(t, "worker.1", "job done") for t in every("13:01:00", "13:30:00", 60)]
    con, _ = ingest_lines(tmp_path, join(out))
    d = hung_dynos(con)
    assert rows(d) == [("worker.1", "silent", at("09:59:00"), at("13:00:00"), False, "cycling")]
    assert d["had_metrics"].to_list() == [False]


@pytest.mark.parametrize(
    "ending",
    [
        [
            h(at("11:15:00"), "worker.1", "Process exited with status 1"),
            h(at("11:15:00"), "worker.1", "State changed from up to crashed"),
        ],
        [h(at("11:15:00"), "worker.1", "State changed from up to down")],
        [h(at("11:15:00"), "worker.1", "Idling")],
    ],
    ids=["crash", "scaled-down", "idling"],
)
def test_silence_that_ends_in_a_crash_or_stop_is_not_hung(tmp_path, ending: list[str]) -> None:
    text = _worker(silent_from="10:30:00", ending=ending, resume=None, log_end="11:30:00")
    con, _ = ingest_lines(tmp_path, text)
    assert hung_dynos(con).is_empty()


def test_one_off_and_scheduler_dynos_are_left_out(tmp_path) -> None:
    out = []
    for dyno in ("run.1", "scheduler.2"):
        out += [app(t, dyno, "working") for t in every("08:00:00", "09:00:00", 30)]
        out += [metrics(t, dyno) for t in every("08:00:00", "09:00:00", 20)]
    out += [app(t, "worker.1", "job") for t in every("08:00:00", "12:00:00", 30)]
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()


def test_hung_dyno_is_collected(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, _stuck([h(at("14:20:05"), "web.2", "Restarting")]))
    found = collect_findings(con)
    assert [f.dyno for f in by_kind(found, "hung_dyno")] == ["web.2"]
    # the stuck dyno's H12s on each of its routes are its story, not two slow routes
    assert by_kind(found, "timeout_hotspot") == []


# ----- real exports and the sample ------------------------------------------------------------


@pytest.mark.parametrize("stem", REAL_LOGS)
def test_real_exports_have_no_hung_dyno(b_real, stem: str) -> None:
    # read by hand: none of these shows a dyno timing out alone or a worker going silent
    # without an exit (src-022 / src-046 have a single web dyno with a few H12)
    assert hung_dynos(open_dataset(b_real(stem))).is_empty()


def test_sample_search_burst_is_a_hotspot_not_a_hung_dyno(tmp_path) -> None:
    """The sample's planted H12 burst on /search spans web.1 and web.2: a hotspot only."""
    ingest([str(SAMPLE)], tmp_path / "ds", app="acme-shop")
    con = open_dataset(tmp_path / "ds")
    assert hung_dynos(con).is_empty()
    assert by_kind(collect_findings(con), "timeout_hotspot")


def test_every_dyno_timing_out_is_not_a_hung_dyno(tmp_path) -> None:
    """Both web dynos time out on everything (a stuck database): no sibling serves normally."""
    out = []
    for t in every("14:00:00", "14:30:00", 10):
        for dyno in ("web.1", "web.2"):
            slow = at("14:05:00") <= t < at("14:20:00")
            out.append(req(t, "/", dyno, code="H12" if slow else ""))
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()


def test_route_timing_out_on_the_siblings_too_is_a_hotspot(tmp_path) -> None:
    """web.2 happened to get only /search meanwhile, all timing out; web.1 also times out on
    /search but serves its many / requests: the route is slow, not web.2."""
    out = []
    for t in every("14:00:00", "14:30:00", 10):
        slow = at("14:05:00") <= t < at("14:20:00")
        out.append(req(t, "/search", "web.2", code="H12" if slow else ""))
        out += [req(t + timedelta(seconds=s), "/", "web.1") for s in (0, 2, 4, 6, 8)]
        if t.second == 0:
            out.append(req(t, "/search", "web.1", code="H12" if slow else ""))
    con, _ = ingest_lines(tmp_path, join(out))
    assert hung_dynos(con).is_empty()
    # without web.1's /search timeouts, web.2 alone is stuck
    text = "\n".join(x for x in join(out).splitlines() if not ("web.1" in x and "H12" in x))
    con, _ = ingest_lines(tmp_path, text, name="alone.log")
    assert hung_dynos(con)["dyno"].to_list() == ["web.2"]


def test_hung_findings_validate_against_the_schema(tmp_path) -> None:
    import json

    import jsonschema

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "schema" / "findings.schema.json").read_text()
    )
    con, _ = ingest_lines(tmp_path, _stuck([h(at("14:20:05"), "web.2", "Restarting")]))
    found = findings(con)
    text = _worker(silent_from="10:30:00", ending=[], resume=None, log_end="11:30:00")
    con, _ = ingest_lines(tmp_path, text, name="worker.log")
    found += findings(con)
    assert [f.evidence["kind"] for f in found] == ["stuck_requests", "silent"]
    jsonschema.Draft202012Validator(schema).validate(
        json.loads(json.dumps([f.to_json() for f in found]))
    )
