"""Availability: exact numbers on a hand-written log, ground truth on generated scenarios, and
every real export."""

from __future__ import annotations

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

from forensics.analyses import availability
from forensics.findings import Source
from forensics.findings.availability import findings
from forensics.findings.downtime import findings as downtime_findings
from forensics.store.views import open_dataset

# Line numbers matter: the tests cite them.
LOG = """
2024-05-19T10:30:00.000000+00:00 heroku[web.2]: Starting process with command `bundle exec puma -C config/puma.rb`
2024-05-19T10:30:05.000000+00:00 heroku[web.2]: State changed from starting to up
2024-05-20T08:00:00.000000+00:00 app[api]: Release v7 created by user a@b.c
2024-05-20T08:59:00.000000+00:00 heroku[web.1]: State changed from down to starting
2024-05-20T08:59:02.000000+00:00 heroku[web.1]: Starting process with command `npm start`
2024-05-20T09:00:02.000000+00:00 heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 60 seconds of launch
2024-05-20T09:00:02.000000+00:00 heroku[web.1]: Stopping process with SIGKILL
2024-05-20T09:00:02.200000+00:00 heroku[web.1]: Process exited with status 137
2024-05-20T09:00:02.250000+00:00 heroku[web.1]: State changed from starting to crashed
2024-05-20T09:00:05.000000+00:00 heroku[web.1]: State changed from crashed to starting
2024-05-20T09:00:08.000000+00:00 heroku[web.1]: Starting process with command `npm start`
2024-05-20T09:00:20.000000+00:00 heroku[web.1]: State changed from starting to up
2024-05-20T10:00:00.000000+00:00 heroku[worker.1]: Process exited with status 1
2024-05-20T10:00:00.050000+00:00 heroku[worker.1]: State changed from up to crashed
2024-05-20T10:00:02.000000+00:00 heroku[worker.1]: State changed from crashed to starting
2024-05-20T10:00:05.000000+00:00 heroku[worker.1]: Starting process with command `bundle exec sidekiq`
2024-05-20T10:00:10.000000+00:00 heroku[worker.1]: Process exited with status 1
2024-05-20T10:00:10.020000+00:00 heroku[worker.1]: State changed from starting to crashed
2024-05-20T10:15:00.000000+00:00 heroku[worker.1]: State changed from crashed to starting
2024-05-20T10:15:03.000000+00:00 heroku[worker.1]: Starting process with command `bundle exec sidekiq`
2024-05-20T10:15:08.000000+00:00 heroku[worker.1]: Process exited with status 1
2024-05-20T10:15:08.010000+00:00 heroku[worker.1]: State changed from starting to crashed
2024-05-20T10:30:00.000000+00:00 heroku[web.1]: Restarting
2024-05-20T10:30:00.010000+00:00 heroku[web.1]: State changed from up to starting
2024-05-20T10:30:01.000000+00:00 heroku[web.1]: Stopping all processes with SIGTERM
2024-05-20T10:30:02.000000+00:00 heroku[web.1]: Process exited with status 143
2024-05-20T10:30:05.000000+00:00 heroku[web.1]: Starting process with command `npm start`
2024-05-20T10:30:09.000000+00:00 heroku[web.1]: State changed from starting to up
2024-05-20T11:00:00.000000+00:00 heroku[web.2]: Cycling
2024-05-20T11:00:00.010000+00:00 heroku[web.2]: State changed from up to starting
2024-05-20T11:00:01.000000+00:00 heroku[web.2]: Stopping all processes with SIGTERM
2024-05-20T11:00:31.000000+00:00 heroku[web.2]: Error R12 (Exit timeout) -> At least one process failed to exit within 30 seconds of SIGTERM
2024-05-20T11:00:31.002000+00:00 heroku[web.2]: Stopping remaining processes with SIGKILL
2024-05-20T11:00:31.100000+00:00 heroku[web.2]: Process exited with status 137
2024-05-20T11:00:34.000000+00:00 heroku[web.2]: Starting process with command `bundle exec puma -C config/puma.rb`
2024-05-20T11:00:40.000000+00:00 heroku[web.2]: State changed from starting to up
2024-05-20T11:30:00.000000+00:00 heroku[web.1]: Restarting
2024-05-20T11:30:00.010000+00:00 heroku[web.1]: State changed from up to starting
2024-05-20T11:30:01.000000+00:00 heroku[web.1]: Stopping all processes with SIGTERM
2024-05-20T11:30:03.000000+00:00 heroku[web.1]: Process exited with status 1
2024-05-20T11:30:06.000000+00:00 heroku[web.1]: Starting process with command `npm start`
2024-05-20T11:30:10.000000+00:00 heroku[web.1]: State changed from starting to up
2024-05-20T11:40:00.000000+00:00 heroku[run.1234]: State changed from starting to up
2024-05-20T11:40:05.000000+00:00 heroku[run.1234]: Process exited with status 1
2024-05-20T11:40:05.020000+00:00 heroku[run.1234]: State changed from up to complete
2024-05-20T11:45:00.000000+00:00 heroku[logplex]: Error L10 (output buffer overflow): 302 messages dropped since 2024-05-20T11:40:00+00:00.
2024-05-20T11:50:00.000000+00:00 heroku[logplex]: Error L10 (output buffer overflow): 5 messages dropped since 2024-05-20T11:45:00+00:00.
2024-05-20T11:55:00.000000+00:00 heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since 2024-05-20T11:50:00+00:00
2024-05-21T11:30:00.000000+00:00 heroku[web.2]: Cycling
2024-05-21T11:30:00.010000+00:00 heroku[web.2]: State changed from up to starting
2024-05-21T11:30:01.000000+00:00 heroku[web.2]: Stopping all processes with SIGTERM
2024-05-21T11:30:02.000000+00:00 heroku[web.2]: Process exited with status 143
2024-05-21T11:30:05.000000+00:00 heroku[web.2]: Starting process with command `bundle exec puma -C config/puma.rb`
2024-05-21T11:30:10.000000+00:00 heroku[web.2]: State changed from starting to up
2024-05-21T12:00:00.000000+00:00 app[web.1]: still serving
"""  # noqa: E501
APP = "shop"


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory):
    con, log = ingest_lines(tmp_path_factory.mktemp("availability"), LOG, app=APP)
    return con, str(log)


