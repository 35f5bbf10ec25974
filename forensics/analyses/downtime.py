"""Downtime: the windows in which a dyno (or a whole process type) was not `up` when it should
have been, what ended each one, and what the users got meanwhile.

Each formation dyno's platform lines are walked in time order (one-off dynos, run / scheduler
/ release, are left out: a failing one-off is not an outage). A window opens

- at a crash (`crashes` of the availability analysis: `to crashed`, a non-zero exit that is not
  an orderly stop) of a dyno that was up;
- at the stop request (`up -> starting`, `Restarting`, `Cycling`, SIGTERM) of a restart or
  deploy whose new process crashed before it was `up`, or that took longer than
  `restart_gap_seconds` to be `up` again (a normal restart's seconds are not downtime);
- at the start (`Starting process`, `crashed/down -> starting`) of a dyno that was not running
  (new, scaled up, unidling) and crashed before it was `up`, or never came `up` at all;
- at the log's first line (of the app, in any table) for a dyno whose first state change
  leaves `crashed`.

It closes at the first `up` that holds: an `up` followed by a crash of the same dyno within
`hold_seconds` is a failed boot (a restart attempt), not the end. A window that reaches the end
of the log without such an `up` is `ongoing` (end = the log's last time). A crashed dyno that
is then taken down on purpose (`to down`, scaled away) closes its window there.

Not downtime: `Idling` / `up -> down` / `Unidling` of a sleeping dyno, a dyno scaled to 0 or
stopped (`up -> down` without a crash: it is off, not down; such periods are left out of the
table), and restarts/cycling/deploys whose new process was up within `restart_gap_seconds`.

`ended_by` says what started the boot that held: the last `Release vN` / `Deploy` (`release`),
`Scaled to` (`scale`), `Restarting` / `Restart` by a user (`restart`) after the last failed boot
of the window (a dyno `Restarting` within a minute of a release or scale is that release or
scale); with none of those, the platform's own crash restart (`platform`); `stop` when the
window closed by the dyno being taken down. The platform retries a crashed dyno at once, then
after a growing cool-off (`forensics.heroku.CRASH_RESTART_BACKOFF_MINUTES`), so windows of
hours are common.

A web dyno that serves a request (below 500, no router error) after its last failed boot was
up even if its `up` line is missing (lost lines, partial exports): the window ends at that
request (`end_inferred`). When the log says it lost lines (an L10-L13 log-loss episode, "N
messages dropped since T", that began inside the window) and the dyno shows signs of life
after T (runtime metrics, its own output, a served request), its `up` is among the lost lines:
the window ends at T (`end_inferred`, `lost_until` the first sign of life), and a restart that
had not failed and so ends within `restart_gap_seconds` is no downtime (a deploy while Logplex
drops lines is not an outage).

A process-type row (dyno null) covers each time in which none of the type's dynos was up and
at least one was in a window. A dyno with no state lines at all (only requests, metrics or app
output) is taken to have been up the whole log.

For web windows, `failed_requests` counts the router's failed requests in the window (5xx and
H-codes other than the client's H27/H28/H31) served by that dyno or by none (H10, H14...), and
`failed_share` their share of those requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.availability import crashes, log_end, log_loss
from forensics.analyses.common import with_release
from forensics.analyses.lifetimes import DYNO_RE
from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import query, registered, sql_list
from forensics.heroku import CLIENT_CODES, ONE_OFF_TYPES, process_type

RESTART_GAP_SECONDS = 120
# An export with no line at all of the app for this long is not continuous (pasted excerpts, a
# drain that stopped): an ongoing window is not stretched across such a silence. Shorter ones
# are real (a quiet app whose only worker is dead logs nothing for a night).
SILENCE_SECONDS = 24 * 3600
HOLD_SECONDS = 60
# A dyno `Restarting` this close after a release or scale is that release or scale.
TRIGGER_SECONDS = 60
ENDED_BY = ("release", "restart", "scale", "platform", "stop")

_STATE_SQL = f"""
    SELECT app, dyno, ts, line_no, source_file, kind, from_state, to_state, signal
    FROM events
    WHERE dyno IS NOT NULL AND regexp_full_match(dyno, '{DYNO_RE}')
      AND kind IN ('state_change', 'stop', 'start', 'restarting', 'cycling', 'idling',
                   'unidling')
      AND NOT (kind = 'state_change' AND to_state = 'crashed')
    QUALIFY row_number() OVER (PARTITION BY app, dyno, ts, kind, message
                               ORDER BY source_file, line_no) = 1
    ORDER BY app, dyno, ts, line_no
