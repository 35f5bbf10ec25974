"""Grouping rules: which findings tell one story. Each rule has a name the output shows.

Findings are taken in root order (`ROOT_ORDER`: causes before consequences, then by start).
Each finding joins the first incident for which a rule accepts it, else it starts its own.
Rules look at the incident's members, so a crash can join an outage through its crash loop.

- `leak_continues`: the same leak (app, process type, route) on a later release; with another
  route blamed, on the release right after a leaking one.
- `leak_episode`: an R14/R15 episode (memory_quota) on a dyno of a leak of the same process
  type and release (or inside the leak's span).
- `leak_crash`: a crash caused by R14/R15 (or exit 137) on a leaking dyno inside the leak's span.
- `leak_regression`: the release regression of the leaking release on memory (growth, R14, R15).
- `regression_during`: a release regression on request numbers (service time, 5xx, H12 rates)
  of a release in whose span an outage, a hung dyno, a timeout hotspot or a request-error
  burst of the incident (root or member) happened: the release's numbers are that incident's
  (whether the release caused it or only ran while it happened, one story; its trigger says
  which release).
- `leak_concurrency`: concurrency too high for the memory on the leaking process type.
- `deploy_failure`: other dynos' boot failures, crash loops, crashes, downtime, worker_down,
  request errors and R14/R15 episodes (memory over quota during boot) overlapping a boot
  failure (boot_timeout) on the same process type.
- `outage`: crashes, crash loops, worker errors, request errors of the same dyno (or, for
  request errors, a web outage) overlapping a downtime / worker_down / crash loop of the
  incident (its root, or a member: an outage inside a failing deploy's story), with `SLACK`
  either side (request errors on a route: inside the outage's span, and on a hung dyno's
  dynos); R14/R15 episodes of a dyno that start inside its downtime (over quota while it boots); a
  dyno's downtime and its process type's overlapping one; two dynos of the type down at once
  (unless their crash reasons differ); and a later outage of the same dyno or type with the
  same crash reason (a recurrence).
- `leak_restart`: the short downtime of a leaking dyno that R15 killed (the platform's
  restart; known by its R15 crash or episode, or by its shape: minutes, opened by a crash
  that printed no reason), its process type's window and the app-wide H10s meanwhile, inside
  the leak's story.
- `r15_kill`: the crash with cause R15 on the dyno of an R15 episode within a minute.
- `quota_episodes`: R14/R15 episodes of the same process type and release with no leak.
- `hotspot_route`: near-limit requests (offload_candidate) on the route of an H12 hotspot of
  the incident (its root's, or one that spread to: every route slow after a deploy is one).
- `hotspot_spread`: an H12 hotspot on another route of the same dynos in an overlapping window
  (or on the same route again within `SLACK`; or on any dynos while the database was busy in
  both: the database is what they share), and request errors with H12 codes in the window.
- `errors_shared_cause`: request errors on other routes, overlapping, whose top exception is
  the same (every route that queries the database failing with its connection error).
- `recurring_blips`: short (<= 2 min) app-wide request-error bursts with the same codes,
  recurring (restarts or deploys without preboot): one incident listing each time.
- `r12_deploy`: R12s (unclean_shutdown) of other dynos, and app-wide request errors (H10 while
  the dynos restart), within 2 min of an R12 at a deploy.
- `r12_again`: a later R12 of the same process type, at any time: a process that does not exit
  within the shutdown window on SIGTERM is cut off at every restart and deploy, one pattern
  told once with each time in its timeline (src-012: four deploys, four R12s).
- `errors_again`: request errors on the same route within `SLACK` of the incident's (a burst
  ends at the next success: a route failing 60-90 % of the time is many bursts).
- `lost_files`: request errors whose exception is a missing file (or, with no exception tied
  to them, that failed on its dynos at the seconds a file was missing), inside the span of an
  ephemeral_files finding (the users' side of files lost on restart).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from forensics.findings import Finding
from forensics.incidents.ids import finding_id, incident_id
from forensics.incidents.model import Incident, Member

SLACK = timedelta(minutes=10)
ROOT_ORDER = {
    "memory_leak": 0,
    "boot_timeout": 1,
    "downtime": 2,
    "worker_down": 2,
    "crash_loop": 3,
    "hung_dyno": 3,
    "timeout_hotspot": 4,
    "unclean_shutdown": 5,
    "release_regression": 6,
    "memory_quota": 7,
    "crash": 8,
    "ephemeral_files": 8,  # before the request errors its lost files caused
    "offload_candidate": 9,
    "request_errors": 9,
    "release_phase_failed": 9,
    "job_failed": 9,
    "worker_errors": 9,
}
DOWN_KINDS = ("downtime", "worker_down", "crash_loop", "hung_dyno")
MEMORY_METRICS = ("memory_slope_mb_h", "r14_per_hour", "r15_per_hour")
Rule = Callable[[Incident, Finding], bool]


def _overlap(a: Finding, b: Finding, slack: timedelta = SLACK) -> bool:
    if not (a.start and b.start):
        return False
    a_end, b_end = a.end or a.start, b.end or b.start
    return a.start - slack <= b_end and b.start - slack <= a_end


def _dynos(f: Finding) -> set[str]:
    ev = f.evidence.get("dynos") or f.evidence.get("by_dyno") or []
    out = set(ev) if isinstance(ev, list | dict) else set()
    return out | ({f.dyno} if f.dyno else set())


def _same_place(a: Finding, b: Finding) -> bool:
    """Same dyno when both name one, else the same process type."""
    if a.dyno and b.dyno:
        return a.dyno == b.dyno
    da, db = _dynos(a), _dynos(b)
    if da and db and da & db:
        return True
    return bool(a.process_type) and a.process_type == b.process_type


def _root(inc: Incident, *kinds: str) -> Finding | None:
    return inc.root if inc.root.kind in kinds else None


def _memory_cause(f: Finding) -> bool:
    causes = {str(c) for c in f.evidence.get("causes") or []}
    reason = f.evidence.get("reason") or {}
    text = str(reason.get("text") or "") if isinstance(reason, dict) else ""
    return (
        bool(causes & {"R14", "R15"})
        or 137 in (f.evidence.get("exit_statuses") or [])
        or ("R15" in text or "memory" in text.lower())
    )


def _leaks(inc: Incident) -> list[Finding]:
    """The leak findings of a leak incident (its root and the same leak on later releases)."""
    if inc.root.kind != "memory_leak":
        return []
    return [m.finding for m in inc.members if m.finding.kind == "memory_leak"]


def leak_episode(inc: Incident, f: Finding) -> bool:
    if f.kind != "memory_quota":
        return False
    for leak in _leaks(inc):
        if f.process_type != leak.process_type:
            continue
        same_rel = f.release == leak.release or _overlap(leak, f, timedelta(0))
        if same_rel and (not _dynos(leak) or f.dyno in _dynos(leak)):
            return True
    return False


def leak_continues(inc: Incident, f: Finding) -> bool:
    """The same leak on a later release (same app, process type and blamed route, or no route
    named on either): one leak that shipped on and on, not a new incident per release."""
    leak = _root(inc, "memory_leak")
    if not (leak and f.kind == "memory_leak" and f.app == leak.app):
        return False
    if f.process_type != leak.process_type:
        return False
    if f.route == leak.route or not (f.route and leak.route):
        return True
    # another route blamed, but the next release right after a leaking one (its lifetimes
    # start where theirs ended): the attribution wavers, the leak goes on
    return any(_overlap(m, f, timedelta(minutes=1)) for m in _leaks(inc))


def leak_crash(inc: Incident, f: Finding) -> bool:
    if f.kind != "crash" or not _memory_cause(f):
        return False
    return any(
        f.process_type == leak.process_type
        and (not _dynos(leak) or f.dyno in _dynos(leak))
        and _overlap(leak, f)
        for leak in _leaks(inc)
    )


def leak_regression(inc: Incident, f: Finding) -> bool:
    metrics = {r.get("metric") for r in f.evidence.get("regressions") or []}
    return bool(
        f.kind == "release_regression"
        and f.release in {leak.release for leak in _leaks(inc)}
        and metrics & set(MEMORY_METRICS)
    )


REQUEST_ROOTS = ("downtime", "crash_loop", "hung_dyno", "timeout_hotspot", "request_errors")


def regression_during(inc: Incident, f: Finding) -> bool:
    if f.kind != "release_regression" or inc.root.kind == "memory_leak":
        return False
    metrics = {r.get("metric") for r in f.evidence.get("regressions") or []}
    if not metrics - set(MEMORY_METRICS) or inc.root.app != f.app:
        return False
    return any(
        m.finding.kind in REQUEST_ROOTS and _overlap(m.finding, f, timedelta(0))
        for m in inc.members
    )


def leak_concurrency(inc: Incident, f: Finding) -> bool:
    leak = _root(inc, "memory_leak")
    verdict = f.evidence.get("verdict")
    return bool(
        leak
        and f.kind == "concurrency"
        and f.process_type == leak.process_type
        and verdict in ("too_high_for_memory", "both")
    )


def deploy_failure(inc: Incident, f: Finding) -> bool:
    boot = _root(inc, "boot_timeout")
    kinds = (
        "boot_timeout",  # the other dynos of the type failing to boot on the same deploy
        "crash_loop",
        "crash",
        "downtime",
        "worker_down",
        "request_errors",
        "hung_dyno",
        "memory_quota",  # over quota while booting: often why the boot failed
    )
    if not boot or f.kind not in kinds or not _overlap(boot, f):
        return False
    if f.kind == "request_errors":
        return boot.process_type in (None, "web")
    return f.process_type == boot.process_type or _same_place(boot, f)


def _reason_key(f: Finding) -> str | None:
    reason = f.evidence.get("reason")
    return reason.get("key") if isinstance(reason, dict) else None


def _down_together(d: Finding, f: Finding) -> bool:
    """Two outage findings of one story: the same dyno, or a dyno and its whole process type
    (or two windows of the type), overlapping; or the same dyno / type failing again later
    for the same crash reason (a recurrence, not a new incident)."""
    if d.app != f.app or d.process_type != f.process_type:
        return False
    same_place = d.dyno == f.dyno or d.dyno is None or f.dyno is None
    if same_place and _overlap(d, f, timedelta(0)):
        return True
    key, other = _reason_key(d), _reason_key(f)
    if _overlap(d, f, timedelta(0)) and (key == other or not (key and other)):
        return True  # two dynos of the type down at once (a failing release): one outage
    return bool(key) and key == other and same_place


def _inside(d: Finding, f: Finding) -> bool:
    """`f` starts inside outage `d`'s window (no slack: a dyno's R14 while it boots)."""
    return bool(d.start and f.start and d.start <= f.start <= (d.end or d.start))


def _part_of(d: Finding, errors: Finding) -> bool:
    """Request errors that are the users' side of outage `d`: app-wide ones (H10, H13...), or
    on a route, within the outage's span (`SLACK` either side); for a hung dyno, those on its
    dynos with the codes it was stuck on. A route failing for hours across a three-minute hang,
    or the H10s of a restart meanwhile, are stories of their own."""
    if d.kind == "hung_dyno":  # its own stuck codes on its dynos, not H10s or the app's 500s
        return bool(_dynos(d) & _dynos(errors)) and bool(_codes(d) & _codes(errors))
    if errors.route is None:
        return True
    if not (d.start and errors.start):
        return False
    end = (d.end or d.start) + SLACK
    return d.start - SLACK <= errors.start and (errors.end or errors.start) <= end


def outage(inc: Incident, f: Finding) -> bool:
    # the outage may have joined another root (a failing deploy's boot timeout): its crashes,
    # over-quota boots and request errors join it wherever it sits
    downs = [m.finding for m in inc.members if m.finding.kind in DOWN_KINDS]
    kinds = ("crash", "request_errors", "memory_quota", "worker_errors", *DOWN_KINDS)
    if not downs or f.kind not in kinds or inc.root.kind == "memory_leak":
        return False
    for d in downs:
        if f.kind == "request_errors":
            if d.process_type == "web" and _overlap(d, f) and _part_of(d, f):
                return True
        elif f.kind == "memory_quota":
            if d.kind == "downtime" and _same_place(d, f) and _inside(d, f):
                return True
        elif (f.kind in DOWN_KINDS and _down_together(d, f)) or (
            f.dyno and d.dyno == f.dyno and _overlap(d, f)
        ):
            return True
    return False


LEAK_RESTART = timedelta(minutes=5)


def leak_restart(inc: Incident, f: Finding) -> bool:
    """The short downtime of a leaking dyno killed by R15 (the platform restarts it): part of
    the leak's story, not an outage of its own; so is its process type's window (the only
    dyno) and the H10s users got meanwhile. Known by the R15 crash or episode already in the
    incident, or, before those join, by its shape: a crash-opened window of a leaking dyno,
    inside the leak, of minutes, whose crash printed no reason (an R15 kill prints none)."""
    leaks = _leaks(inc)
    if not leaks:
        return False
    downs = [m.finding for m in inc.members if m.finding.kind == "downtime"]
    if f.kind == "request_errors":
        return f.route is None and any(_overlap(d, f, timedelta(minutes=1)) for d in downs)
    if f.kind != "downtime":
        return False
    if any(_overlap(d, f, timedelta(0)) and d.process_type == f.process_type for d in downs):
        return True
    dynos = {f.dyno} if f.dyno else set(f.evidence.get("dynos") or [])
    if not f.dyno and not dynos:
        return False
    if any(
        m.finding.kind in ("crash", "memory_quota")
        and m.finding.dyno in dynos
        and (m.finding.kind == "crash" or m.finding.evidence.get("code") == "R15")
        and _overlap(m.finding, f, timedelta(minutes=1))
        for m in inc.members
    ):
        return True
    short = f.start and f.end and f.end - f.start <= LEAK_RESTART
    return bool(
        short
        and f.evidence.get("opened_by") == "crash"
        and not f.evidence.get("reason")
        and any(
            leak.process_type == f.process_type
            and dynos <= (_dynos(leak) or dynos)
            and _overlap(leak, f, timedelta(minutes=1))
            for leak in leaks
        )
    )


def r15_kill(inc: Incident, f: Finding) -> bool:
    if f.kind != "crash" or not _memory_cause(f):
        return False
    return any(
        m.finding.kind == "memory_quota"
        and m.finding.evidence.get("code") == "R15"
        and m.finding.dyno == f.dyno
        and _overlap(m.finding, f, timedelta(minutes=1))
        for m in inc.members
    )


def quota_episodes(inc: Incident, f: Finding) -> bool:
    root = _root(inc, "memory_quota")
    return bool(
        root
        and f.kind == "memory_quota"
        and f.app == root.app
        and f.process_type == root.process_type
        and f.release == root.release
    )


def hotspot_route(inc: Incident, f: Finding) -> bool:
    if not _root(inc, "timeout_hotspot") or f.kind != "offload_candidate":
        return False
    hot = [m.finding for m in inc.members if m.finding.kind == "timeout_hotspot"]
    return any(h.route == f.route for h in hot)


def hotspot_spread(inc: Incident, f: Finding) -> bool:
    hot = _root(inc, "timeout_hotspot")
    if not hot or not _overlap(hot, f):
        return False
    if f.kind == "timeout_hotspot":
        if f.route == hot.route:  # the same route timing out again within SLACK
            return f.app == hot.app
        return bool(_dynos(hot) & _dynos(f)) or (_db_busy(hot) and _db_busy(f))
    if f.kind == "request_errors":
        return "H12" in _codes(f) and (
            f.route in (None, hot.route) or bool(_dynos(hot) & _dynos(f))
        )
    return False


def _db_busy(f: Finding) -> bool:
    """The database was busy during `f` (a hotspot's `evidence.database`)."""
    d = f.evidence.get("database")
    return isinstance(d, dict) and bool(d.get("busy"))


BLIP = timedelta(minutes=2)


def _codes(f: Finding) -> set[str]:
    """The error codes of a finding's evidence: a {code: n} dict, a list of codes, or a list
    of {code, count} records."""
    raw = f.evidence.get("codes") or {}
    if isinstance(raw, dict):
        return {str(k) for k in raw}
    return {str(c.get("code")) if isinstance(c, dict) else str(c) for c in raw}


def _blip(f: Finding) -> bool:
    """A short app-wide burst of failed requests (the router's H10/H13... for a minute)."""
    return bool(
        f.kind == "request_errors"
        and f.route is None
        and f.start
        and (f.end or f.start) - f.start <= BLIP
    )


def recurring_blips(inc: Incident, f: Finding) -> bool:
    """Short app-wide bursts with the same codes, again and again (typically every restart or
    deploy without preboot): one pattern, told once with each time in its timeline."""
    root = inc.root
    return _blip(root) and _blip(f) and f.app == root.app and _codes(f) == _codes(root)


def r12_deploy(inc: Incident, f: Finding) -> bool:
    """Other R12s of the same restart, and the requests that failed app-wide (H10, H13...)
    while the dynos restarted: one deploy's story."""
    root = _root(inc, "unclean_shutdown")
    if not root or not _overlap(root, f, timedelta(minutes=2)):
        return False
    if f.kind == "unclean_shutdown":
        return True
    return f.kind == "request_errors" and f.route is None and f.app == root.app


def r12_again(inc: Incident, f: Finding) -> bool:
    root = _root(inc, "unclean_shutdown")
    return bool(
        root
        and f.kind == "unclean_shutdown"
        and f.app == root.app
        and (f.process_type or "") == (root.process_type or "")
    )


def errors_again(inc: Incident, f: Finding) -> bool:
    """The same route failing again within `SLACK` (a burst ends at the next success, so an
    error rate of 60-90 % is many bursts): one incident, each burst in its timeline."""
    root = _root(inc, "request_errors")
    if not root or f.kind != "request_errors" or not f.route or f.route != root.route:
        return False
    return f.app == root.app and any(
        m.finding.kind == "request_errors" and _overlap(m.finding, f) for m in inc.members
    )


def _top_exception(f: Finding) -> str | None:
    exc = f.evidence.get("exceptions") or []
    return str(exc[0].get("exception")) if exc and exc[0].get("exception") else None


def errors_shared_cause(inc: Incident, f: Finding) -> bool:
    """Request errors on another route at the same time with the same exception (every route
    that queries the database failing with its connection error): one cause, one incident."""
    root = _root(inc, "request_errors")
    if not root or f.kind != "request_errors" or f.app != root.app:
        return False
    exc = _top_exception(f)
    return exc is not None and any(
        m.finding.kind == "request_errors"
        and _top_exception(m.finding) == exc
        and _overlap(m.finding, f, timedelta(0))
        for m in inc.members
    )


LOST_SLACK = timedelta(seconds=2)
_MISSING = ("ENOENT", "No such file", "FileNotFound", "NoSuchFile", "could not read file")


def lost_files(inc: Incident, f: Finding) -> bool:
    """The failed requests whose exception is the missing file (500s of a download route),
    inside the span of an ephemeral_files finding: the users' side of the lost files."""
    root = _root(inc, "ephemeral_files")
    if not root or f.kind != "request_errors" or not _overlap(root, f):
        return False
    reason = f.evidence.get("reason") or {}
    said = [str(reason.get("text") or "")] if isinstance(reason, dict) else []
    said += [str(e.get("exception") or "") for e in f.evidence.get("exceptions") or []]
    if f.app == root.app and any(w in t for t in said for w in _MISSING):
        return True
    # no exception tied to the requests (no request ids in the app's lines): the failures at
    # the very seconds the app said a file was missing, on those dynos
    if not (f.start and _dynos(f) & _dynos(root)):
        return False
    lo, hi = f.start - LOST_SLACK, (f.end or f.start) + LOST_SLACK
    times = [datetime.fromisoformat(t) for t in root.evidence.get("times") or []]
    return f.app == root.app and any(lo <= t <= hi for t in times)


RULES: tuple[Rule, ...] = (
    leak_continues,
    leak_episode,
    leak_crash,
    leak_regression,
    regression_during,
    leak_concurrency,
    deploy_failure,
    outage,
    leak_restart,
    r15_kill,
    quota_episodes,
    hotspot_route,
    hotspot_spread,
    r12_deploy,
    r12_again,
    recurring_blips,
    errors_again,
    errors_shared_cause,
    lost_files,
)


def _order(f: Finding) -> tuple:
    return (ROOT_ORDER.get(f.kind, 10), f.start.timestamp() if f.start else math.inf, finding_id(f))


def _rule(inc: Incident, f: Finding) -> Callable[[Incident, Finding], bool] | None:
    """The first rule that joins `f` to `inc`; never across apps (a dataset may hold several)."""
    if f.app != inc.app:
        return None
    return next((r for r in RULES if r(inc, f)), None)


def group(findings: list[Finding]) -> list[Incident]:
    """Each finding in exactly one incident; the first finding of an incident is its root.

    A second pass offers each incident still made of its root alone to the others, now that
    they are complete (a short downtime is taken before the crashes that explain it)."""
    incidents: list[Incident] = []
    for f in sorted(findings, key=_order):
        fid = finding_id(f)
        for inc in incidents:
            rule = _rule(inc, f)
            if rule:
                inc.members.append(Member(f, fid, rule.__name__))
                break
        else:
            incidents.append(Incident(incident_id(f), f.kind, f.app, [Member(f, fid, "root")]))
    for alone in [i for i in incidents if len(i.members) == 1]:
        f = alone.root
        for inc in incidents:
            rule = None if inc is alone else _rule(inc, f)
            if rule:
                inc.members.append(Member(f, alone.members[0].id, rule.__name__))
                incidents.remove(alone)
                break
    return incidents