def test_crashes(hand) -> None:
    con, log = hand
    k = availability.crashes(con)
    cols = ("ts", "dyno", "process_type", "release", "from_state", "exit_status", "cause")
    assert k.select(cols).rows() == [
        (utc("2024-05-20T09:00:02.25Z"), "web.1", "web", "v7", "starting", 137, "R10"),
        (utc("2024-05-20T10:00:00.05Z"), "worker.1", "worker", "v7", "up", 1, None),
        (utc("2024-05-20T10:00:10.02Z"), "worker.1", "worker", "v7", "starting", 1, None),
        (utc("2024-05-20T10:15:08.01Z"), "worker.1", "worker", "v7", "starting", 1, None),
        (utc("2024-05-20T11:30:03Z"), "web.1", "web", "v7", None, 1, None),
    ]
    lines = ("during_shutdown", "line_no", "exit_line_no", "cause_line_no")
    assert k.select(lines).rows() == [
        (False, 9, 8, 6),
        (False, 14, 13, None),
        (False, 18, 17, None),
        (False, 22, 21, None),
        (True, 40, 40, None),
    ]
    # 143 after SIGTERM, 137 after R12 and the one-off's failed command are no crashes
    assert set(k["app"]) == {APP}
    assert k["source_file"].unique().to_list() == [log]