"""

# App-level events that start a boot: releases and deploys, scaling, a user's restart.
_TRIGGER_SQL = f"""
    SELECT app, NULL::VARCHAR AS dyno, ts,
           CASE WHEN kind IN ('release', 'deploy', 'rollback') THEN 'release'
                WHEN kind = 'scale' THEN 'scale' ELSE 'restart' END AS trigger
    FROM events
    WHERE kind IN ('release', 'deploy', 'rollback', 'scale')
       OR (kind = 'other' AND dyno = 'api' AND message LIKE 'Restart%')
    UNION ALL
    SELECT app, dyno, ts, 'restart' FROM events
    WHERE kind = 'restarting' AND dyno IS NOT NULL AND regexp_full_match(dyno, '{DYNO_RE}')
"""

_EVIDENCE_SQL = f"""
    SELECT DISTINCT app, dyno FROM (
        SELECT app, dyno FROM requests WHERE dyno IS NOT NULL
        UNION ALL SELECT app, dyno FROM dyno_metrics WHERE dyno IS NOT NULL
        UNION ALL SELECT app, dyno FROM app_logs WHERE dyno IS NOT NULL
    ) WHERE regexp_full_match(dyno, '{DYNO_RE}')
"""

_SCHEMA: dict[str, Any] = {
    "app": pl.String,
    "dyno": pl.String,
    "process_type": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "ongoing": pl.Boolean,
    "end_inferred": pl.Boolean,
    "started_before_log": pl.Boolean,
    "opened_by": pl.String,
    "ended_by": pl.String,
    "ended_by_release": pl.String,
    "restart_attempts": pl.Int64,
    "failed_releases": pl.List(pl.String),
    "release": pl.String,
    "dynos": pl.List(pl.String),
    "requests": pl.Int64,
    "failed_requests": pl.Int64,
    "failed_share": pl.Float64,
    "failed_codes": pl.List(pl.Struct({"code": pl.String, "count": pl.Int64})),
    "source_file": pl.String,
    "line_no": pl.Int64,
    "end_line_no": pl.Int64,
    "line_nos": pl.List(pl.Int64),
    "silent_until": pl.Datetime("us", "UTC"),
    "lost_until": pl.Datetime("us", "UTC"),
}


@dataclass
class _Window:
    start: datetime
    opened_by: str  # crash | stop | start | before_log
    file: str | None
    line: int | None
    before_log: bool = False
    attempts: int = 0
    fails: list[datetime] = field(default_factory=list)  # times of the failed boots
    last_fail: datetime | None = None
    lines: list[int] = field(default_factory=list)
    end: datetime | None = None
    end_line: int | None = None
    ended_by: str | None = None


@per_dataset
def downtime(
    con: duckdb.DuckDBPyConnection,
    *,
    restart_gap_seconds: float = RESTART_GAP_SECONDS,
    hold_seconds: float = HOLD_SECONDS,
    crash_table: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per downtime window of a dyno, and per process type while none of its dynos
    was up (dyno null, `dynos` the dynos down in it). See the module doc for the rules.

    Answers: what was down, from when to when, how many boots failed meanwhile, what brought
    it back (and on which release), and how many requests failed?

    Columns: app, dyno, process_type, start, end, minutes, ongoing, end_inferred (ended at
    the first request the dyno served: its `up` line is missing), started_before_log,
    opened_by (crash / stop / start / before_log), ended_by (release / restart / scale /
    platform / stop; null when ongoing), ended_by_release (in effect at the end), restart_attempts,
    failed_releases (in effect at the failed boots), release (in effect at the start), dynos,
    requests, failed_requests, failed_share,
    failed_codes (list of {code, count}), source_file, line_no (the line that opened it),
    end_line_no (the `up` that closed it), line_nos (opening, failed boots, closing),
    silent_until (an ongoing window cut at a silence of the whole log: the next line's time),
    lost_until (its `up` line was lost: the dyno's first sign of life after the log loss).
    """
    end = log_end(con)
    if end is None:
        return pl.DataFrame(schema=_SCHEMA)
    k = crash_table if crash_table is not None else crashes(con)
    # a non-zero exit after SIGTERM is not a crash, unless the dyno logged `to crashed`: then
    # it was the new process failing to boot
    k = k.filter(~pl.col("during_shutdown") | pl.col("from_state").is_not_null())
    states = query(con, _STATE_SQL)
    spans = _app_spans(con)
    items = _items(states, k)
    triggers = query(con, _TRIGGER_SQL)
    gap, hold = timedelta(seconds=restart_gap_seconds), timedelta(seconds=hold_seconds)
    rows: list[dict[str, Any]] = []
    off_or_down: dict[tuple[str | None, str], list[tuple[datetime, datetime, bool]]] = {}
    trig_of: dict[tuple[str | None, str], list[tuple[datetime, str]]] = {}
    for (app, dyno), its in items.items():
        ptype = process_type(dyno)
        if ptype in ONE_OFF_TYPES:
            continue
        trig = trig_of[(app, dyno)] = _triggers_of(triggers, app, dyno)
        # the app's own first and last lines: another app's export (a dataset of several)
        # neither opens nor stretches its windows
        first, last = spans.get(app) or (its[0][0], end)
        wins, gaps = _walk(its, trig, start=first, end=last, gap=gap, hold=hold)
        off_or_down[(app, dyno)] = gaps
        for w in wins:
            rows.append(_row(app, dyno, ptype, w, last))
    for app, dyno in query(con, _EVIDENCE_SQL).iter_rows():
        if process_type(dyno) not in ONE_OFF_TYPES:
            off_or_down.setdefault((app, dyno), [])
    rows = _end_at_served(con, rows, off_or_down, trig_of, gap=gap)
    rows = _cap_ongoing(con, rows, off_or_down, gap=gap, silence=timedelta(seconds=SILENCE_SECONDS))
    # after the cap: a window cut at a silence of the log ends before a loss reported after it
    rows = _end_at_lost_up(con, rows, off_or_down, trig_of, gap=gap)
    rows += _type_rows(rows, off_or_down, trig_of)
    _with_failed_releases(con, rows)
    for r in rows:
        r.pop("_fails", None)
        r.pop("_last_fail", None)
    if not rows:
        return pl.DataFrame(schema=_SCHEMA)
    df = pl.DataFrame(rows, schema={c: _SCHEMA[c] for c in rows[0]})
    df = with_release(con, df, "start")
    df = with_release(con, df.with_columns(pl.col("end").alias("_e")), "_e", "ended_by_release")
    df = df.with_columns(
        pl.when(pl.col("ongoing"))
        .then(None)
        .otherwise("ended_by_release")
        .alias("ended_by_release")
    ).drop("_e")
    df = _with_requests(con, df)
    return df.select(list(_SCHEMA)).cast(_SCHEMA).sort("start", "dyno", nulls_last=True)


