"""Title, cause and timeline sentences of an incident."""

from __future__ import annotations

import re

from forensics.findings import Source
from forensics.findings.request_errors import said
from forensics.incidents.model import Change, Incident, Step

TITLES = {
    "memory_leak": "Memory leak on {where} from {release}",
    "boot_timeout": "Failing deploy: {where} could not boot",
    "downtime": "{where} down",
    "worker_down": "{where} crashed and stayed down",
    "crash_loop": "{where} crash-looped",
    "timeout_hotspot": "Request timeouts (H12) on {route}",
    "unclean_shutdown": "Work cut off at shutdown (R12) on {where}",
    "release_regression": "Release {release} regressed",
    "memory_quota": "Memory over quota on {where}",
    "release_phase_failed": "Release phase of {release} failed",
    "worker_errors": "{where} kept failing",
}
JOB_KINDS = ("job_failed", "release_phase_failed")
# Request-error roots made of the router's own page (`evidence.router_page`).
PAGE_TITLES = {
    "H80": "Maintenance mode",
    "H81": "Blank app: no code deployed",
    "H82": "Free dyno hours used up",
}
# Root kinds told by their command (`job_failed`): a one-off dyno's name says nothing.
BY_COMMAND = {
    "scheduler": "Scheduled job {command} failed",
    None: "One-off command {command} failed",
}
# Root kinds told by their route when they have one (the dynos that served it say little).
BY_ROUTE = {"request_errors": "Request errors on {route}"}


def title(inc: Incident) -> str:
    r = inc.root
    where = ", ".join(inc.dynos) if 0 < len(inc.dynos) <= 3 else r.process_type or "the app"
    text = TITLES.get(r.kind, r.kind.replace("_", " ").capitalize() + " on {where}")
    if r.route and r.kind in BY_ROUTE:
        text = BY_ROUTE[r.kind]
    routes = _routes_of(inc, "timeout_hotspot")
    if r.kind == "timeout_hotspot" and len(routes) > 1:
        return f"Request timeouts (H12) on {len(routes)} routes" + _after_release(inc)
    failing = _routes_of(inc, "request_errors")
    if r.kind == "request_errors" and len(failing) > 1:
        return f"Request errors on {len(failing)} routes"
    if r.kind == "request_errors" and r.evidence.get("router_page") in PAGE_TITLES:
        return PAGE_TITLES[r.evidence["router_page"]]
    if r.kind == "request_errors" and not r.route:  # H10/H13/H14...: the app, not a dyno
        codes = ", ".join(str(c) for c in list(r.evidence.get("codes") or {})[:3])
        text = "Requests failing across the app" + (f" ({codes})" if codes else "")
    if r.kind == "job_failed":
        cmd = r.evidence.get("command")
        text = BY_COMMAND.get(r.process_type, BY_COMMAND[None]).format(
            command=f"`{cmd}`" if cmd else f"on {where}"
        )
        n = int(r.evidence.get("failed") or 1)
        return text + (f", {n} times" if n > 1 else "")
    text = text.format(where=where, release=r.release or "?", route=r.route or "?")
    if r.kind in RECURRING:  # one pattern again and again (r12_again, recurring_blips...)
        times = len({m.finding.start for m in inc.members if m.finding.kind == r.kind})
        if times > 1:
            text += f", {times} times"
    return text


# Root kinds whose incident may hold the same kind again at other times.
RECURRING = ("unclean_shutdown", "request_errors")


def _routes_of(inc: Incident, kind: str) -> list[str]:
    """The routes of the incident's findings of `kind`, root's first."""
    out: list[str] = []
    for m in inc.members:
        f = m.finding
        if f.kind == kind and f.route and f.route not in out:
            out.append(f.route)
    return out


def _after_release(inc: Incident) -> str:
    reg = inc.trigger_regression()
    return f" after release {reg.release}" if reg else ""


def cause(inc: Incident) -> tuple[str, list]:
    """A sentence naming the crash reason or the leaking route, with its sources."""
    for m in inc.members:
        reason = m.finding.evidence.get("reason")
        if isinstance(reason, dict) and reason.get("text"):
            where = m.finding.dyno or m.finding.process_type or "The dyno"
            died = "kept failing" if m.finding.kind == "worker_errors" else "died"
            if m.finding.kind in JOB_KINDS:
                cmd = m.finding.evidence.get("command")
                where = f"`{cmd}`" if cmd else f"The release command of {m.finding.release}"
                died = "failed"
            loc = f" ({reason['location']})" if reason.get("location") else ""
            srcs = [
                Source(x["file"], int(x["first_line"]), int(x["last_line"]))
                for x in reason.get("sources") or []
            ]
            return (
                f"{where} {died}: {str(reason['text']).rstrip('.')}{loc}.",
                srcs or m.finding.sources[:3],
            )
    r = inc.root
    off = _scaled_off(inc)
    if off:
        return off
    failing = _routes_of(inc, "request_errors")
    if r.kind == "request_errors" and len(failing) > 1:
        return _errors_cause(inc, failing), r.sources[:3]
    routes = _routes_of(inc, "timeout_hotspot")
    if r.kind == "timeout_hotspot" and len(routes) > 1:
        # every route slow at once: the release (or whatever they share), not one route's code
        reg = inc.trigger_regression()
        h12 = int((inc.impact or {}).get("h12") or 0)
        shown = ", ".join(routes[:4]) + (f" and {len(routes) - 4} more" if len(routes) > 4 else "")
        text = f"Requests timed out (H12{f' x{h12}' if h12 else ''}) on {shown} at once"
        if reg:
            head = "; ".join(reg.summary.split(": ", 1)[-1].split("; ")[:2])
            text += f", from release {reg.release} on ({head})"
            return text + ".", reg.sources[:3]
        load = _load(inc)
        if load:
            return text + load[0] + ".", load[1] + r.sources[:3]
        return text + ": something they share (the database, a dependency, the dynos).", r.sources[
            :3
        ]
    load = _load(inc) if r.kind == "timeout_hotspot" and not inc.trigger_regression() else None
    if load:
        return r.summary.split(": ")[0] + load[0] + ".", load[1] + r.sources[:3]
    first = r.summary.split(": ")[0] if r.kind != "memory_leak" else r.summary.split("; ")[0]
    if r.kind == "memory_leak" and r.route:
        first += f"; the route that keeps memory is {r.route}"
    return first.rstrip(".") + ".", r.sources[:3]


