"""Hand-written logs of shapes our generator does not make, told as a person reading the raw
log would: one story per outage, whatever finding its grouping starts from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from forensics.findings import collect_findings
from forensics.incidents import build_incidents
from forensics.ingest import ingest
from forensics.store.views import open_dataset

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _line(t: datetime, src: str, msg: str) -> tuple[datetime, str]:
    return t, f"{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {src}: {msg}"


def _dataset(tmp_path: Path, lines: list[tuple[datetime, str]]) -> Path:
    log = tmp_path / "export.log"
    log.write_text("\n".join(text for _, text in sorted(lines, key=lambda x: x[0])) + "\n")
    ingest([str(log)], tmp_path / "ds")
    return tmp_path / "ds"


def _node_deploy_outage() -> list[tuple[datetime, str]]:
    """A Node app's only web dyno: v50 cannot find a module, v51 times out at boot (R10), v52
    runs out of heap while booting (R14, exit 134), v53 comes up; H10s for 80 minutes."""
    out: list[tuple[datetime, str]] = []

    def at(minutes: float) -> datetime:
        return T0 + timedelta(minutes=minutes)

    def web(t: datetime, msg: str) -> None:
        out.append(_line(t, "heroku[web.1]", msg))

    def app(t: datetime, msg: str) -> None:
        out.append(_line(t, "app[web.1]", msg))

    def release(minutes: float, v: int) -> datetime:
        out.append(_line(at(minutes), "app[api]", f"Release v{v} created by user dev@acme.io"))
        return at(minutes)

    def boot(t: datetime) -> None:
        web(t, "Starting process with command `npm start`")
        app(t + timedelta(seconds=1), "> node dist/server.js")

    def missing_module(t: datetime) -> None:
        app(t, "Error: Cannot find module 'pg-native'")
        app(t, "    at Module._resolveFilename (node:internal/modules/cjs/loader:1077:15)")
        app(t, "    at Object.<anonymous> (/app/dist/db.js:3:12)")
        web(t + timedelta(milliseconds=200), "Process exited with status 1")
        web(t + timedelta(milliseconds=250), "State changed from starting to crashed")

    out.append(_line(T0, "app[api]", "Release v49 created by user dev@acme.io"))
    web(at(0.1), "State changed from starting to up")
    r = release(60, 50)
    web(r + timedelta(seconds=2), "Restarting")
    web(r + timedelta(seconds=2), "State changed from up to starting")
    web(r + timedelta(seconds=3), "Stopping all processes with SIGTERM")
    web(r + timedelta(seconds=4), "Process exited with status 143")
    boot(r + timedelta(seconds=6))
    missing_module(r + timedelta(seconds=8))
    web(r + timedelta(seconds=9), "State changed from crashed to starting")
    boot(r + timedelta(seconds=11))
    missing_module(r + timedelta(seconds=13))
    r = release(82, 51)
    web(r + timedelta(seconds=1), "State changed from crashed to starting")
    boot(r + timedelta(seconds=3))
    web(r + timedelta(seconds=63), "Error R10 (Boot timeout) -> Web process failed to bind to "
        "$PORT within 60 seconds of launch")  # fmt: skip
    web(r + timedelta(seconds=63), "Stopping process with SIGKILL")
    web(r + timedelta(seconds=64), "Process exited with status 137")
    web(r + timedelta(seconds=64), "State changed from starting to crashed")
    r = release(105, 52)
    web(r + timedelta(seconds=1), "State changed from crashed to starting")
    boot(r + timedelta(seconds=3))
    web(r + timedelta(seconds=20), "Process running mem=1090M(212.9%)")
    web(r + timedelta(seconds=20), "Error R14 (Memory quota exceeded)")
    app(r + timedelta(seconds=30), "FATAL ERROR: Reached heap limit Allocation failed - "
        "JavaScript heap out of memory")  # fmt: skip
    web(r + timedelta(seconds=31), "Process exited with status 134")
    web(r + timedelta(seconds=31), "State changed from starting to crashed")
    r = release(140, 53)
    web(r + timedelta(seconds=1), "State changed from crashed to starting")
    boot(r + timedelta(seconds=3))
    web(r + timedelta(seconds=9), "State changed from starting to up")
    down = (at(60) + timedelta(seconds=8), r + timedelta(seconds=9))
    t = at(0.5)
    i = 0
    while t < at(240):
        rid = f"{i:032x}"
        if down[0] <= t < down[1]:
            msg = (f'at=error code=H10 desc="App crashed" method=GET path="/v1/items" '
                   f'host=acme-api.herokuapp.com request_id={rid} fwd="5.6.7.8" dyno= '
                   "connect= service= status=503 bytes= protocol=https")  # fmt: skip
        else:
            msg = (f'at=info method=GET path="/v1/items" host=acme-api.herokuapp.com '
                   f'request_id={rid} fwd="5.6.7.8" dyno=web.1 connect=0ms service=20ms '
                   "status=200 bytes=512 protocol=https")  # fmt: skip
        out.append(_line(t, "heroku[router]", msg))
        t, i = t + timedelta(seconds=7), i + 1
    return out


def test_a_deploy_failing_across_releases_is_one_story(tmp_path: Path) -> None:
    """The boot timeout on v51 starts the grouping; the v50 crashes, v52's heap exhaustion and
    its R14 during boot, and v50's 5xx regression all happened inside the same outage."""
    con = open_dataset(_dataset(tmp_path, _node_deploy_outage()))
    findings = collect_findings(con)
    incidents = build_incidents(con, findings)
    kinds = {f.kind for f in findings}
    assert {"downtime", "crash", "boot_timeout", "memory_quota"} <= kinds
    (inc,) = [i for i in incidents if i.severity != "info"]
    assert len(incidents) == 1, [i.title for i in incidents]
    members = sorted(m.finding.kind for m in inc.members)
    assert members.count("crash") >= 2 and "memory_quota" in members
    web = next(f for f in findings if f.kind == "downtime" and f.dyno is None)
    assert inc.impact["failed_requests"] == web.evidence["failed_requests"] > 600
    assert 79 <= inc.impact["downtime_minutes"] <= 81
    assert inc.resolved_by is not None and inc.resolved_by.release == "v53"
    assert "Cannot find module 'pg-native'" in (inc.cause or "")