def _app_spans(con: duckdb.DuckDBPyConnection) -> dict[Any, tuple[datetime, datetime]]:
    """Each app's first and last line, over every table: a dyno already crashed when the
    export begins was down from there (an export that opens on H10s starts with requests, not
    events), and one still down at the end was down until the app's last line, not another
    app's."""
    tables = ("requests", "events", "app_logs", "dyno_metrics", "addon_metrics")
    union = " UNION ALL ".join(
        f"SELECT app, min(ts) AS a, max(ts) AS b FROM {t} GROUP BY app" for t in tables
    )
    rows = query(con, f"SELECT app, min(a) AS a, max(b) AS b FROM ({union}) GROUP BY app")
    return {app: (a, b) for app, a, b in rows.iter_rows()}


def _items(states: pl.DataFrame, k: pl.DataFrame) -> dict[tuple[Any, str], list[tuple]]:
    """Per (app, dyno): (ts, line_no, file, what, from_state) in time order, `what` one of up,
    crash, stop, down, start."""
    out: dict[tuple[Any, str], list[tuple]] = {}
    for r in states.iter_rows(named=True):
        what = _what(r)
        if what:
            out.setdefault((r["app"], r["dyno"]), []).append(
                (r["ts"], r["line_no"], r["source_file"], what, r["from_state"])
            )
    for r in k.iter_rows(named=True):
        out.setdefault((r["app"], r["dyno"]), []).append(
            (r["ts"], r["line_no"], r["source_file"], "crash", r["from_state"])
        )
    for v in out.values():
        v.sort(key=lambda x: (x[0], x[1] or 0))
    return out


def _what(r: dict[str, Any]) -> str | None:
    kind, f, t = r["kind"], r["from_state"], r["to_state"]
    if kind == "state_change":
        if t == "up":
            return "up"
        if t == "down":
            return "down"
        if f == "up" and t in ("starting", "bouncing"):
            return "stop"
        if t == "starting":
            return "start"
        return None
    if kind in ("restarting", "cycling") or (kind == "stop" and r["signal"] == "SIGTERM"):
        return "stop"
    if kind in ("start", "unidling"):
        return "start"
    return None


def _triggers_of(t: pl.DataFrame, app: Any, dyno: str) -> list[tuple[datetime, str]]:
    """The boot triggers that concern `dyno`: the app's, and its own `Restarting` lines."""
    mine = t.filter(
        (pl.col("app").eq_missing(app)) & (pl.col("dyno").is_null() | (pl.col("dyno") == dyno))
    ).sort("ts")
    return list(mine.select("ts", "trigger").iter_rows())


