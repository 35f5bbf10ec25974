"""Grouping rules, ids and ranking on handwritten findings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from forensics.findings import Finding, Source
from forensics.incidents import build_incidents, incidents_markdown, incidents_text

T0 = datetime(2024, 5, 20, 12, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def f(kind, start, end=None, line=1, **kw) -> Finding:
    sev = kw.pop("severity", "warning")
    return Finding(
        kind,
        sev,
        f"{kind} at {start}",
        app="acme",
        start=at(start),
        end=at(end if end is not None else start),
        sources=[Source("log", line, line)],
        **kw,
    )


def events(*rows) -> pl.DataFrame:
    cols = {
        "ts": [],
        "app": [],
        "dyno": [],
        "kind": [],
        "release": [],
        "user": [],
        "command": [],
        "message": [],
        "source_file": [],
        "line_no": [],
    }
    for i, (minute, kind, release, dyno, command) in enumerate(rows):
        vals = [
            at(minute),
            "acme",
            dyno,
            kind,
            release,
            "dev",
            command,
            f"{kind} {release}",
            "log",
            1000 + i,
        ]
        for k, v in zip(cols, vals, strict=True):
            cols[k].append(v)
    return pl.DataFrame(cols)


def leak_findings() -> list[Finding]:
    dynos = ["web.1", "web.2"]
    out = [
        f(
            "memory_leak",
            0,
            1500,
            10,
            process_type="web",
            release="v3",
            route="/orders",
            evidence={"dynos": dynos, "lifetimes": [{"peak_mb": 900.0}]},
        )
    ]
    for i in range(14):
        out.append(
            f(
                "memory_quota",
                100 + 60 * i,
                130 + 60 * i,
                100 + i,
                dyno=dynos[i % 2],
                process_type="web",
                release="v3",
                evidence={"code": "R14", "count": 20, "minutes_over_quota": 30, "lifetime": i % 2},
            )
        )
    for i, d in enumerate(dynos):
        out.append(
            f(
                "memory_quota",
                1000 + i,
                line=200 + i,
                dyno=d,
                process_type="web",
                release="v3",
                severity="critical",
                evidence={"code": "R15", "count": 1},
            )
        )
        out.append(
            f(
                "crash",
                1000 + i,
                line=300 + i,
                dyno=d,
                process_type="web",
                release="v3",
                evidence={"crashes": 1, "causes": ["R15"], "exit_statuses": [137]},
            )
        )
    out.append(
        f(
            "release_regression",
            0,
            1500,
            400,
            process_type="web",
            release="v3",
            evidence={"regressions": [{"metric": "memory_slope_mb_h"}]},
        )
    )
    return out


def deploy_findings() -> list[Finding]:
    w = {"dyno": "web.1", "process_type": "web", "release": "v5"}
    return [
        f("boot_timeout", 2000, 2030, 500, severity="critical", **w),
        f("crash_loop", 2001, 2030, 501, evidence={"crashes": 4, "minutes": 29}, **w),
        f("crash", 2001, 2030, 502, evidence={"crashes": 4}, **w),
        f(
            "downtime",
            2000,
            2035,
            503,
            evidence={"minutes": 35, "failed_requests": 120, "failed_share": 0.8},
            **w,
        ),
        f(
            "request_errors",
            2000,
            2035,
            504,
            process_type="web",
            # the H10s after web.1 came up (those inside the window are the downtime's)
            evidence={"count": 10, "share": 0.8, "codes": {"H10": 10}},
        ),
    ]


def hotspot_findings() -> list[Finding]:
    return [
        f(
            "timeout_hotspot",
            3000,
            3030,
            600,
            route="/search",
            process_type="web",
            evidence={"codes": ["H12"], "count": 56, "by_dyno": {"web.1": 30, "web.2": 26}},
        ),
        f("offload_candidate", 2500, 3500, 601, route="/search", process_type="web"),
        f(
            "timeout_hotspot",
            3010,
            3020,
            602,
            route="/cart",
            process_type="web",
            evidence={"codes": ["H12"], "count": 5, "by_dyno": {"web.2": 5}},
        ),
    ]


def outage_findings() -> list[Finding]:
    w = {"dyno": "worker.1", "process_type": "worker"}
    return [
        f(
            "worker_down",
            4000,
            5000,
            700,
            severity="critical",
            release="v5",
            evidence={"down_minutes": 1000, "stayed_down": True, "restart_attempts": 3},
            **w,
        ),
        f("crash_loop", 4000, 4011, 701, release="v5", evidence={"crashes": 3}, **w),
        f("crash", 4000, 4011, 702, release="v5", evidence={"crashes": 3}, **w),
        f("crash", 4900, line=703, release="v6", evidence={"crashes": 1}, **w),
    ]


def r12_findings() -> list[Finding]:
    return [
        f(
            "unclean_shutdown",
            -179,
            -178,
            800,
            dyno="web.1",
            process_type="web",
            release="v2",
            evidence={"triggers": ["deploy"]},
        )
    ]


EVENTS = events(
    (-180, "release", "v2", None, None),
    (0, "release", "v3", None, None),
    (1990, "release", "v5", None, None),
    (2036, "release", "v6", None, None),
)


def all_findings() -> list[Finding]:
    return (
        leak_findings()
        + deploy_findings()
        + hotspot_findings()
        + outage_findings()
        + r12_findings()
        + [f("log_loss", 3200, line=900)]
    )


def by_root(incidents):
    return {i.kind: i for i in incidents}


def test_each_story_is_one_incident():
    inc = build_incidents(None, all_findings(), events=EVENTS, log_end=at(5000))
    kinds = sorted(i.kind for i in inc)
    assert kinds == sorted(
        [
            "memory_leak",
            "boot_timeout",
            "timeout_hotspot",
            "worker_down",
            "unclean_shutdown",
            "log_loss",
        ]
    )
    r = by_root(inc)
    assert len(r["memory_leak"].members) == 1 + 14 + 2 + 2 + 1
    assert r["memory_leak"].impact["r15"] == 2 and r["memory_leak"].impact["r14"] == 280
    # minutes over quota are per lifetime (two here), not per episode
    assert r["memory_leak"].impact["minutes_over_quota"] == 60
    assert len(r["boot_timeout"].members) == 5
    assert len(r["timeout_hotspot"].members) == 3
    assert len(r["worker_down"].members) == 4
    assert {m.rule for m in r["timeout_hotspot"].members} == {
        "root",
        "hotspot_route",
        "hotspot_spread",
    }


def test_every_finding_in_exactly_one_incident():
    fs = all_findings()
    inc = build_incidents(None, fs, events=EVENTS)
    ids = [m.id for i in inc for m in i.members]
    assert len(ids) == len(fs) == len(set(ids))


def test_failing_deploy_trigger_and_resolution():
    inc = build_incidents(None, deploy_findings(), events=EVENTS, log_end=at(5000))
    assert len(inc) == 1
    d = inc[0].to_json()
    assert d["trigger"]["release"] == "v5" and d["trigger"]["kind"] == "release"
    assert d["resolved_by"]["release"] == "v6"
    assert d["impact"]["downtime_minutes"] == 35 and d["impact"]["failed_requests"] == 130


def test_leak_trigger_is_its_release_and_advice_names_a_size():
    more = pl.concat([EVENTS, events((1510, "release", "v4", None, None))])
    inc = build_incidents(None, leak_findings(), events=more)
    assert inc[0].trigger.release == "v3"
    assert inc[0].resolved_by is None  # v4 right after the leak ends lifetimes, not the leak
    assert any("ps:scale web=2:Standard-2X" in a for a in inc[0].advice)


def test_r12_trigger_is_the_deploy_and_outage_is_ongoing():
    r = by_root(build_incidents(None, all_findings(), events=EVENTS, log_end=at(5000)))
    assert r["unclean_shutdown"].trigger.release == "v2"
    assert r["worker_down"].ongoing and r["worker_down"].resolved_by is None


def test_ids_stable_and_order_independent():
    fs = all_findings()
    a = [i.to_json() for i in build_incidents(None, fs, events=EVENTS)]
    random.Random(1).shuffle(fs)
    b = [i.to_json() for i in build_incidents(None, fs, events=EVENTS)]
    assert [(x["id"], sorted(x["findings"])) for x in a] == [
        (x["id"], sorted(x["findings"])) for x in b
    ]


def test_ranked_by_cost_not_count():
    inc = build_incidents(None, all_findings(), events=EVENTS, log_end=at(5000))
    # the worker down 1000 min (x1.5) outranks the leak's 20 findings
    assert inc[0].kind == "worker_down"
    assert [i.cost for i in inc] == sorted((i.cost for i in inc), reverse=True)


def test_markdown_and_text():
    inc = build_incidents(None, all_findings(), events=EVENTS)
    md = incidents_markdown(inc, excerpt=lambda file, line: [f"raw {line}"])
    for h in (
        "### Summary",
        "### Impact",
        "### Timeline",
        "### Root cause",
        "### What changed",
        "### Advice",
    ):
        assert h in md
    assert "`log:10`" in md and "raw 10" in md
    assert "log:500" in incidents_text(inc)


def test_one_leak_across_releases_and_recurring_blips_are_one_incident_each() -> None:
    """A leak found again on every later release is one incident (its episodes and regressions
    with it); brief app-wide H10 bursts at every restart are one recurring incident; a long
    app-wide outage with the same code is not folded into those blips."""
    leaks = [
        f("memory_leak", 60 * k, 60 * k + 50, line=10 + k, process_type="web",
          route="/x/:id", release=f"v{k + 3}", evidence={"dynos": ["web.1"]})
        for k in range(4)
    ]  # fmt: skip
    episode = f("memory_quota", 170, 175, line=40, process_type="web", dyno="web.1",
                release="v5", evidence={"code": "R14", "count": 9})  # fmt: skip
    blips = [
        f("request_errors", 30 + 60 * k, 30.5 + 60 * k, line=50 + k, evidence={"codes": {"H10": 4}})
        for k in range(3)
    ]
    outage = f("request_errors", 400, 460, line=70, evidence={"codes": {"H10": 300}})
    found = build_incidents(None, [*leaks, episode, *blips, outage], events=events())
    by_kind = {}
    for inc in found:
        by_kind.setdefault(inc.kind, []).append(inc)
    (leak,) = by_kind["memory_leak"]
    assert len(leak.members) == 5
    assert {m.rule for m in leak.members} == {"root", "leak_continues", "leak_episode"}
    assert sorted(len(i.members) for i in by_kind["request_errors"]) == [1, 3]


def _one(fs: list[Finding]) -> list:
    return build_incidents(None, fs)


def test_a_route_failing_in_bursts_is_one_incident() -> None:
    """A route failing 70 % of the time gives a burst per run of failures: one incident; a
    burst on another route, or two hours later, is another."""
    bursts = [
        f("request_errors", m, m + 2, line=10 + m, route="/users/:id", dyno="web.1")
        for m in (0, 4, 9, 15)
    ]
    other = f("request_errors", 5, 6, line=90, route="/search", dyno="web.1")
    late = f("request_errors", 140, 141, line=95, route="/users/:id", dyno="web.1")
    incs = _one([*bursts, other, late])
    sizes = sorted(len(i.members) for i in incs)
    assert sizes == [1, 1, 4]
    big = next(i for i in incs if len(i.members) == 4)
    assert {m.rule for m in big.members} == {"root", "errors_again"}


def test_lost_files_and_their_500s_are_one_incident() -> None:
    eph = f("ephemeral_files", 0, 60, line=1, evidence={"dynos": ["web.1", "web.2"]})
    lost = f("request_errors", 20, 25, line=2, route="/reports/:id/download", dyno="web.2",
             evidence={"exceptions": [{"exception": "Errno::ENOENT", "count": 3}]})  # fmt: skip
    missing = {"reason": {"text": "FileNotFoundError: [Errno 2] No such file or directory"}}
    py = f("request_errors", 40, 41, line=3, route="/reports/:id/download", dyno="web.1",
           evidence=missing)  # fmt: skip
    nil = {"exceptions": [{"exception": "NoMethodError", "count": 3}]}
    unrelated = f("request_errors", 30, 31, line=4, route="/checkout", dyno="web.1", evidence=nil)
    incs = _one([eph, lost, py, unrelated])
    root = next(i for i in incs if i.kind == "ephemeral_files")
    assert sorted(m.rule for m in root.members) == ["lost_files", "lost_files", "root"]
    assert len(incs) == 2


def test_leak_restart_known_by_its_shape_before_the_crash_joins() -> None:
    """The R15 kill's downtime (seconds, opened by a crash that printed no reason) and the
    H10s meanwhile join the leak, though the crash itself is grouped after them."""
    leak = f("memory_leak", 0, 120, line=1, dyno="web.1", process_type="web",
             evidence={"dynos": ["web.1"]})  # fmt: skip
    down = f("downtime", 50, 50.2, line=2, dyno="web.1", process_type="web",
             evidence={"opened_by": "crash", "dynos": ["web.1"]})  # fmt: skip
    whole = f("downtime", 50, 50.2, line=3, process_type="web",
              evidence={"opened_by": "crash", "dynos": ["web.1"]})  # fmt: skip
    h10 = f("request_errors", 50, 50.3, line=4, evidence={"codes": {"H10": 5}})
    crash = f("crash", 50, line=5, dyno="web.1", process_type="web",
              evidence={"causes": ["R15"], "exit_statuses": [137]})  # fmt: skip
    # a crash with a reason of its own is an outage, not the leak's restart
    other = f("downtime", 90, 95, line=6, dyno="web.1", process_type="web",
              evidence={"opened_by": "crash", "reason": {"text": "KeyError: 'X'"}})  # fmt: skip
    incs = _one([leak, down, whole, h10, crash, other])
    lk = next(i for i in incs if i.kind == "memory_leak")
    assert {m.finding.summary for m in lk.members} >= {down.summary, whole.summary, h10.summary}
    assert other.summary not in {m.finding.summary for m in lk.members}


def test_two_dynos_down_together_are_one_outage() -> None:
    a = f("downtime", 0, 30, line=1, dyno="web.1", process_type="web")
    b = f("downtime", 5, 35, line=2, dyno="web.2", process_type="web")
    c = f("downtime", 5, 35, line=3, dyno="web.3", process_type="web")
    a.evidence["reason"] = {"key": "y", "text": "y"}
    c.evidence["reason"] = {"key": "x", "text": "x"}
    assert [len(i.members) for i in _one([a, b])] == [2]  # web.2 printed nothing: one outage
    assert sorted(len(i.members) for i in _one([a, c])) == [1, 1]  # died of different things


def test_a_leak_whose_blamed_route_wavers_is_one_incident() -> None:
    v2 = f("memory_leak", 0, 120, line=1, process_type="web", route="/a", release="v2")
    v3 = f("memory_leak", 120.5, 240, line=2, process_type="web", route="/b", release="v3")
    later = f("memory_leak", 600, 700, line=3, process_type="web", route="/c", release="v7")
    incs = _one([v2, v3, later])
    assert sorted(len(i.members) for i in incs) == [1, 2]


def test_lost_files_500s_with_no_exception_tied_join_by_their_seconds() -> None:
    """A Node app prints `Error: ENOENT` without request ids: the 500s at those seconds on the
    same dyno are the lost files' users; a 500 burst on that dyno an hour away is not."""
    eph = f("ephemeral_files", 0, 90, line=1, dyno="web.1",
            evidence={"times": [at(20).isoformat(), at(21).isoformat()]})  # fmt: skip
    same = f("request_errors", 20, 21, line=2, route="/reports/:id/download", dyno="web.1")
    away = f("request_errors", 60, 61, line=3, route="/reports/:id/download", dyno="web.1")
    incs = _one([eph, same, away])
    root = next(i for i in incs if i.kind == "ephemeral_files")
    assert [m.rule for m in root.members] == ["root", "lost_files"]