def test_crash_loops(hand) -> None:
    con, _ = hand
    loops = availability.crash_loops(con)
    assert loops.height == 1
    r = loops.row(0, named=True)
    assert (r["dyno"], r["crashes"], r["start"], r["end"]) == (
        "worker.1",
        3,
        utc("2024-05-20T10:00:00.05Z"),
        utc("2024-05-20T10:15:08.01Z"),
    )
    assert r["mean_gap_minutes"] == pytest.approx(907.96 / 2 / 60)
    assert (r["exit_statuses"], r["causes"], r["line_nos"]) == ([1], [], [14, 18, 22])
    assert availability.crash_loops(con, gap_minutes=10).is_empty()
    assert availability.crash_loops(con, min_crashes=4).is_empty()


def test_boot_timeouts(hand) -> None:
    con, _ = hand
    b = availability.boot_timeouts(con)
    assert b.select("ts", "dyno", "release", "crashed", "command", "line_no").rows() == [
        (utc("2024-05-20T09:00:02Z"), "web.1", "v7", True, "npm start", 6)
    ]
    assert b["description"][0] == (
        "Boot timeout: Web process failed to bind to $PORT within 60 seconds of launch"
    )


def test_stayed_down(hand) -> None:
    con, _ = hand
    d = availability.stayed_down(con)
    assert d.height == 1  # web.1 came back up after each crash
    r = d.row(0, named=True)
    assert (r["dyno"], r["worker"], r["release"], r["last_state"]) == (
        "worker.1",
        True,
        "v7",
        "crashed",
    )
    assert (r["down_since"], r["last_crash"], r["log_end"]) == (
        utc("2024-05-20T10:00:00.05Z"),
        utc("2024-05-20T10:15:08.01Z"),
        utc("2024-05-21T12:00:00Z"),
    )
    assert (r["crashes"], r["restart_attempts"], r["exit_status"]) == (3, 2, 1)
    assert r["down_minutes"] == pytest.approx(26 * 60 - 0.05 / 60)
    assert r["line_nos"] == [14, 18, 22]


def test_unclean_shutdowns(hand) -> None:
    con, _ = hand
    u = availability.unclean_shutdowns(con)
    assert u.select(
        "ts", "dyno", "release", "process_release", "trigger", "sigterm_ts", "exit_status",
        "line_no", "sigkill_line_no", "exit_line_no",
    ).rows() == [
        (
            utc("2024-05-20T11:00:31Z"), "web.2", "v7", "v6", "cycling",
            utc("2024-05-20T11:00:01Z"), 137, 32, 33, 34,
        )
    ]  # fmt: skip
    assert u["seconds_to_kill"][0] == pytest.approx(30.002)


def test_cycling(hand) -> None:
    con, _ = hand
    c = availability.cycling(con)
    assert c.select("ts", "dyno", "release", "process_start", "previous_cycling", "r12").rows() == [
        (utc("2024-05-20T11:00:00Z"), "web.2", "v7", utc("2024-05-19T10:30:00Z"), None, True),
        (
            utc("2024-05-21T11:30:00Z"), "web.2", "v7", utc("2024-05-20T11:00:34Z"),
            utc("2024-05-20T11:00:00Z"), False,
        ),
    ]  # fmt: skip
    assert c["uptime_hours"].to_list() == pytest.approx([24.5, 24.5 - 34 / 3600])
    assert c["hours_since_previous"].to_list()[1] == pytest.approx(24.5)
    assert c["line_no"].to_list() == [29, 49]


def test_log_loss(hand) -> None:
    con, _ = hand
    loss = availability.log_loss(con)
    assert loss.select("code", "dyno", "errors", "dropped", "line_nos").rows() == [
        ("L10", "logplex", 2, 307, [46, 47]),
        ("L11", "logplex", 1, 1101, [48]),
    ]
    assert loss["first"][0] == utc("2024-05-20T11:45:00Z")
    # the reports stand for the lines missing before them: since the first report's "since"
    assert loss["since"].to_list() == [utc("2024-05-20T11:40:00Z"), utc("2024-05-20T11:50:00Z")]
    assert loss["last"].to_list() == [utc("2024-05-20T11:50:00Z"), utc("2024-05-20T11:55:00Z")]