def _ended_by(trig: list[tuple[datetime, str]], lo: datetime, hi: datetime) -> str:
    """What started the boot that came up at `hi` after the last failure at `lo`."""
    inside = [(ts, k) for ts, k in trig if lo < ts <= hi]
    if not inside:
        return "platform"
    ts, kind = inside[-1]
    if kind == "restart":
        near = [k for t, k in trig if k != "restart" and ts - timedelta(seconds=TRIGGER_SECONDS)
                <= t <= ts and t > lo]  # fmt: skip
        if near:
            return near[-1]
    return kind


def _walk(
    its: list[tuple],
    trig: list[tuple[datetime, str]],
    *,
    start: datetime,
    end: datetime,
    gap: timedelta,
    hold: timedelta,
) -> tuple[list[_Window], list[tuple[datetime, datetime, bool]]]:
    """One dyno's windows, and every period it was not up ((from, to, is_window) triples)."""
    wins: list[_Window] = []
    not_up: list[tuple[datetime, datetime, bool]] = []
    # where its first state change leaves from (a `Restarting` line before it says nothing)
    first_from = next(
        (x[4] for x in its if x[3] in ("up", "stop", "crash", "down", "start") and x[4]), None
    )
    status = "up" if first_from == "up" else "off"
    off_since: datetime | None = None if status == "up" else start
    w: _Window | None = None
    if first_from == "crashed" and its[0][3] != "crash":
        status = "down"
        w = _Window(start, "before_log", its[0][2], its[0][1], before_log=True)
    since: tuple[datetime, int | None, str | None] | None = None  # stop request / boot start
    cand: tuple[datetime, int | None] | None = None  # an `up` that may not hold

    def close(at: datetime, line: int | None, kind: str) -> None:
        nonlocal w
        assert w is not None
        w.end, w.end_line, w.ended_by = at, line, kind
        if line is not None:
            w.lines.append(line)
        wins.append(w)
        not_up.append((w.start, at, True))
        w = None

    recent: tuple[datetime, tuple, str] | None = None  # an up that ended a boot, its start

    for ts, line, file, what, _from in its:
        if cand is not None and w is not None and (what != "crash" or ts - cand[0] > hold):
            close(cand[0], cand[1], _ended_by(trig, w.last_fail or w.start, cand[0]))
            status, cand, recent = "up", None, None
        if what == "crash" and status == "up" and recent is not None and ts - recent[0] <= hold:
            status, since = recent[2], recent[1]  # that `up` did not hold: the boot failed
            if not_up and not_up[-1][1] == recent[0] and not not_up[-1][2]:
                off_since = not_up.pop()[0]
        recent = None
        if what == "crash":
            if status == "down" and w is not None:
                w.attempts += 1
                w.fails.append(ts)
                w.last_fail = ts
                if line is not None:
                    w.lines.append(line)
                cand = None
                continue
            if status in ("stopping", "off") and since is not None:
                w = _Window(since[0], "stop" if status == "stopping" else "start", since[2],
                            since[1])  # fmt: skip
                w.attempts, w.last_fail, w.fails = 1, ts, [ts]
                w.lines += [x for x in (since[1], line) if x is not None]
            else:
                w = _Window(ts, "crash", file, line, last_fail=ts)
                if line is not None:
                    w.lines.append(line)
            if status == "off" and off_since is not None and off_since < w.start:
                not_up.append((off_since, w.start, False))
            status, since, off_since = "down", None, None
        elif what == "up":
            if status == "down":
                cand = (ts, line)
            elif status == "stopping" and since is not None and ts - since[0] > gap:
                lo = since[0] - timedelta(seconds=TRIGGER_SECONDS)  # the stop's own trigger
                w = _Window(since[0], "stop", since[2], since[1], last_fail=lo)
                if since[1] is not None:
                    w.lines.append(since[1])
                status, cand = "down", (ts, line)
            else:
                if status == "off" and off_since is not None:
                    not_up.append((off_since, ts, False))
                elif status == "stopping" and since is not None:
                    not_up.append((since[0], ts, False))
                if status in ("off", "stopping") and since is not None:
                    recent = (ts, since, status)
                status, since, off_since = "up", None, None
        elif what == "stop":
            if status == "up":
                status, since = "stopping", (ts, line, file)
        elif what == "start":
            if status == "off" and since is None:
                since = (ts, line, file)
        elif what == "down":
            if status == "down" and w is not None:
                if cand is not None:  # it was up, then taken down on purpose
                    close(cand[0], cand[1], _ended_by(trig, w.last_fail or w.start, cand[0]))
                else:
                    close(ts, line, "stop")
            elif status == "stopping" and since is not None:
                off_since = since[0]
            elif status == "up":
                off_since = ts
            status, since, cand = "off", None, None
            off_since = off_since or ts
    if w is not None:
        if cand is not None:
            close(cand[0], cand[1], _ended_by(trig, w.last_fail or w.start, cand[0]))
        else:
            w.end = end
            wins.append(w)
            not_up.append((w.start, end, True))
    elif since is not None and status in ("stopping", "off") and end - since[0] > gap:
        # a stop or start that never reached `up` by the end of the log
        w = _Window(since[0], "stop" if status == "stopping" else "start", since[2], since[1])
        w.end = end
        if since[1] is not None:
            w.lines.append(since[1])
        wins.append(w)
        not_up.append((w.start, end, True))
    elif status == "off" and off_since is not None:
        not_up.append((off_since, end, False))
    return wins, not_up