def test_a_route_broken_for_hours_is_not_part_of_a_short_hang():
    """/reports/export fails all day; web.2 hangs (H13) for 3 minutes at noon: the H13s on
    web.2 then, on a route or app-wide, are the hang's; the restart's H10s and a route's 500s
    on web.2 meanwhile are not."""
    hang = f("hung_dyno", 120, 123, line=5, dyno="web.2", process_type="web",
             evidence={"codes": ["H13"]})  # fmt: skip
    broken = f("request_errors", 0, 360, line=1, route="/reports/export",
               evidence={"count": 5000, "dynos": ["web.1", "web.2", "web.3"]})  # fmt: skip
    cart = f("request_errors", 120.5, 122, line=7, route="/cart",
             evidence={"dynos": ["web.2"], "codes": {"H13": 3}})  # fmt: skip
    other = f("request_errors", 121, 122, line=8, route="/p", evidence={"dynos": ["web.1"]})
    wide = f("request_errors", 121, 121.2, line=9,
             evidence={"codes": {"H13": 3}, "dynos": ["web.2"]})  # fmt: skip
    h10 = f("request_errors", 122, 122.2, line=10, evidence={"codes": {"H10": 4}})
    app500 = f("request_errors", 121, 122, line=11, route="/dl",
               evidence={"codes": {"500": 4}, "dynos": ["web.2"]})  # fmt: skip
    incidents = build_incidents(None, [hang, broken, cart, other, wide, h10, app500])
    by_title = {i.title: sorted(m.finding.sources[0].first_line for m in i.members)
                for i in incidents}  # fmt: skip
    assert by_title["Hung dyno on web.2"] == [5, 7, 9]
    assert by_title["Request errors on /reports/export"] == [1]
    assert by_title["Request errors on /p"] == [8]
    assert by_title["Request errors on /dl"] == [11]
    assert len(incidents) == 5


def test_a_concurrency_finding_alone_is_an_incident_of_its_own():
    """Its evidence `dynos` is how many dynos the type has (2), not their names: it used to
    crash `build_incidents` when no leak took the finding in (seed 1027 of the accuracy bench)."""
    c = f("concurrency", 0, 600, process_type="web", evidence={"dynos": 2, "verdict": "too_low"})
    (inc,) = build_incidents(None, [c], events=EVENTS)
    assert (inc.kind, inc.dynos, inc.process_types) == ("concurrency", [], ["web"])
