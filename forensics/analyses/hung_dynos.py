"""Hung dynos: a dyno that stays `up` but stops doing its work, until a restart or it resumes.

Two kinds, one row each:

- `stuck_requests`: a web-like dyno (one that serves router requests) whose requests end in
  timeouts (H12, or H13/H18/H19 on connect) for minutes while the other dynos of its process
  type serve normally. Timeouts are clustered per dyno (gaps up to `gap_seconds`); a cluster is
  a hung dyno when it has `min_timeouts`+ timeouts, they are `min_share`+ of that dyno's
  requests in the window, and the type's other dynos served `min_other_requests`+ requests in
  the same window with at most `max_other_share` of them timing out, also on the routes the
  stuck dyno timed out on. A route slow on every dyno is a `timeout_hotspot`, not a hung dyno;
  a type with one dyno cannot tell the two apart and is left out; timeouts that end in the
  dyno's crash or stop (within `gap_seconds`) are the crash's, left to the downtime analysis.
- `silent`: a dyno of another formation type (worker, clock...) whose own output (app_logs)
  and runtime metrics (dyno_metrics) both stop, with no lifecycle line (exit, crash, stop,
  idling) for it, for `silence_factor` times its own usual gap (the 90th percentile of the gaps
  of each stream) and at least `min_silence_seconds` (`min_silence_no_metrics_seconds` for a
  dyno without runtime metrics, whose output alone must stop). A worker quiet by nature (one
  line an hour) is not hung while its metrics still come. A silence is the dyno's own only
  when the rest of the log goes on meanwhile (no gap of the whole export as long as the
  silence's threshold) and no log loss (L10-L13) is reported inside it.

Each row ends at what ended it (`ended_by`): the dyno's `Restarting` (`restart`), `Cycling`
(`cycling`), a release of the app (`release`: just before the dyno's stop, or with no line of
the dyno after it), a SIGTERM stop, `up -> starting` or a new process starting without any of
those (`restart`), or the dyno's next served request / output line (`resumed`); for stuck
requests only within `gap_seconds` of the last timeout. `ongoing` when nothing ends it before
the log does; null when the dyno simply got no more requests (its row ends at its last
timeout). A silence ended by a crash, exit, idling or scale-down is not a hung dyno (downtime
or sleep). One-off dynos (run, scheduler, release) are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.availability import log_end
from forensics.analyses.sql import app_key_expr, query
from forensics.heroku import DYNO_NAME_RE, LOG_LOSS_CODES, ONE_OFF_TYPES, process_type_expr

STUCK_CODES = ("H12", "H13", "H18", "H19")
# A release this close before a dyno's stop is what stopped it.
TRIGGER_SECONDS = 60
ENDED_BY = ("restart", "cycling", "release", "resumed")

_SCHEMA: dict[str, Any] = {
    "app": pl.String,
    "dyno": pl.String,
    "process_type": pl.String,
    "kind": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "ongoing": pl.Boolean,
    "ended_by": pl.String,
    "release": pl.String,
    "requests": pl.Int64,
    "timeouts": pl.Int64,
    "timeout_share": pl.Float64,
    "codes": pl.List(pl.String),
    "routes": pl.List(pl.String),
    "other_dynos": pl.List(pl.String),
    "other_requests": pl.Int64,
    "other_timeouts": pl.Int64,
    "other_share": pl.Float64,
    "usual_gap_seconds": pl.Float64,
    "had_metrics": pl.Boolean,
    "first_file": pl.String,
    "first_line": pl.Int64,
    "last_file": pl.String,
    "last_line": pl.Int64,
}

_ONE_OFF = ", ".join(f"'{t}'" for t in sorted(ONE_OFF_TYPES))
_DYNO_OK = f"dyno IS NOT NULL AND regexp_full_match(dyno, '{DYNO_NAME_RE}')"

_LIFECYCLE_SQL = f"""
    SELECT app, dyno, ts, kind, from_state, to_state, exit_status, signal, source_file, line_no
    FROM events
    WHERE {_DYNO_OK}
      AND kind IN ('state_change', 'stop', 'start', 'exit', 'restarting', 'cycling', 'idling',
                   'unidling')
    ORDER BY app, dyno, ts, line_no
"""

_RELEASE_SQL = """
    SELECT app, ts, release, source_file, line_no FROM events
    WHERE kind IN ('release', 'deploy', 'rollback')
    ORDER BY app, ts, line_no