def test_web_scaled_to_zero_is_told_as_such(tmp_path: Path) -> None:
    """Someone scales web to 0 for 20 minutes: every request gets H14. Not a crash: the cause
    says who scaled it off, the scale back resolved it."""
    lines: list[tuple[datetime, str]] = []
    off, on = T0 + timedelta(minutes=30), T0 + timedelta(minutes=50)
    api = "app[api]"
    lines.append(_line(off, api, "Scaled to web@0:Standard-1X by user ops@x.io"))
    lines.append(
        _line(off + timedelta(seconds=1), "heroku[web.1]", "State changed from up to down")
    )
    lines.append(_line(on, api, "Scaled to web@1:Standard-1X by user ops@x.io"))
    lines.append(
        _line(on + timedelta(seconds=5), "heroku[web.1]", "State changed from starting to up")
    )
    for i in range(240):
        t = T0 + timedelta(seconds=20 * i)
        if off < t < on + timedelta(seconds=5):
            msg = ('at=error code=H14 desc="No web processes running" method=GET path="/" '
                   f'host=x.herokuapp.com request_id=r{i} fwd="1.1.1.1" dyno= connect= '
                   "service= status=503 bytes= protocol=https")  # fmt: skip
        else:
            msg = (f'at=info method=GET path="/" host=x.herokuapp.com request_id=r{i} '
                   'fwd="1.1.1.1" dyno=web.1 connect=0ms service=12ms status=200 bytes=100 '
                   "protocol=https")  # fmt: skip
        lines.append(_line(t, "heroku[router]", msg))
    con = open_dataset(_dataset(tmp_path, lines))
    (inc,) = build_incidents(con, collect_findings(con))
    assert inc.cause == (
        "web was scaled to 0 by ops@x.io at 09:30 UTC: requests got H14 (no web processes "
        "running) until web ran again."
    )
    assert inc.impact["failed_requests"] == 60 and inc.impact["downtime_minutes"] == 0
    assert inc.trigger is not None and inc.trigger.kind == "scale"
    assert inc.resolved_by is not None and "web@1" in inc.resolved_by.summary
    assert [s.text.split(":")[0] for s in inc.timeline][:: len(inc.timeline) - 1] == [
        "scale",
        "resolved by scale",
    ]