def _row(app: Any, dyno: str | None, ptype: str | None, w: _Window, end: datetime) -> dict:
    assert w.end is not None
    ongoing = w.ended_by is None
    return {
        "app": app,
        "dyno": dyno,
        "process_type": ptype,
        "start": w.start,
        "end": w.end,
        "minutes": (w.end - w.start).total_seconds() / 60,
        "ongoing": ongoing,
        "started_before_log": w.before_log,
        "opened_by": w.opened_by,
        "ended_by": w.ended_by,
        "restart_attempts": w.attempts,
        "_fails": w.fails,
        "_last_fail": w.last_fail or w.start,
        "end_inferred": False,
        "dynos": [dyno] if dyno else [],
        "source_file": w.file,
        "line_no": w.line,
        "end_line_no": w.end_line,
        "line_nos": sorted(set(w.lines)),
        "silent_until": None,
        "lost_until": None,
    }


def _type_rows(
    rows: list[dict[str, Any]],
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    trig_of: dict[tuple[Any, str], list[tuple[datetime, str]]],
) -> list[dict[str, Any]]:
    """Rows for the times in which no dyno of a process type was up and one was down. Such a
    time that ends with another dyno of the type coming up is ended by what started that one
    (a scale, a release...)."""
    by_type: dict[tuple[Any, str], list[str]] = {}
    for app, dyno in gaps:
        by_type.setdefault((app, process_type(dyno) or ""), []).append(dyno)
    out = []
    for (app, ptype), dynos in sorted(by_type.items(), key=lambda x: (x[0][0] or "", x[0][1])):
        mine = [r for r in rows if r["app"] == app and r["process_type"] == ptype]
        if not mine:
            continue
        spans: list[tuple[datetime, datetime]] | None = None
        for d in dynos:
            s = [(a, b) for a, b, _ in gaps[(app, d)] if b > a]
            spans = s if spans is None else _intersect(spans, s)
        for a, b in _intersect(spans or [], [(r["start"], r["end"]) for r in mine]):
            if b <= a:
                continue
            inside = [r for r in mine if r["start"] < b and r["end"] > a]
            closer = next((r for r in inside if r["end"] == b), None)
            opener = min(inside, key=lambda r: r["start"])
            ongoing = closer is not None and closer["ongoing"]
            out.append(
                {
                    "app": app,
                    "dyno": None,
                    "process_type": ptype,
                    "start": a,
                    "end": b,
                    "minutes": (b - a).total_seconds() / 60,
                    "ongoing": bool(ongoing),
                    "end_inferred": bool(closer is not None and closer["end_inferred"]),
                    "started_before_log": any(r["started_before_log"] for r in inside),
                    "opened_by": opener["opened_by"] if opener["start"] == a else "crash",
                    "ended_by": _type_ended_by(closer, gaps, trig_of, app, dynos, a, b),
                    "restart_attempts": sum(a < t <= b for r in inside for t in r["_fails"]),
                    "_fails": sorted(t for r in inside for t in r["_fails"] if a < t <= b),
                    "dynos": sorted(r["dyno"] for r in inside),
                    "source_file": opener["source_file"],
                    "line_no": opener["line_no"],
                    "end_line_no": None if closer is None else closer["end_line_no"],
                    "line_nos": sorted({n for r in inside for n in r["line_nos"]}),
                    "lost_until": None if closer is None else closer.get("lost_until"),
                }
            )
    return out


