"""Incidents: findings grouped into stories (root cause plus consequences), ranked by cost.

`build_incidents(con, findings)` groups (see `group`), finds what triggered and resolved each
incident in the events table (see `changes`), measures its impact (see `impact`) and writes its
title, cause, timeline (see `story`) and advice (see `advice`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from forensics.findings import SEVERITY_RANK, Finding
from forensics.incidents import advice as _advice
from forensics.incidents import changes as _changes
from forensics.incidents import story
from forensics.incidents.group import group
from forensics.incidents.ids import finding_id
from forensics.incidents.impact import impact
from forensics.incidents.markdown import incidents_markdown
from forensics.incidents.model import Change, Incident
from forensics.incidents.text import incidents_text

__all__ = [
    "Change",
    "Incident",
    "build_incidents",
    "finding_id",
    "incidents_markdown",
    "incidents_text",
]
ONGOING_SLACK = timedelta(minutes=5)


def _events(con: Any) -> tuple[pl.DataFrame, dict[Any, Any]]:
    """The events table, and each app's last time (an incident is ongoing when it lasts to
    the end of its own app's log, not of another app's in the same dataset)."""
    from forensics.store.views import query

    ev = query(
        con,
        'SELECT ts, app, dyno, kind, release, "user", command, message, '
        "source_file, line_no FROM events WHERE kind <> 'memory'",
    )
    union = " UNION ALL ".join(
        f"SELECT app, max(ts) AS ts FROM {t} GROUP BY app"
        for t in ("events", "requests", "dyno_metrics")
    )
    ends = query(con, f"SELECT app, max(ts) AS t FROM ({union}) GROUP BY app")
    return ev, dict(ends.iter_rows())


def build_incidents(
    con: Any,
    findings: list[Finding],
    *,
    events: pl.DataFrame | None = None,
    log_end: Any = None,
) -> list[Incident]:
    """Incidents from `findings`, most costly first. `events` / `log_end` (one time, or each
    app's) may be given instead of read from `con` (tests pass `con=None`)."""
    if events is None and con is not None:
        events, ends = _events(con)
        log_end = log_end or ends
    events = events if events is not None else pl.DataFrame()
    incidents = group(findings)
    for inc in incidents:
        fs = [m.finding for m in inc.members]
        inc.severity = min((f.severity for f in fs), key=SEVERITY_RANK.__getitem__)
        inc.process_types = sorted({f.process_type for f in fs if f.process_type})
        named = inc.root.evidence.get("dynos")  # a list of names (a concurrency row: a count)
        inc.dynos = sorted(
            {f.dyno for f in fs if f.dyno} | (set(named) if isinstance(named, list) else set())
        )
        starts = [f.start for f in fs if f.start]
        ends = [f.end or f.start for f in fs if f.start]
        inc.start, inc.end = min(starts, default=None), max(ends, default=None)
        end = _end_of(log_end, inc.app)
        inc.ongoing = any(
            f.evidence.get("ongoing") or f.evidence.get("stayed_down") for f in fs
        ) or bool(end and inc.end and inc.end >= end - ONGOING_SLACK)
        app_ev = events
        if not events.is_empty() and inc.app:
            app_ev = events.filter(pl.col("app").is_null() | (pl.col("app") == inc.app))
        ch = _changes.load_changes(app_ev)
        inc.impact = impact(inc)
        inc.trigger = _changes.trigger(inc, ch)
        inc.resolved_by = _changes.resolved_by(inc, ch, inc.trigger)
        inc.title = story.title(inc)
        inc.cause, inc.cause_sources = story.cause(inc)
        inc.timeline = story.timeline(inc)
        inc.advice = _advice.advice(inc)
    return sorted(incidents, key=lambda i: (-i.cost, SEVERITY_RANK[i.severity], i.id))


def _end_of(log_end: Any, app: Any) -> Any:
    """The end of `app`'s log: `log_end` itself, or its entry for the app (else the latest)."""
    if not isinstance(log_end, dict):
        return log_end
    known = [t for t in log_end.values() if t is not None]
    return log_end.get(app) or max(known, default=None)