def _load(inc: Incident) -> tuple[str, list[Source]] | None:
    """What its timeouts came with, said after them (a traffic surge, a busy database) and the
    database's lines, or None when neither."""
    surge, db = inc.surge(), inc.busy_database()
    if not (surge or db):
        return None
    said = (_surge_text(surge) if surge else "") + (_db_text(db) if db else "")
    return said, _db_sources(db)


def _surge_text(t: dict) -> str:
    """`while the app got 5.0x ...`: a traffic surge told with its rates."""
    return (
        f", while the app got {t['ratio']:.1f}x the requests of the hour before "
        f"({t['per_minute']:.0f}/min against {t['before_per_minute']:.0f}/min): more than its "
        "web dynos could serve in time"
    )


def _db_sources(d: dict | None) -> list[Source]:
    """The slowest runs of the database's top statement, as sources of the cause."""
    return [
        Source(x["file"], int(x["first_line"]), int(x["last_line"]))
        for x in (d or {}).get("statement_sources") or []
    ]


def _db_text(d: dict) -> str:
    """`; the database was slow: ...`: what Heroku Postgres logged, against the hour before."""
    parts = []
    if d.get("slow_statements"):
        n, top = int(d["slow_statements"]), d.get("top_statement")
        part = (
            f"it logged {n} statements of 2 s or more ({d['before_slow_statements']} in the "
            f"hour before; the slowest took {d['slowest_ms'] / 1000:.1f} s)"
        )
        if top:
            part += f", {d['top_statement_count']} of them `{top}`"
        parts.append(part)
    if d.get("load_avg_1m") is not None and d.get("load_avg_1m_before") is not None:
        parts.append(
            f"its load average was {d['load_avg_1m']:.1f} ({d['load_avg_1m_before']:.1f} before)"
        )
    if d.get("waiting_connections"):
        parts.append(f"{d['waiting_connections']:.0f} connections waited")
    return "; the database was slow: " + ", ".join(parts)


def _errors_cause(inc: Incident, routes: list[str]) -> str:
    """Several routes failing at once: how many requests, where, and what the app logged."""
    errs = [m.finding for m in inc.members if m.finding.kind == "request_errors"]
    n = sum(int(f.evidence.get("count") or 0) for f in errs)
    shown = ", ".join(routes[:4]) + (f" and {len(routes) - 4} more" if len(routes) > 4 else "")
    text = f"{n:,} requests to {shown} failed at once"
    top = (errs[0].evidence.get("exceptions") or [None])[0]
    if top:
        same = sum(
            int(e.get("count") or 0)
            for f in errs
            for e in (f.evidence.get("exceptions") or [])[:1]
            if e.get("exception") == top.get("exception")
        )
        text += f"; the app logged {said(top)} for {same:,} of them"
    return text + "."


_WEB_ZERO = re.compile(r"\bweb(?:@|=)0\b")


def _scaled_off(inc: Incident) -> tuple[str, list] | None:
    """H14s after someone scaled web to 0: that is why (on purpose, not a crash)."""
    r, t = inc.root, inc.trigger
    codes = r.evidence.get("codes") or {}
    if r.kind != "request_errors" or "H14" not in codes or not t or t.kind != "scale":
        return None
    if not _WEB_ZERO.search(t.summary):
        return None
    who = f" by {t.user}" if t.user else ""
    return (
        f"web was scaled to 0{who} at {t.ts:%H:%M} UTC: requests got H14 (no web processes "
        "running) until web ran again.",
        [t.source] if t.source else r.sources[:3],
    )


def timeline(inc: Incident) -> list[Step]:
    """The trigger, each member's finding and the resolving change, in time order."""
    steps = []
    if inc.trigger:
        steps.append(_change_step(inc.trigger, ""))
    for m in inc.members:
        f = m.finding
        text = f.summary if len(f.summary) <= 160 else f.summary[:157] + "..."
        steps.append(Step(f.start, text, f.sources[:3]))
    if inc.resolved_by:
        steps.append(_change_step(inc.resolved_by, "resolved by "))
    return sorted(steps, key=lambda s: s.ts.timestamp() if s.ts else float("inf"))


def _change_step(c: Change, prefix: str) -> Step:
    """The step of a change (the trigger, or with `resolved by ` the change that ended it)."""
    what = " ".join(x for x in (c.kind, c.release or c.command) if x)
    return Step(c.ts, f"{prefix}{what}: {c.summary}".strip(), [c.source] if c.source else [])