def _with_failed_releases(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Each row's `failed_releases`: the releases in effect at its failed boots, in order."""
    fails = [(i, r["app"], t) for i, r in enumerate(rows) for t in r.get("_fails", [])]
    for r in rows:
        r["failed_releases"] = []
    if not fails:
        return
    f = pl.DataFrame(fails, schema={"i": pl.Int64, "app": pl.String, "ts": _SCHEMA["start"]},
                     orient="row")  # fmt: skip
    f = with_release(con, f, "ts").drop_nulls("release").sort("i", "ts")
    for i, rel in (
        f.group_by("i", maintain_order=True)
        .agg(pl.col("release").unique(maintain_order=True))
        .rows()
    ):
        rows[i]["failed_releases"] = list(rel)


def _end_at_served(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    trig_of: dict[tuple[Any, str], list[tuple[datetime, str]]],
    *,
    gap: timedelta,
) -> list[dict[str, Any]]:
    """End a window at the first request its dyno served (below 500, no router error) more
    than a second after its start and its last failed boot, when that comes before the
    window's end: the router only sends requests to an `up` dyno, so the `up` line was lost
    (`end_inferred`). A stop with no failed boot whose dyno went on serving within
    `restart_gap_seconds` is no window at all: the stopped process was an old instance that a
    new one of the same name had already replaced (preboot starts the new web dynos first and
    stops the old ones minutes later, with no `up` after the stop)."""
    w = [
        {
            "i": i,
            "app": r["app"],
            "dyno": r["dyno"],
            "hi": r["end"],
            "lo": max(r["_last_fail"], r["start"]),
        }
        for i, r in enumerate(rows)
        if r["process_type"] == "web"
    ]
    if not w:
        return rows
    frame = pl.DataFrame(w, schema={"i": pl.Int64, "app": pl.String, "dyno": pl.String,
                                    "lo": _SCHEMA["start"], "hi": _SCHEMA["start"]})  # fmt: skip
    with registered(con, frame) as name:
        served = query(
            con,
            f"""
            SELECT w.i, arg_min(struct_pack(ts := r.ts, line := r.line_no), r.ts) AS first
            FROM {name} w JOIN requests r
              ON r.app IS NOT DISTINCT FROM w.app AND r.dyno = w.dyno
             AND r.ts > w.lo + INTERVAL 1 SECOND AND r.ts < w.hi
             AND r.status < 500 AND r.code IS NULL
            GROUP BY w.i
            """,
        )
    gone: set[int] = set()
    for i, first in served.iter_rows():
        r = rows[i]
        kept_serving = first["ts"] - r["start"] <= gap
        if r["opened_by"] == "stop" and not r["restart_attempts"] and kept_serving:
            key = (r["app"], r["dyno"])
            gaps[key] = [x for x in gaps[key] if x != (r["start"], r["end"], True)]
            gone.add(i)
            continue
        _end_early(r, gaps, trig_of, first["ts"], end_line_no=first["line"],
                   line_nos=sorted({*r["line_nos"], first["line"]}))  # fmt: skip
    return [r for i, r in enumerate(rows) if i not in gone]


def _end_early(
    r: dict[str, Any],
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    trig_of: dict[tuple[Any, str], list[tuple[datetime, str]]],
    t: datetime,
    **columns: Any,
) -> None:
    """End window `r` at `t`, which the log infers rather than shows (a request served, a lost
    `up`): its not-up period in `gaps` too, and what ended it from the triggers before `t`."""
    key, old = (r["app"], r["dyno"]), r["end"]
    gaps[key] = [(a, t if (a, b, True) == (r["start"], old, True) else b, x)
                 for a, b, x in gaps[key]]  # fmt: skip
    r.update(
        end=t,
        minutes=(t - r["start"]).total_seconds() / 60,
        ongoing=False,
        end_inferred=True,
        ended_by=_ended_by(trig_of.get(key, []), r["_last_fail"], t),
        **columns,
    )


def _end_at_lost_up(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    trig_of: dict[tuple[Any, str], list[tuple[datetime, str]]],
    *,
    gap: timedelta,
) -> list[dict[str, Any]]:
    """Windows with no `up` line to close them (ongoing, or ended at a served request) whose
    dyno shows signs of life (runtime metrics, its own output, a served request) after a log
    loss (L10-L13: Logplex dropped lines since T) began within the window: its `up` is among
    the lost lines. Such a window ends where the loss begins (`end_inferred`, `lost_until` the
    first sign of life): down at most until then as far as the log shows. A restart (or start)
    that had not failed and ends so within `restart_gap_seconds` was a normal restart and is
    no window at all; likewise a crash whose loss began at once."""
    open_ = [i for i, r in enumerate(rows) if r["ongoing"] or r["end_inferred"]]
    if not open_:
        return rows
    loss = log_loss(con)
    if loss.is_empty():
        return rows
    episodes = sorted(
        ((a or "", since, last) for a, since, last in loss.select("app", "since", "last").rows()),
        key=lambda x: x[1],
    )
    w = []
    for i in open_:
        r = rows[i]
        lo = r["_last_fail"] or r["start"]
        ep = next(
            (e for e in episodes if e[0] == (r["app"] or "") and e[1] <= r["end"] and e[2] >= lo),
            None,
        )
        if ep is not None:
            w.append({"i": i, "app": r["app"], "dyno": r["dyno"], "lo": max(lo, ep[1]),
                      "hi": r["end"]})  # fmt: skip
    if not w:
        return rows
    frame = pl.DataFrame(w, schema={"i": pl.Int64, "app": pl.String, "dyno": pl.String,
                                    "lo": _SCHEMA["start"], "hi": _SCHEMA["start"]})  # fmt: skip
    with registered(con, frame) as name:
        alive = query(
            con,
            f"""
            SELECT w.i, min(x.ts) AS first FROM {name} w JOIN (
                SELECT app, dyno, ts FROM dyno_metrics
                UNION ALL SELECT app, dyno, ts FROM app_logs
                UNION ALL SELECT app, dyno, ts FROM requests WHERE status < 500 AND code IS NULL
            ) x ON x.app IS NOT DISTINCT FROM w.app AND x.dyno = w.dyno
               AND x.ts > w.lo AND x.ts <= w.hi
            GROUP BY w.i
            """,
        )
    lo_of = {x["i"]: x["lo"] for x in w}
    drop: set[int] = set()
    for i, first in alive.iter_rows():
        r = rows[i]
        key, old, t = (r["app"], r["dyno"]), r["end"], lo_of[i]
        normal = r["opened_by"] in ("stop", "start") and not r["restart_attempts"]
        if t - r["start"] <= (gap if normal else timedelta(0)):
            drop.add(i)
            gaps[key] = [x for x in gaps[key] if x != (r["start"], old, True)]
            continue
        _end_early(r, gaps, trig_of, t, lost_until=first, end_line_no=None)
    return [r for i, r in enumerate(rows) if i not in drop]


def _cap_ongoing(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    *,
    gap: timedelta,
    silence: timedelta,
) -> list[dict[str, Any]]:
    """What the log can tell of the windows still open at its end. One the log saw for less
    than a normal restart (`gap`) with no failed boot is left out: the log ends seconds after
    a crash, and Heroku restarts a crashed dyno at once the first time, so whether it came back
    is not in the log. One that runs into a silence of `silence` or more (no line at all of
    its app: a pasted excerpt, a drain that stopped) ends at the last line before it, with
    `silent_until` the next line's time: it was still down as far as the log shows."""
    open_ = [r for r in rows if r["ongoing"]]
    if not open_:
        return rows
    drop = {id(r) for r in open_ if r["end"] - r["start"] < gap and not r["restart_attempts"]}
    apps = sorted({str(r["app"]) for r in open_ if id(r) not in drop})
    hours: dict[str, list[datetime]] = {}
    if apps:
        seen = query(
            con,
            """
            SELECT coalesce(app, 'None') AS app, date_trunc('hour', ts) AS h FROM (
                SELECT app, ts FROM requests UNION ALL SELECT app, ts FROM events
                UNION ALL SELECT app, ts FROM app_logs UNION ALL SELECT app, ts FROM dyno_metrics
                UNION ALL SELECT app, ts FROM addon_metrics
            ) WHERE ts IS NOT NULL
            GROUP BY ALL ORDER BY h
            """,
        )
        for app, h in seen.iter_rows():
            if app in apps:
                hours.setdefault(app, []).append(h)
    for r in open_:
        if id(r) in drop:
            continue
        after = max(r["_last_fail"] or r["start"], r["start"])
        hs = hours.get(str(r["app"]), [])
        for a, b in pairwise(hs):
            if b <= after or b - a - timedelta(hours=1) < silence or a + timedelta(hours=1) < after:
                continue
            last, nxt = _around_silence(con, r["app"], a, b)
            if last is None or nxt is None or nxt - last < silence or last >= r["end"]:
                continue
            if r["process_type"] == "web" and _crashed_after(con, r["app"], nxt):
                break  # the router still answered `H10 App crashed` after the silence
            old = r["end"]
            last = max(last, r["start"])
            key = (r["app"], r["dyno"])
            gaps[key] = [(x, last if (x, y) == (r["start"], old) else y, w)
                         for x, y, w in gaps.get(key, [])]  # fmt: skip
            r.update(end=last, minutes=(last - r["start"]).total_seconds() / 60, silent_until=nxt)
            break
    # what is left of a window cut at a silence may be as short as the log's last seconds
    drop |= {
        id(r)
        for r in open_
        if r["silent_until"] is not None
        and r["end"] - r["start"] < gap
        and not r["restart_attempts"]
    }
    for r in open_:
        if id(r) in drop:
            key = (r["app"], r["dyno"])
            gaps[key] = [g for g in gaps.get(key, []) if (g[0], g[1]) != (r["start"], r["end"])]
    return [r for r in rows if id(r) not in drop]


def _crashed_after(con: duckdb.DuckDBPyConnection, app: Any, t: datetime) -> bool:
    """Whether the router answered `H10 App crashed` for the app at or after `t`."""
    app = None if app is None else str(app)
    sql = "SELECT count(*) AS n FROM requests WHERE app IS NOT DISTINCT FROM $app AND ts >= $t"
    return bool(query(con, sql + " AND code = 'H10'", {"app": app, "t": t})["n"][0])


def _around_silence(
    con: duckdb.DuckDBPyConnection, app: Any, a: datetime, b: datetime
) -> tuple[datetime | None, datetime | None]:
    """The app's last line in hour `a` and its first in hour `b` (the edges of a silence)."""
    union = " UNION ALL ".join(
        f"SELECT ts FROM {t} WHERE app IS NOT DISTINCT FROM $app AND ts >= $lo AND ts < $hi"
        for t in ("requests", "events", "app_logs", "dyno_metrics", "addon_metrics")
    )
    app = None if app is None else str(app)
    hour = timedelta(hours=1)
    last = query(con, f"SELECT max(ts) AS t FROM ({union})", {"app": app, "lo": a, "hi": a + hour})
    nxt = query(con, f"SELECT min(ts) AS t FROM ({union})", {"app": app, "lo": b, "hi": b + hour})
    return last["t"][0], nxt["t"][0]


def _type_ended_by(
    closer: dict[str, Any] | None,
    gaps: dict[tuple[Any, str], list[tuple[datetime, datetime, bool]]],
    trig_of: dict[tuple[Any, str], list[tuple[datetime, str]]],
    app: Any,
    dynos: list[str],
    a: datetime,
    b: datetime,
) -> str | None:
    """What ended a process-type window: its closing dyno window's `ended_by`, else what
    started the dyno whose not-up time ended at `b` (null at the end of the log)."""
    if closer is not None:
        return closer["ended_by"]
    for d in dynos:
        if any(y == b for _, y, _ in gaps[(app, d)]):
            trig = trig_of.get((app, d), [])
            return _ended_by(trig, a - timedelta(seconds=TRIGGER_SECONDS), b)
    return None


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(
    x: list[tuple[datetime, datetime]], y: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The intersection of two unions of time spans, as merged spans."""
    out = []
    for a1, b1 in _merge(x):
        for a2, b2 in _merge(y):
            a, b = max(a1, a2), min(b1, b2)
            if a < b:
                out.append((a, b))
    return _merge(out)


def _fail_sql(alias: str = "r") -> str:
    """SQL: a request of the router that failed on the app's side."""
    return (
        f"(coalesce({alias}.code, '') NOT IN {sql_list(CLIENT_CODES)} AND "
        f"({alias}.status >= 500 OR {alias}.code LIKE 'H%'))"
    )


def _with_requests(con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> pl.DataFrame:
    """Requests, failed requests and their codes in each web window."""
    w = df.with_row_index("_w").select("_w", "app", "dyno", "process_type", "start", "end")
    w = w.filter(pl.col("process_type") == "web")
    empty = pl.lit(None, _SCHEMA["failed_codes"])
    if w.is_empty():
        return df.with_columns(
            pl.lit(None, pl.Int64).alias("requests"),
            pl.lit(None, pl.Int64).alias("failed_requests"),
            pl.lit(None, pl.Float64).alias("failed_share"),
            empty.alias("failed_codes"),
        )
    with registered(con, w) as name:
        join = f"""
            FROM {name} w JOIN requests r
              ON r.app IS NOT DISTINCT FROM w.app AND r.ts >= w.start AND r.ts <= w."end"
             AND (w.dyno IS NULL OR r.dyno IS NULL OR r.dyno = '' OR r.dyno = w.dyno)
        """
        counts = query(
            con,
            f"SELECT w._w, count(*) AS requests, count(*) FILTER ({_fail_sql()}) AS failed "
            f"{join} GROUP BY ALL",
        )
        codes = query(
            con,
            f"""
            SELECT _w, list({{'code': code, 'count': n}} ORDER BY n DESC, code) AS failed_codes
            FROM (SELECT w._w, coalesce(r.code, CAST(r.status AS VARCHAR)) AS code,
                         count(*) AS n {join} WHERE {_fail_sql()} GROUP BY ALL)
            GROUP BY ALL
            """,
        )
    web = pl.col("process_type") == "web"
    out = (
        df.with_row_index("_w")
        .join(counts.cast({"_w": pl.UInt32}), on="_w", how="left")
        .join(codes.cast({"_w": pl.UInt32}), on="_w", how="left")
    )
    return out.with_columns(
        pl.when(web).then(pl.col("requests").fill_null(0)).alias("requests"),
        pl.when(web).then(pl.col("failed").fill_null(0)).alias("failed_requests"),
        pl.when(web & (pl.col("requests") > 0))
        .then(pl.col("failed") / pl.col("requests"))
        .when(web)
        .then(0.0)
        .alias("failed_share"),
    ).drop("_w", "failed")