def test_log_loss_episodes(tmp_path) -> None:
    """Reports that follow each other are one episode from its first "since" to its last
    report; one hours later is another; a report naming no time starts at its own."""
    lp = "heroku[logplex]: Error L10 (output buffer overflow)"
    con, _ = ingest_lines(
        tmp_path,
        f"""
        2024-05-20T10:05:01+00:00 {lp}: 120 messages dropped since 2024-05-20T10:03:12+00:00.
        2024-05-20T10:07:30+00:00 {lp}: 80 messages dropped since 2024-05-20T10:05:01+00:00.
        2024-05-20T10:20:00+00:00 {lp}: 9 messages dropped since 2024-05-20T10:19:40+00:00.
        2024-05-20T14:00:02+00:00 {lp}: 500 messages dropped since 2024-05-20T13:41:00+00:00.
        2024-05-20T15:00:00+00:00 heroku[logplex]: Error L10 (output buffer overflow)
        """,
    )
    loss = availability.log_loss(con)
    assert loss.select("code", "errors", "dropped", "since", "first", "last").rows() == [
        ("L10", 2, 200, utc("2024-05-20T10:03:12Z"), utc("2024-05-20T10:05:01Z"),
         utc("2024-05-20T10:07:30Z")),
        ("L10", 1, 9, utc("2024-05-20T10:19:40Z"), utc("2024-05-20T10:20:00Z"),
         utc("2024-05-20T10:20:00Z")),
        ("L10", 1, 500, utc("2024-05-20T13:41:00Z"), utc("2024-05-20T14:00:02Z"),
         utc("2024-05-20T14:00:02Z")),
        ("L10", 1, 0, utc("2024-05-20T15:00:00Z"), utc("2024-05-20T15:00:00Z"),
         utc("2024-05-20T15:00:00Z")),
    ]  # fmt: skip
    f = findings(con)[0]
    assert (f.kind, f.start, f.end) == ("log_loss", utc("2024-05-20T10:03:12Z"),
                                        utc("2024-05-20T10:07:30Z"))  # fmt: skip
    assert f.evidence["since"] == "2024-05-20T10:03:12+00:00" and f.evidence["dropped"] == 200
    assert f.summary == (
        "Logplex dropped 200 log messages between 2024-05-20 10:03:12 and 10:07:30 UTC (2 L10 "
        "drain buffer overflow reports): the log is incomplete there, so counts in this period "
        "are lower bounds and a silence in it is not the app's."
    )


def test_real_drain_log_loss(b_real) -> None:
    """src-004 (an HTTPS drain's frames): three L10s from logplex within three minutes, each
    naming its own since, are one episode from the earliest since."""
    con = open_dataset(b_real("src-004"))
    (r,) = availability.log_loss(con).iter_rows(named=True)
    assert (r["code"], r["dyno"], r["errors"], r["dropped"]) == ("L10", "logplex", 3, 13)
    assert (r["since"], r["first"], r["last"]) == (
        utc("2015-06-08T21:46:44Z"), utc("2015-06-08T21:50:22Z"), utc("2015-06-08T21:53:21Z"),
    )  # fmt: skip