def _slow_release() -> list[tuple[datetime, str]]:
    """A Django app on two dynos: v120 adds a query every page runs; every route slows to
    10-28 s and a fifth time out (H12) until v121 rolls back to v119. As Heroku logs a
    rollback: `Rollback to v119` and `Release v121 created` together, then each dyno's
    `Restarting` (seen in a published `heroku rollback` transcript)."""
    import random

    rnd = random.Random(120)
    out: list[tuple[datetime, str]] = []
    paths = ["/", "/blog/42", "/shop/basket", "/api/v1/stock", "/accounts/profile"]
    out.append(_line(T0, "app[api]", "Release v119 created by user dev@acme.io"))
    t, i = T0 + timedelta(seconds=5), 0
    while t < T0 + timedelta(hours=3):
        m = (t - T0).total_seconds() / 60
        slow = 70 <= m < 125
        dyno, path = f"web.{1 + i % 2}", paths[i % len(paths)]
        if slow and rnd.random() < 0.2:
            head, service, status = 'at=error code=H12 desc="Request timeout"', 30000, 503
        else:
            head = "at=info"
            service = rnd.randint(10000, 28000) if slow else rnd.randint(15, 250)
            status = 200
        out.append(
            _line(
                t,
                "heroku[router]",
                f'{head} method=GET path="{path}" host=blog.herokuapp.com request_id=r{i} '
                f'fwd="8.8.4.4" dyno={dyno} connect=0ms service={service}ms status={status} '
                "bytes=512 protocol=https",
            )
        )
        t, i = t + timedelta(seconds=rnd.uniform(0.7, 2.0)), i + 1
    rollout = (
        (68, ["Release v120 created by user dev@acme.io"]),
        (
            124,
            [
                "Rollback to v119 by user oncall@acme.io",
                "Release v121 created by user oncall@acme.io",
            ],
        ),
    )
    for minutes, msgs in rollout:
        r = T0 + timedelta(minutes=minutes)
        out.extend(_line(r, "app[api]", msg) for msg in msgs)
        for n in (1, 2):
            d, s = f"heroku[web.{n}]", r + timedelta(seconds=3 * n)
            for k, msg in enumerate(
                (
                    "Restarting",
                    "State changed from up to starting",
                    "Stopping all processes with SIGTERM",
                    "Process exited with status 143",
                    "Starting process with command `gunicorn blog.wsgi`",
                    "State changed from starting to up",
                )
            ):
                out.append(_line(s + timedelta(seconds=2 * k), d, msg))
    return out


def test_every_route_slow_after_a_release_is_one_story_ended_by_the_rollback(
    tmp_path: Path,
) -> None:
    con = open_dataset(_dataset(tmp_path, _slow_release()))
    incs = build_incidents(con, collect_findings(con))
    hot = [i for i in incs if any(m.finding.kind == "timeout_hotspot" for m in i.members)]
    assert len(hot) == 1, [i.title for i in incs]
    inc = hot[0]
    kinds = {m.finding.kind for m in inc.members}
    assert {"timeout_hotspot", "release_regression"} <= kinds
    # near-limit requests of those routes are the same story, not one incident per route
    assert not [i for i in incs if i.kind == "offload_candidate"]
    assert inc.title == "Request timeouts (H12) on 5 routes after release v120"
    assert inc.trigger is not None and inc.trigger.release == "v120"
    assert inc.resolved_by is not None and inc.resolved_by.summary.startswith(
        ("Rollback to v119", "Release v121")
    )
    assert "from release v120 on" in inc.cause
    assert any("roll it back (as was done)" in a for a in inc.advice)
    assert not any("background worker" in a for a in inc.advice)


