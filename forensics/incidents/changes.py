"""What changed around an incident, from the events table: the trigger just before its start
and the change that resolved it (between its last failure and the first success)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import polars as pl

from forensics.findings import Source
from forensics.heroku import SCHEDULER_USER
from forensics.incidents.model import Change, Incident

# events.kind -> Change.kind; `start` only counts for one-off dynos (`run.N`).
CHANGE_KINDS = {
    "release": "release",
    "rollback": "release",  # `Rollback to v41 by ...` is the release that rolled back
    "deploy": "deploy",
    "config_set": "config",
    "config_removed": "config",
    "scale": "scale",
    "restarting": "restart",
    "run_command": "one-off",
    "start": "one-off",
}
TRIGGER_KINDS = ("release", "deploy", "config", "scale")
# One-off commands that only look (logs, a shell, env): someone investigating, not a fix.
LOOKING = re.compile(
    r"^\s*(?:heroku\s+(?:logs|ps|releases|config(?!:set|:unset|:add|:remove))\b|"
    r"(?:ls|cat|less|more|tail|head|grep|env|printenv|echo|pwd|whoami|df|du|free|top|ps|uptime)\b)"
)
TRIGGER_WINDOW = timedelta(minutes=30)
RESOLVE_BEFORE = timedelta(minutes=10)
RESOLVE_AFTER = timedelta(minutes=30)
RELEASE_RESTART = timedelta(minutes=2)
EVENT_COLUMNS = (
    "ts",
    "app",
    "dyno",
    "kind",
    "release",
    "user",
    "command",
    "message",
    "source_file",
    "line_no",
)


def load_changes(events: pl.DataFrame) -> list[Change]:
    """Changes from an events frame, in time order; a release and its deploy line count once
    (as the release)."""
    if events.is_empty():
        return []
    ev = events.filter(pl.col("kind").is_in(list(CHANGE_KINDS))).sort("ts")
    out: list[Change] = []
    for r in ev.iter_rows(named=True):
        kind = CHANGE_KINDS[r["kind"]]
        dyno = r.get("dyno")
        if r["kind"] == "start" and not (dyno or "").startswith("run."):
            continue
        if kind == "restart" and (dyno or "").startswith("run."):
            continue
        if kind == "one-off" and LOOKING.match(r.get("command") or ""):
            continue  # `heroku run "heroku logs --tail | grep Error"`: looking, not changing
        if kind == "one-off" and (r.get("user") or "") == SCHEDULER_USER:
            continue  # Heroku Scheduler's routine run of a job: nobody changed anything
        src = None
        if r.get("line_no") is not None:
            src = Source(r.get("source_file") or "?", int(r["line_no"]), int(r["line_no"]))
        out.append(
            Change(
                kind,
                r["ts"],
                r.get("release"),
                dyno if dyno != "api" else None,
                r.get("command"),
                r.get("user"),
                r.get("message") or "",
                src,
            )
        )
    return out


def trigger(inc: Incident, changes: list[Change]) -> Change | None:
    """For a leak or regression, the release its lifetimes ran on; otherwise the last release,
    deploy, config change or scale at or up to `TRIGGER_WINDOW` before the start, or for a
    scheduled job since its last good run (none for a one-off command someone ran by hand)."""
    if inc.start is None:
        return None
    if inc.kind == "job_failed" and inc.root.process_type != "scheduler":
        return None  # a command someone ran by hand: nothing before it made it fail
    since = inc.start - TRIGGER_WINDOW
    ok = inc.root.evidence.get("success_before") if inc.kind == "job_failed" else None
    if ok:  # a scheduled job: what changed between its last good run and its first failure
        since = min(since, datetime.fromisoformat(ok))
    if inc.kind in ("memory_leak", "release_regression") and inc.root.release:
        rel = [c for c in changes if c.kind == "release" and c.release == inc.root.release]
        if rel:
            return rel[0]
    before = [c for c in changes if c.kind in TRIGGER_KINDS and since <= c.ts <= inc.start]
    if not before:
        return None
    last = before[-1]
    # a deploy and its release are logged together: name the release
    same = [
        c for c in before if c.kind == "release" and abs(c.ts - last.ts) <= timedelta(seconds=5)
    ]
    return same[-1] if same else last


def resolved_by(inc: Incident, changes: list[Change], exclude: Change | None) -> Change | None:
    """The change closest to the last failure, preferring one after it (up to `RESOLVE_AFTER`)
    over one before it (up to `RESOLVE_BEFORE`); a downtime's own `ended_by` wins. None while
    ongoing or for a leak."""
    if inc.ongoing or inc.end is None or inc.kind == "memory_leak":
        # a release or restart ends a leak's lifetimes without fixing it: not claimed
        return None
    for m in inc.members:
        ended = m.finding.evidence.get("ended_by") if m.finding.kind == "downtime" else None
        if isinstance(ended, dict) and ended.get("kind"):
            hit = [
                c
                for c in changes
                if c.kind == _kind(ended["kind"])
                and (not ended.get("release") or c.release == ended["release"])
                and abs(c.ts - inc.end) <= RESOLVE_AFTER
            ]
            if hit:
                return min(hit, key=lambda c: abs(c.ts - inc.end))
    near = [
        c
        for c in changes
        if c is not exclude
        and inc.end - RESOLVE_BEFORE <= c.ts <= inc.end + RESOLVE_AFTER
        and (inc.start is None or c.ts > inc.start)
    ]
    if exclude is not None:
        near = [
            c
            for c in near
            if not (
                c.kind == exclude.kind and c.release == exclude.release and c.release is not None
            )
        ]
    if not near:
        return None
    near = [c for c in near if not _part_of_release(c, changes)]
    if not near:
        return None
    after = [c for c in near if c.ts >= inc.end]
    rank = {"release": 0, "deploy": 1, "config": 2, "scale": 3, "one-off": 4, "restart": 5}
    pool = after or near
    first_ts = pool[0].ts if after else pool[-1].ts
    tied = [c for c in pool if abs(c.ts - first_ts) <= timedelta(seconds=5)]
    return min(tied, key=lambda c: rank.get(c.kind, 9))


def _part_of_release(c: Change, changes: list[Change]) -> bool:
    """A restart within `RELEASE_RESTART` after a release: the platform restarting the dynos
    onto it, part of that release, not a change of its own."""
    return c.kind == "restart" and any(
        r.kind == "release" and timedelta(0) <= c.ts - r.ts <= RELEASE_RESTART for r in changes
    )


def _kind(kind: str) -> str:
    return CHANGE_KINDS.get(kind, kind)