def test_findings(hand) -> None:
    con, log = hand
    found = findings(con)
    kinds = sorted(f.kind for f in found)
    assert kinds == [
        "boot_timeout",
        "crash",
        "crash",
        "crash_loop",
        "log_loss",
        "log_loss",
        "unclean_shutdown",
    ]
    assert all(f.app == APP for f in found)
    web, worker = by_kind(found, "crash")
    assert (web.dyno, web.severity, web.release, web.evidence["crashes"]) == (
        "web.1",
        "warning",
        "v7",
        2,
    )
    assert web.evidence["during_shutdown"] == 1 and web.evidence["causes"] == ["R10"]
    assert web.sources == [Source(log, 6, 6), Source(log, 8, 9), Source(log, 40, 40)]
    assert (worker.dyno, worker.severity, worker.evidence["in_crash_loop"]) == (
        "worker.1",
        "critical",
        True,
    )
    (loop,) = by_kind(found, "crash_loop")
    assert (loop.dyno, loop.evidence["crashes"]) == ("worker.1", 3)
    (boot,) = by_kind(found, "boot_timeout")
    assert (boot.dyno, boot.severity, boot.sources) == ("web.1", "critical", [Source(log, 6, 6)])
    (r12,) = by_kind(found, "unclean_shutdown")
    assert (r12.dyno, r12.release, r12.severity) == ("web.2", "v7", "warning")
    assert (r12.start, r12.end) == (utc("2024-05-20T11:00:01Z"), utc("2024-05-20T11:00:31Z"))
    assert r12.evidence["triggers"] == ["cycling"]
    assert r12.evidence["process_releases"] == ["v6"]
    assert r12.sources == [Source(log, 32, 34)]
    assert [(f.evidence["code"], f.evidence["dropped"]) for f in by_kind(found, "log_loss")] == [
        ("L10", 307),
        ("L11", 1101),
    ]
    # worker.1 down 26 h makes its crashes critical; a longer minimum than that does not.
    (_, w) = by_kind(findings(con, min_down_minutes=2000), "crash")
    assert w.severity == "critical" and not w.evidence["stayed_down"]


# ----- generated scenarios ---------------------------------------------------------------------


@pytest.mark.parametrize("name", FAULTY)
def test_scenario_crashed_worker_and_r12(b_scenario, name: str) -> None:
    s = b_scenario(name)
    crash, r12 = s.truth["crashed_worker"], s.truth["r12"]
    found = findings(s.connect())
    down = [f for f in downtime_findings(s.connect()) if f.dyno == crash["dyno"]]
    assert [d.start for d in down] == [utc(crash["down_from"])]
    assert down[0].evidence["ongoing"] is True
    assert down[0].end <= utc(s.truth["end"])
    assert down[0].evidence["restart_attempts"] == len(crash["attempts"])
    assert down[0].app == s.truth["app"]["name"]
    loops = by_kind(found, "crash_loop")
    assert [x.dyno for x in loops] == [crash["dyno"]]
    assert loops[0].start == utc(crash["down_from"])
    assert loops[0].evidence["crashes"] >= 1 + s.truth["config"]["crash_loops"]
    assert {f.dyno for f in by_kind(found, "crash")} == {crash["dyno"]} | {
        x["dyno"] for x in s.truth["r15"]
    }
    (unclean,) = by_kind(found, "unclean_shutdown")
    assert unclean.dyno == r12["dyno"]
    assert unclean.evidence["times"] == [utc(r12["time"]).isoformat()]
    assert by_kind(found, "boot_timeout") == [] and by_kind(found, "log_loss") == []


def test_scenario_r12_release(b_scenario) -> None:
    s = b_scenario("tune-a")
    u = availability.unclean_shutdowns(s.connect())
    row = u.row(0, named=True)
    # a deploy restart: the new release is in effect, the killed process ran the previous one
    assert s.truth["r12"]["restart_kind"] == "deploy"
    assert (row["release"], row["process_release"], row["trigger"]) == ("v2", "v1", "restarting")
    assert row["exit_status"] == 137


def test_healthy_scenario(b_scenario) -> None:
    s = b_scenario("healthy")
    con = s.connect()
    assert findings(con) == []
    assert availability.crashes(con).is_empty()
    cycles = availability.cycling(con)
    truth = sorted(
        (r["dyno"], utc(r["time"])) for r in s.truth["restarts"] if r["kind"] == "cycling"
    )
    assert len(truth) == 3  # every dyno once
    assert sorted(cycles.select("dyno", "ts").rows()) == truth
    assert not cycles["r12"].any()


# ----- real exports ----------------------------------------------------------------------------