def _connections_exhausted() -> list[tuple[datetime, str]]:
    """A Django API scaled from 2 to 6 dynos: every route that queries Postgres fails a third of
    the time with `remaining connection slots are reserved` (logged with no request id) until
    it is scaled back; the health check, which does not query, keeps answering."""
    import random

    rnd = random.Random(6)
    out: list[tuple[datetime, str]] = []
    paths = ["/api/invoices", "/api/customers/17", "/api/reports/daily", "/health"]
    t, i = T0, 0
    while t < T0 + timedelta(hours=2):
        m = (t - T0).total_seconds() / 60
        n = 2 if m < 30 or m >= 85 else 6
        dyno, path = f"web.{1 + i % n}", paths[i % len(paths)]
        fail = 30 <= m < 85 and path != "/health" and rnd.random() < 0.33
        out.append(
            _line(
                t,
                "heroku[router]",
                f'at=info method=GET path="{path}" host=billing.herokuapp.com request_id=q{i} '
                f'fwd="9.9.9.9" dyno={dyno} connect=0ms service={rnd.randint(8, 90)}ms '
                f"status={500 if fail else 200} bytes=300 protocol=https",
            )
        )
        if fail:
            out.append(
                _line(
                    t - timedelta(milliseconds=5),
                    f"app[{dyno}]",
                    "django.db.utils.OperationalError: connection to server at "
                    '"ec2-1-2-3-4.compute-1.amazonaws.com" (1.2.3.4), port 5432 failed: FATAL:  '
                    "remaining connection slots are reserved for non-replication superuser "
                    "connections",
                )
            )
        t, i = t + timedelta(seconds=rnd.uniform(0.4, 1.2)), i + 1
    for minutes, n in ((30, 6), (85, 2)):
        at = T0 + timedelta(minutes=minutes)
        out.append(_line(at, "app[api]", f"Scaled to web@{n}:Standard-2X by user sre@acme.io"))
    return out


def test_routes_failing_with_one_database_error_are_one_story(tmp_path: Path) -> None:
    con = open_dataset(_dataset(tmp_path, _connections_exhausted()))
    incs = build_incidents(con, collect_findings(con))
    errs = [i for i in incs if i.kind == "request_errors"]
    assert len(errs) == 1, [i.title for i in incs]
    inc = errs[0]
    assert inc.title == "Request errors on 3 routes"
    assert "remaining connection slots are reserved" in inc.cause
    assert inc.trigger is not None and inc.trigger.kind == "scale"
    assert inc.resolved_by is not None and "web@2" in inc.resolved_by.summary
    assert any("ran out of connections" in a and "web@6" in a for a in inc.advice)


def _surge(*, factor: float) -> list[tuple[datetime, str]]:
    """A Node shop on 3 web dynos: a newsletter at 10:30 brings `factor` times the traffic for
    40 min; responses climb and a fifth of the requests on every route time out (H12). No
    release, no crash; it ends with the surge."""
    import random

    rnd = random.Random(11)
    out: list[tuple[datetime, str]] = []
    paths = ["/", "/products/7", "/cart", "/api/stock", "/search"]
    t, i = T0, 0
    while t < T0 + timedelta(hours=3):
        m = (t - T0).total_seconds() / 60
        busy = 90 <= m < 130
        if busy and rnd.random() < 0.2:
            head, service, status = 'at=error code=H12 desc="Request timeout"', 30001, 503
        else:
            head, status = "at=info", 200
            service = rnd.randint(3000, 25000) if busy else rnd.randint(20, 300)
        out.append(
            _line(
                t,
                "heroku[router]",
                f'{head} method=GET path="{paths[i % 5]}" host=shop.herokuapp.com '
                f'request_id=s{i} fwd="8.8.8.8" dyno=web.{1 + i % 3} connect=0ms '
                f"service={service}ms status={status} bytes=900 protocol=https",
            )
        )
        gap = rnd.uniform(0.3, 1.2) / (factor if busy else 1.0)
        t, i = t + timedelta(seconds=gap), i + 1
    return out