"""


def hung_dynos(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_seconds: float = 300,
    min_timeouts: int = 5,
    min_minutes: float = 2.0,
    min_share: float = 0.8,
    min_other_requests: int = 10,
    max_other_share: float = 0.1,
    silence_factor: float = 10.0,
    min_silence_seconds: float = 600,
    min_silence_no_metrics_seconds: float = 3600,
) -> pl.DataFrame:
    """The hung-dyno table (see the module doc), earliest first."""
    end_of_log = log_end(con)
    if end_of_log is None:
        return pl.DataFrame(schema=_SCHEMA)
    life = query(con, _LIFECYCLE_SQL)
    rels = query(con, _RELEASE_SQL)
    rows = _stuck(
        con,
        life,
        rels,
        end_of_log,
        gap_seconds=gap_seconds,
        min_timeouts=min_timeouts,
        min_minutes=min_minutes,
        min_share=min_share,
        min_other_requests=min_other_requests,
        max_other_share=max_other_share,
    )
    rows += _silent(
        con,
        life,
        rels,
        end_of_log,
        silence_factor=silence_factor,
        min_silence_seconds=min_silence_seconds,
        min_silence_no_metrics_seconds=min_silence_no_metrics_seconds,
    )
    out = pl.DataFrame(rows, schema=_SCHEMA) if rows else pl.DataFrame(schema=_SCHEMA)
    return out.sort("start", "app", "dyno", nulls_last=True)


# ----- what ended it --------------------------------------------------------------------------


def _ending(
    life: pl.DataFrame, rels: pl.DataFrame, app: str | None, dyno: str, after: datetime
) -> tuple[str, dict[str, Any]] | None:
    """The first lifecycle line of `dyno` after `after`: (what it means, the row), where the
    meaning is restart / cycling / release, or `other` (a crash, exit, idling, scale-down...:
    not the end of a hang but of the dyno). A release of the app with no line of the dyno
    within `TRIGGER_SECONDS` after it ends it too (a release restarts every dyno). None when
    nothing later is logged."""
    mine = life.filter(
        (app_key_expr("app") == (app or "")) & (pl.col("dyno") == dyno) & (pl.col("ts") > after)
    )
    later = rels.filter((app_key_expr("app") == (app or "")) & (pl.col("ts") > after))
    if later.height and (
        mine.is_empty() or mine["ts"][0] > later["ts"][0] + timedelta(seconds=TRIGGER_SECONDS)
    ):
        return "release", later.row(0, named=True)  # its stop line is not in the log
    if mine.is_empty():
        return None
    r = mine.row(0, named=True)
    kind = r["kind"]
    if kind == "cycling":
        return "cycling", r
    restart = kind == "restarting" or (kind == "stop" and (r["signal"] or "SIGTERM") == "SIGTERM")
    restart = restart or (
        kind == "state_change" and r["from_state"] == "up" and r["to_state"] == "starting"
    )
    # a new process starting with the stop lines missing: restarted (not from a crash)
    restart = restart or kind == "start"
    restart = restart or (
        kind == "state_change"
        and r["to_state"] in ("starting", "up")
        and r["from_state"] not in ("crashed", "down")
    )
    if not restart:
        return "other", r
    app_rels = rels.filter(
        (app_key_expr("app") == (app or ""))
        & pl.col("ts").is_between(max(after, r["ts"] - timedelta(seconds=TRIGGER_SECONDS)), r["ts"])
    )
    return ("release" if app_rels.height else "restart"), r


def _release_at(rels: pl.DataFrame, app: str | None, ts: datetime) -> str | None:
    before = rels.filter(
        (app_key_expr("app") == (app or ""))
        & (pl.col("ts") <= ts)
        & pl.col("release").is_not_null()
    )
    return before["release"][-1] if before.height else None


# ----- stuck web dynos ------------------------------------------------------------------------


def _stuck(
    con: duckdb.DuckDBPyConnection,
    life: pl.DataFrame,
    rels: pl.DataFrame,
    end_of_log: datetime,
    **t: Any,
) -> list[dict[str, Any]]:
    codes = ", ".join(f"'{c}'" for c in STUCK_CODES)
    req = query(
        con,
        f"""
        SELECT app, dyno, ts, route, code, status, source_file, line_no,
               code IS NOT NULL AND code IN ({codes}) AS bad
        FROM requests WHERE {_DYNO_OK}
        ORDER BY app, dyno, ts, line_no
        """,
    )
    if req.is_empty() or not req["bad"].any():
        return []
    req = req.with_columns(ptype=process_type_expr().alias("ptype")).filter(
        ~pl.col("ptype").is_in(list(ONE_OFF_TYPES))
    )
    bad = req.filter(pl.col("bad"))
    gap = timedelta(seconds=t["gap_seconds"])
    bad = bad.with_columns(
        grp=(
            (pl.col("ts") - pl.col("ts").shift(1).over("app", "dyno")).fill_null(gap * 2) > gap
        ).cum_sum()
    )
    # per (app, type) and per (app, dyno) served requests, in time order: windows are slices
    by_type = req.sort("ts").partition_by("app", "ptype", as_dict=True)
    served = req.filter(~pl.col("bad")).sort("ts").partition_by("app", "dyno", as_dict=True)
    out = []
    for (app, dyno, _), g in bad.group_by("app", "dyno", "grp", maintain_order=True):
        if g.height < t["min_timeouts"]:
            continue
        start, last = g["ts"].min(), g["ts"].max()
        if (last - start).total_seconds() / 60 < t["min_minutes"]:
            continue
        ptype = g["ptype"][0]
        part = by_type[(app, ptype)]
        lo = part["ts"].search_sorted(start, "left")
        same = part.slice(lo, part["ts"].search_sorted(last, "right") - lo)
        own = same.filter(pl.col("dyno") == dyno)
        share = g.height / own.height
        if share < t["min_share"]:
            continue
        others = same.filter(pl.col("dyno") != dyno)
        if others.height < t["min_other_requests"]:
            continue
        other_share = others["bad"].sum() / others.height
        if other_share > t["max_other_share"]:
            continue
        routes = sorted({r for r in g["route"].to_list() if r})
        on_routes = others.filter(pl.col("route").is_in(routes))
        if on_routes.height >= 3 and on_routes["bad"].mean() > 0.25:
            continue  # those routes time out on the other dynos too: a hotspot
        ok = served.get((app, dyno))
        after = ok.slice(ok["ts"].search_sorted(last, "right")) if ok is not None else g.clear()
        ending = _ending(life, rels, app, dyno, last)
        resumed = after["ts"][0] if after.height else None
        if resumed is not None and resumed - last > gap:
            resumed = None  # served again much later: when it recovered is not known
        if ending and ending[1]["ts"] - last > gap:
            ending = None  # nor is it the restart hours later that ended it
        if (
            ending
            and ending[0] == "other"
            and ending[1]["ts"] - last <= gap
            and (resumed is None or ending[1]["ts"] <= resumed)
        ):
            continue  # the timeouts end in a crash or stop of the dyno: downtime's to tell
        if ending and ending[0] != "other" and (resumed is None or ending[1]["ts"] <= resumed):
            ended_by, end, end_row = ending[0], ending[1]["ts"], ending[1]
        elif resumed is not None:
            ended_by, end = "resumed", resumed
            end_row = after.row(0, named=True)
        else:
            ended_by, end, end_row = None, last, g.row(-1, named=True)
        ongoing = ended_by is None and (end_of_log - last) <= gap
        if ongoing:
            end = end_of_log
        out.append(
            {
                "app": app,
                "dyno": dyno,
                "process_type": ptype,
                "kind": "stuck_requests",
                "start": start,
                "end": end,
                "minutes": (end - start).total_seconds() / 60,
                "ongoing": ongoing,
                "ended_by": ended_by,
                "release": _release_at(rels, app, start),
                "requests": own.height,
                "timeouts": g.height,
                "timeout_share": share,
                "codes": sorted(set(g["code"].to_list())),
                "routes": routes,
                "other_dynos": sorted(set(others["dyno"].to_list())),
                "other_requests": others.height,
                "other_timeouts": int(others["bad"].sum()),
                "other_share": float(other_share),
                "usual_gap_seconds": None,
                "had_metrics": None,
                "first_file": g["source_file"][0],
                "first_line": g["line_no"][0],
                "last_file": end_row["source_file"],
                "last_line": end_row["line_no"],
            }
        )
    return out


# ----- silent workers -------------------------------------------------------------------------


def _usual_gap(ts: pl.Series) -> float | None:
    """The 90th percentile of the gaps between consecutive times, in seconds (None with fewer
    than 3 gaps: no telling what is usual)."""
    if ts.len() < 4:
        return None
    gaps = ts.sort().diff().drop_nulls().dt.total_microseconds() / 1e6
    return float(gaps.quantile(0.9))


def _silent(
    con: duckdb.DuckDBPyConnection,
    life: pl.DataFrame,
    rels: pl.DataFrame,
    end_of_log: datetime,
    **t: Any,
) -> list[dict[str, Any]]:
    act = query(
        con,
        f"""
        SELECT app, dyno, ts, 'app' AS stream, source_file, line_no FROM app_logs
        WHERE {_DYNO_OK}
        UNION ALL
        SELECT app, dyno, ts, 'metrics', source_file, line_no FROM dyno_metrics
        WHERE {_DYNO_OK}
        ORDER BY app, dyno, ts, line_no
        """,
    )
    if act.is_empty():
        return []
    act = act.with_columns(ptype=process_type_expr().alias("ptype")).filter(
        ~pl.col("ptype").is_in([*ONE_OFF_TYPES, "web"])
    )
    context: dict[str, pl.DataFrame] = {}  # loaded once a silence needs checking
    out = []
    for (app, dyno), g in act.group_by("app", "dyno", maintain_order=True):
        metrics = g.filter(pl.col("stream") == "metrics")["ts"]
        logs = g.filter(pl.col("stream") == "app")["ts"]
        had_metrics = metrics.len() >= 4
        usual_m = _usual_gap(metrics) if had_metrics else None
        usual_a = _usual_gap(logs)
        if had_metrics and usual_m is not None:
            need = max(t["min_silence_seconds"], t["silence_factor"] * usual_m)
            # its output must be silent beyond its own usual too (quiet workers still log)
            if usual_a is not None:
                need = max(need, 3 * usual_a)
            usual = usual_m
        elif usual_a is not None:
            need = max(t["min_silence_no_metrics_seconds"], t["silence_factor"] * usual_a)
            usual = usual_a
        else:
            continue
        g = g.with_row_index("i").with_columns(nxt=pl.col("ts").shift(-1))
        # a silence cut short by a lifecycle line is only shorter: only long gaps qualify
        long = g.filter(
            (pl.col("nxt").fill_null(end_of_log) - pl.col("ts")).dt.total_microseconds()
            >= need * 1e6
        )
        for cand in long.iter_rows(named=True):
            i, t0, t1 = cand["i"], cand["ts"], cand["nxt"]
            ending = _ending(life, rels, app, dyno, t0)
            stop_ts = ending[1]["ts"] if ending else None
            if stop_ts is not None and (t1 is None or stop_ts <= t1):
                if ending[0] == "other":  # type: ignore[index]
                    continue  # it crashed, exited, idled or was scaled away: not hung
                ended_by, end, end_row = ending[0], stop_ts, ending[1]  # type: ignore[index]
                ongoing = False
            elif t1 is not None:
                ended_by, end, end_row = "resumed", t1, g.row(i + 1, named=True)
                ongoing = False
            else:
                ended_by, end, end_row = None, end_of_log, None
                ongoing = True
            if (end - t0).total_seconds() < need:
                continue
            if not context:
                context.update(_context(con))
            if _log_lost(context["loss"], app, t0, end) or _export_gap(
                context["everything"], dyno, t0, end, need
            ):
                continue
            first = cand
            out.append(
                {
                    "app": app,
                    "dyno": dyno,
                    "process_type": g["ptype"][0],
                    "kind": "silent",
                    "start": t0,
                    "end": end,
                    "minutes": (end - t0).total_seconds() / 60,
                    "ongoing": ongoing,
                    "ended_by": ended_by,
                    "release": _release_at(rels, app, t0),
                    "requests": None,
                    "timeouts": None,
                    "timeout_share": None,
                    "codes": [],
                    "routes": [],
                    "other_dynos": [],
                    "other_requests": None,
                    "other_timeouts": None,
                    "other_share": None,
                    "usual_gap_seconds": usual,
                    "had_metrics": had_metrics,
                    "first_file": first["source_file"],
                    "first_line": first["line_no"],
                    "last_file": end_row["source_file"] if end_row else None,
                    "last_line": end_row["line_no"] if end_row else None,
                }
            )
    return out


def _context(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """What a silence is checked against: the log-loss reports, and the seconds in which any
    line was logged (with its dyno)."""
    codes = ", ".join(f"'{c}'" for c in LOG_LOSS_CODES)
    return {
        "loss": query(con, f"SELECT app, ts FROM events WHERE code IN ({codes})"),
        "everything": query(
            con,
            """
            SELECT DISTINCT app, dyno, date_trunc('second', ts) AS ts FROM (
                SELECT app, dyno, ts FROM requests UNION ALL SELECT app, dyno, ts FROM events
                UNION ALL SELECT app, dyno, ts FROM app_logs
                UNION ALL SELECT app, dyno, ts FROM dyno_metrics
            ) ORDER BY ts
            """,
        ),
    }


def _log_lost(loss: pl.DataFrame, app: str | None, start: datetime, end: datetime) -> bool:
    """Whether the app's log reports lost lines (L10-L13) between `start` and `end`."""
    return (
        loss.filter(
            (app_key_expr("app") == (app or "")) & pl.col("ts").is_between(start, end)
        ).height
        > 0
    )


def _export_gap(
    everything: pl.DataFrame, dyno: str, start: datetime, end: datetime, seconds: float
) -> bool:
    """Whether the rest of the log (every line not from `dyno`) is itself silent for
    `seconds` somewhere between `start` and `end`: a gap in the export, not in the dyno."""
    ts = everything.filter(
        (pl.col("dyno").fill_null("") != dyno) & pl.col("ts").is_between(start, end)
    )["ts"]
    points = [start, *ts.to_list(), end]
    return any((b - a).total_seconds() >= seconds for a, b in pairwise(points))