@pytest.mark.parametrize("stem", REAL_LOGS)
def test_every_availability_analysis_runs_on_real_exports(b_real, stem: str) -> None:
    con = open_dataset(b_real(stem))
    assert isinstance(availability.cycling(con), pl.DataFrame)
    # findings() runs every other table: crashes, crash_loops, boot_timeouts, stayed_down,
    # unclean_shutdowns, log_loss
    for f in findings(con):
        assert f.summary and f.sources and f.severity in ("critical", "warning", "info")


def test_real_crash_loop(b_real) -> None:
    found = findings(open_dataset(b_real("src-019")))
    (loop,) = by_kind(found, "crash_loop")
    assert (loop.dyno, loop.evidence["crashes"], loop.severity) == ("web.1", 18, "critical")
    assert loop.start == utc("2013-09-28T03:41:04.807794Z")


def test_real_boot_timeout_and_r15(b_real) -> None:
    con = open_dataset(b_real("src-041"))
    (boot,) = by_kind(findings(con), "boot_timeout")
    assert (boot.dyno, boot.evidence["crashed_after"]) == ("web.1", 1)
    k = availability.crashes(con)
    assert k.select("dyno", "exit_status", "cause").rows() == [("web.1", 137, "R10")]
    con = open_dataset(b_real("src-049"))
    k = availability.crashes(con)
    assert k.select("dyno", "from_state", "exit_status", "cause").rows() == [
        ("worker.1", "up", 137, "R15")
    ]
    down = availability.stayed_down(con)
    assert down["down_minutes"][0] < 1  # the log ends with the crash: not "stayed down"


def test_real_r12_new_wording(b_real) -> None:
    con = open_dataset(b_real("src-012"))
    u = availability.unclean_shutdowns(con)
    assert u.select("dyno", "release", "trigger").rows() == [
        ("web.1", "v63", "restarting"),
        ("web.1", "v64", "restarting"),
        ("web.1", "v65", "restarting"),
        ("web.1", "v66", "restarting"),
    ]
    # The exit 0 after SIGKILL (05:04:03) is logged as such; R12 is still unclean.
    assert u["exit_status"].to_list() == [137, 0, 137, 137]
    k = availability.crashes(con)
    assert k.select("exit_status", "during_shutdown").rows() == [(1, True), (3, False), (3, False)]


def test_real_idling_is_no_crash(b_real) -> None:
    con = open_dataset(b_real("src-010"))  # free dyno idling: up -> down, exit 0
    assert availability.crashes(con).is_empty()
    assert findings(con) == []


def test_r12_states_its_own_shutdown_window(dataset_from_lines, lines) -> None:
    """A 2012-era R12 says 10 s: the table and the finding use it, not today's 30 s."""
    e = lines.event
    con = open_dataset(
        dataset_from_lines(
            [
                e(0, "heroku[web.1]", "State changed from starting to up"),
                e(100, "heroku[web.1]", "Stopping all processes with SIGTERM"),
                e(
                    110,
                    "heroku[web.1]",
                    "Error R12 (Exit timeout) -> Process failed to exit "
                    "within 10 seconds of SIGTERM",
                ),
                e(110.01, "heroku[web.1]", "Stopping remaining processes with SIGKILL"),
                e(110.1, "heroku[web.1]", "Process exited with status 137"),
                e(200, "heroku[web.2]", "Stopping all processes with SIGTERM"),
                e(
                    230,
                    "heroku[web.2]",
                    "Error R12 (Exit timeout) -> At least one process "
                    "failed to exit within 30 seconds of SIGTERM",
                ),
                e(260, "heroku[web.3]", "Error R12 (Exit timeout)"),
            ]
        )
    )
    u = availability.unclean_shutdowns(con)
    assert u.select("dyno", "shutdown_seconds").rows() == [
        ("web.1", 10.0), ("web.2", 30.0), ("web.3", 30.0)
    ]  # fmt: skip
    (f,) = [x for x in by_kind(findings(con), "unclean_shutdown") if x.dyno == "web.1"]
    assert "did not exit within 10 s of SIGTERM" in f.summary
    assert f.evidence["shutdown_seconds"] == 10.0