def test_timeouts_on_every_route_during_a_traffic_surge_say_so(tmp_path: Path) -> None:
    con = open_dataset(_dataset(tmp_path, _surge(factor=6.0)))
    incs = build_incidents(con, collect_findings(con))
    (inc,) = [i for i in incs if i.kind == "timeout_hotspot"]
    assert "the requests of the hour before" in inc.cause
    ratio = float(inc.cause.split("got ")[1].split("x")[0])
    assert 4.5 <= ratio <= 7.5, inc.cause
    assert any("Traffic rose to" in a and "3 web dynos" in a for a in inc.advice), inc.advice
    assert not any("background worker" in a for a in inc.advice)


def test_timeouts_with_steady_traffic_are_not_called_a_surge(tmp_path: Path) -> None:
    # the same slow 40 minutes with no more requests than before: something shared went slow
    con = open_dataset(_dataset(tmp_path, _surge(factor=1.0)))
    incs = build_incidents(con, collect_findings(con))
    (inc,) = [i for i in incs if i.kind == "timeout_hotspot"]
    assert "hour before" not in inc.cause and "something they share" in inc.cause
    assert not any("Traffic rose" in a for a in inc.advice)


def _too_big(*, grows_mb_h: float) -> list[tuple[datetime, str]]:
    """A Django CMS on two Standard-1X dynos whose four gunicorn workers need ~560-600 MB from
    boot (R14 all along); at 14:00 it is scaled to Standard-2X and the R14s stop. With
    `grows_mb_h` its memory climbs instead of holding."""
    import random

    rnd = random.Random(4)
    out = [_line(T0, "app[api]", "Release v88 created by user ops@cms.io")]
    resize = T0 + timedelta(hours=5)
    out.append(_line(resize, "app[api]", "Scaled to web@2:Standard-2X by user ops@cms.io"))
    for n in (1, 2):
        d = f"heroku[web.{n}]"
        out.append(_line(T0 + timedelta(seconds=20), d, "State changed from starting to up"))
        r = resize + timedelta(seconds=2)
        for k, msg in enumerate(
            (
                "Restarting",
                "State changed from up to starting",
                "Stopping all processes with SIGTERM",
                "Process exited with status 143",
                "Starting process with command `gunicorn cms.wsgi --workers 4`",
                "State changed from starting to up",
            )
        ):
            out.append(_line(r + timedelta(seconds=2 * k), d, msg))
        t = T0 + timedelta(seconds=30)
        while t < T0 + timedelta(hours=8):
            big = t < resize
            quota = 512 if big else 1024
            hours = (t - T0).total_seconds() / 3600
            mb = 560 + rnd.uniform(-10, 30) + grows_mb_h * hours
            uid = f"{'1' if big else '2'}{n}aaaaaa-0000-4000-8000-000000000000"
            out.append(
                _line(
                    t,
                    d,
                    f"source=web.{n} dyno=heroku.4242.{uid} sample#memory_total={mb:.2f}MB "
                    f"sample#memory_rss={mb * 0.95:.2f}MB sample#memory_cache=5.00MB "
                    f"sample#memory_swap={max(0.0, mb - quota) * 0.4:.2f}MB "
                    f"sample#memory_pgpgin=100pages sample#memory_pgpgout=90pages "
                    f"sample#memory_quota={quota:.2f}MB",
                )
            )
            if mb > quota:
                out.append(_line(t, d, f"Process running mem={mb:.0f}M({100 * mb / quota:.1f}%)"))
                out.append(_line(t, d, "Error R14 (Memory quota exceeded)"))
            t += timedelta(seconds=20)
    return out


def test_memory_over_quota_from_boot_advises_a_size_not_a_leak_fix(tmp_path: Path) -> None:
    con = open_dataset(_dataset(tmp_path, _too_big(grows_mb_h=0.0)))
    incs = build_incidents(con, collect_findings(con))
    (inc,) = [i for i in incs if i.kind == "memory_quota"]
    assert inc.resolved_by is not None and inc.resolved_by.kind == "scale"
    (tip,) = [a for a in inc.advice if "needs up to" in a]
    assert "from boot" in tip and "not a leak" in tip, tip
    assert "`heroku ps:scale web=2:Standard-2X`" in tip and "the scale at 14:00 ended it" in tip
    assert not [i for i in incs if i.kind == "memory_leak"]


def test_memory_over_quota_that_keeps_growing_is_not_called_flat(tmp_path: Path) -> None:
    con = open_dataset(_dataset(tmp_path, _too_big(grows_mb_h=25.0)))
    incs = build_incidents(con, collect_findings(con))
    tips = [a for i in incs for a in i.advice]
    assert not any("not a leak" in a for a in tips), tips


def _route_failing(exception_line: str) -> list[tuple[datetime, str]]:
    """A Rails shop: /checkout fails 30 % of the time for 20 min, each failure logged with
    `exception_line` under its request id; 0.5 % background 500s elsewhere all day."""
    import random

    rnd = random.Random(41)
    out: list[tuple[datetime, str]] = []
    t, i = T0, 0
    while t < T0 + timedelta(hours=4):
        path = ["/", "/cart", "/checkout", "/account"][i % 4]
        bad = T0 + timedelta(hours=2) <= t < T0 + timedelta(hours=2, minutes=20)
        fail = (bad and path == "/checkout" and rnd.random() < 0.3) or rnd.random() < 0.005
        rid = f"5e1f{i:08d}-aaaa-4bbb-8ccc-000000000000"
        out.append(
            _line(t, "heroku[router]", f'at=info method=POST path="{path}" '
                  f'host=store.herokuapp.com request_id={rid} fwd="9.9.9.9" dyno=web.{1 + i % 2} '
                  f"connect=0ms service=80ms status={500 if fail else 200} bytes=10 "
                  "protocol=https")
        )  # fmt: skip
        if fail:
            line = exception_line if bad and path == "/checkout" else "NoMethodError (undefined)"
            out.append(_line(t, f"app[web.{1 + i % 2}]", f"F, [x] FATAL -- : [{rid}] {line}"))
        t, i = t + timedelta(seconds=rnd.uniform(0.1, 0.5)), i + 1
    return out


def test_a_route_failing_on_an_unreachable_dependency_is_advised_to_guard_the_calls(
    tmp_path: Path,
) -> None:
    line = "Stripe::APIConnectionError (Could not connect to Stripe (https://api.stripe.com).)"
    con = open_dataset(_dataset(tmp_path, _route_failing(line)))
    (inc,) = [i for i in build_incidents(con, collect_findings(con)) if i.kind == "request_errors"]
    assert inc.title == "Request errors on /checkout"
    (tip,) = [a for a in inc.advice if "could not reach" in a]
    assert "api.stripe.com" in tip and "circuit breaker" in tip


def test_a_route_failing_on_its_own_exception_is_advised_to_fix_it(tmp_path: Path) -> None:
    line = "NoMethodError (undefined method `total' for nil:NilClass)"
    con = open_dataset(_dataset(tmp_path, _route_failing(line)))
    (inc,) = [i for i in build_incidents(con, collect_findings(con)) if i.kind == "request_errors"]
    assert any(a.startswith("Fix what /checkout raises") and "NoMethodError" in a
               for a in inc.advice), inc.advice  # fmt: skip
    assert not any("could not reach" in a for a in inc.advice)


def _boot_failure_on_two_dynos() -> list[tuple[datetime, str]]:
    """v50 does not boot on either web dyno (a NameError at boot, so R10 three times each);
    the dynos wait in `starting` after their last crash, and the rollback's release boots
    them at 10:14. Requests get H10 meanwhile, and are served before and after."""
    out = [_line(T0, "app[api]", "Release v49 created by user dev@acme.io")]
    dep, rb = T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=14)
    out.append(_line(dep, "app[api]", "Release v50 created by user dev@acme.io"))
    out.append(_line(rb, "app[api]", "Rollback to v49 by user oncall@acme.io"))
    out.append(_line(rb, "app[api]", "Release v51 created by user oncall@acme.io"))
    for n in (1, 2):
        d, a = f"heroku[web.{n}]", f"app[web.{n}]"
        out.append(_line(T0 + timedelta(seconds=9), d, "State changed from starting to up"))
        for k, msg in enumerate(
            ("Restarting", "State changed from up to starting",
             "Stopping all processes with SIGTERM", "Process exited with status 143")
        ):  # fmt: skip
            out.append(_line(dep + timedelta(seconds=3 + k), d, msg))
        t = dep + timedelta(seconds=8)
        for _ in range(3):
            out += [
                _line(t, d, "Starting process with command `bundle exec puma`"),
                _line(t + timedelta(seconds=20), a, "/app/config/initializers/sidekiq.rb:3:in "
                      "`<main>': uninitialized constant Sidekiq::Web (NameError)"),
                _line(t + timedelta(seconds=60), d, "Error R10 (Boot timeout) -> Web process "
                      "failed to bind to $PORT within 60 seconds of launch"),
                _line(t + timedelta(seconds=60), d, "Stopping process with SIGKILL"),
                _line(t + timedelta(seconds=61), d, "Process exited with status 137"),
                _line(t + timedelta(seconds=61), d, "State changed from starting to crashed"),
                _line(t + timedelta(seconds=62), d, "State changed from crashed to starting"),
            ]  # fmt: skip
            t += timedelta(seconds=250)
        out.append(_line(rb + timedelta(seconds=5), d, "Starting process with command `puma`"))
        out.append(_line(rb + timedelta(seconds=12), d, "State changed from starting to up"))
    t, i = T0 + timedelta(seconds=30), 0
    while t < T0 + timedelta(hours=3):
        down = dep + timedelta(seconds=6) <= t < rb + timedelta(seconds=12)
        head = 'at=error code=H10 desc="App crashed"' if down else "at=info"
        dyno = "" if down else f"web.{1 + i % 2}"
        out.append(
            _line(t, "heroku[router]", f'{head} method=GET path="/" host=a.herokuapp.com '
                  f'request_id=b{i} fwd="1.1.1.1" dyno={dyno} connect=0ms service=40ms '
                  f"status={503 if down else 200} bytes=10 protocol=https")
        )  # fmt: skip
        t, i = t + timedelta(seconds=2), i + 1
    return out


def test_a_deploy_no_web_dyno_can_boot_is_one_story_and_the_rollback_is_not_blamed(
    tmp_path: Path,
) -> None:
    from forensics.analyses.lifetimes import lifetimes

    con = open_dataset(_dataset(tmp_path, _boot_failure_on_two_dynos()))
    incs = build_incidents(con, collect_findings(con))
    boot = [i for i in incs if i.kind == "boot_timeout"]
    assert len(boot) == 1, [i.title for i in incs]
    assert boot[0].title == "Failing deploy: web.1, web.2 could not boot"
    # the lifetimes that came up at 10:14 run the rollback's release, not v50's: after the
    # deploy v50 is the release that failed, and nothing later is credited to it
    lt = lifetimes(con)
    last = lt.filter(pl.col("start") >= T0 + timedelta(hours=1, minutes=9))
    assert set(last["release"].to_list()) == {"v51"}, last.select("dyno", "start", "release")
    regs = [m.finding for i in incs for m in i.members if m.finding.kind == "release_regression"]
    assert all(r.release == "v50" for r in regs)
    assert not any(r.release == "v51" for r in regs)
