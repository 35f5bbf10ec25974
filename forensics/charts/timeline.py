"""Event timeline: releases, deploys and scaling on an `app` lane, then one lane per dyno with
its restarts (cause), crashes (with the app's last line before), platform errors and the
periods it was down."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.lifetimes import lifetimes
from forensics.charts.encode import conform, inline, time_tip, time_x
from forensics.charts.sql import run, where

APP_LANE = "app"
# A dyno of the formation or a one-off: web.1, worker.12, run.1234.
DYNO_RE = heroku.DYNO_NAME_RE
# An app line this close before a crash is shown with it.
CONTEXT_SECONDS = 120
KINDS = ("release", "deploy", "rollback", "scale", "restart", "crash", "error", "down", "stopped")
KIND_COLORS = (
    "#2ca02c",
    "#98df8a",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
    "#d62728",
    "#ff7f0e",
    "#f4a3a3",
    "#dddddd",
)
TS = pl.Datetime("us", "UTC")
SCHEMA = {
    "lane": pl.String,
    "kind": pl.String,
    "ts": TS,
    "ts_end": TS,
    "label": pl.String,
    "detail": pl.String,
}


def timeline_data(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_dynos: int = 24,
    max_events: int = 4000,
    lifetimes_df: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Timeline rows: lane (`app` or a dyno), kind (see KINDS), ts, ts_end (periods only),
    label, detail.

    - app lane: release (label v42), deploy (commit), rollback, scale (formation);
    - dyno lanes: restart (lifetime start, label = cause), crash (`State changed ... to
      crashed`, detail = exit status and the dyno's last app line before it), error (R10,
      R12, R15, R99 and other platform errors except the very frequent R14), down (from a
      crash until the dyno is up again or the log ends) and stopped (`up -> down`);
    - at most `max_dynos` lanes (dynos with the most events first) and `max_events` rows
      (the earliest kept).

    `lifetimes_df` is `forensics.analyses.lifetimes.lifetimes(con)` when the caller has it.
    """
    cond, params = where(dyno=dyno, since=since, until=until)
    app_cond, app_params = where(since=since, until=until)
    app = run(
        con,
        f"""
        SELECT '{APP_LANE}' AS lane, kind, min(ts) AS ts,
               coalesce(release, commit, formation, kind) AS label,
               arg_min(message, ts) AS detail
        FROM events
        WHERE {app_cond} AND kind IN ('release', 'deploy', 'rollback', 'scale')
        GROUP BY kind, label, CASE WHEN kind = 'release' THEN NULL ELSE ts END
        """,
        app_params,
    )
    crashes = crash_rows(con, dyno=dyno, since=since, until=until).select(
        pl.col("dyno").alias("lane"),
        pl.lit("crash").alias("kind"),
        "ts",
        pl.format("exit {}", pl.col("exit_status").cast(pl.String).fill_null("?")).alias("label"),
        pl.format(
            "crashed (from {}), exit status {}; last app line: {}",
            pl.col("from_state").fill_null("?"),
            pl.col("exit_status").cast(pl.String).fill_null("?"),
            pl.col("last_app_line").fill_null("(none)"),
        ).alias("detail"),
    )
    dyno_events = run(
        con,
        f"""
        WITH ev AS (
            SELECT * FROM events WHERE {cond} AND dyno IS NOT NULL
              AND kind IN ('state_change', 'error')
              AND regexp_full_match(dyno, '{DYNO_RE}')
        ), states AS (
            SELECT dyno, ts, to_state,
                   lag(to_state) OVER (PARTITION BY dyno ORDER BY ts) AS prev_state
            FROM ev WHERE kind = 'state_change' AND to_state IN ('up', 'crashed', 'down')
        )
        SELECT dyno AS lane, 'error' AS kind, ts, NULL::TIMESTAMPTZ AS ts_end, code AS label,
               code || ' ' || coalesce(description, '') AS detail
        FROM ev WHERE kind = 'error' AND code IS NOT NULL AND code <> 'R14'
        UNION ALL
        SELECT s.dyno, CASE WHEN s.to_state = 'crashed' THEN 'down' ELSE 'stopped' END, s.ts,
               coalesce(u.ts, $log_end),
               s.to_state,
               CASE WHEN s.to_state = 'crashed' THEN 'crashed' ELSE 'stopped' END || ' until '
                 || CASE WHEN u.ts IS NULL THEN 'the end of the log' ELSE 'up again' END
        FROM states s
        ASOF LEFT JOIN (SELECT dyno, ts FROM states WHERE to_state = 'up') u
          ON s.dyno = u.dyno AND u.ts > s.ts
        WHERE s.to_state IN ('crashed', 'down')
          AND (s.prev_state IS NULL OR s.prev_state NOT IN ('crashed', 'down'))
        """,
        {**params, "log_end": _log_end(con, app_cond, app_params)},
    )
    restarts = _restarts(
        lifetimes_df if lifetimes_df is not None else lifetimes(con), since, until, dyno
    )
    rows = pl.concat([conform(f, SCHEMA) for f in (crashes, dyno_events, restarts)])
    lanes = (
        rows.group_by("lane").len().sort(["len", "lane"], descending=[True, False]).head(max_dynos)
    )
    rows = rows.filter(pl.col("lane").is_in(lanes["lane"].to_list()))
    out = pl.concat([conform(app, SCHEMA), rows])
    # releases last among equal times, so their mark is drawn over the deploy's
    return out.sort(pl.col("ts"), pl.col("kind") == "release").head(max_events)


def crash_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """Every `State changed ... to crashed` of a dyno, with the exit status before it and the
    dyno's last app line (not a backtrace continuation) in the CONTEXT_SECONDS before it.

    Columns: ts, app, dyno, from_state, exit_status, last_app_line, last_app_line_no,
    source_file, line_no.
    """
    cond, params = where(dyno=dyno, since=since, until=until)
    return run(
        con,
        f"""
        WITH ev AS (
            SELECT * FROM events WHERE {cond} AND dyno IS NOT NULL
              AND kind IN ('state_change', 'exit') AND regexp_full_match(dyno, '{DYNO_RE}')
        ), crash AS (
            SELECT ts, app, dyno, from_state, source_file, line_no FROM ev
            WHERE kind = 'state_change' AND to_state = 'crashed'
        ), app AS (
            SELECT DISTINCT a.dyno, a.ts, a.message, a.line_no FROM app_logs a JOIN crash c
              ON a.dyno = c.dyno AND a.ts <= c.ts
             AND a.ts >= c.ts - INTERVAL {CONTEXT_SECONDS} SECOND
            WHERE NOT regexp_matches(a.message, '^\\s')
        )
        SELECT c.ts, c.app, c.dyno, c.from_state, x.exit_status,
               a.message AS last_app_line, a.line_no AS last_app_line_no,
               c.source_file, c.line_no
        FROM crash c
        ASOF LEFT JOIN (SELECT dyno, ts, exit_status FROM ev WHERE kind = 'exit') x
          ON c.dyno = x.dyno AND c.ts >= x.ts
        ASOF LEFT JOIN app a ON c.dyno = a.dyno AND c.ts >= a.ts
        ORDER BY c.ts, c.dyno
        """,
        params,
    )


def event_timeline(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_dynos: int = 24,
    max_events: int = 4000,
    lifetimes_df: pl.DataFrame | None = None,
    width: int = 860,
) -> alt.LayerChart:
    """Lanes over time: app events, then per dyno restarts, crashes, errors and down periods."""
    df = timeline_data(
        con,
        dyno=dyno,
        since=since,
        until=until,
        max_dynos=max_dynos,
        max_events=max_events,
        lifetimes_df=lifetimes_df,
    )
    return event_timeline_chart(df, width=width)


def event_timeline_chart(df: pl.DataFrame, *, width: int = 860) -> alt.LayerChart:
    """The timeline drawn from `timeline_data` rows."""
    lanes = [APP_LANE, *sorted({x for x in df["lane"].to_list() if x != APP_LANE}, key=_lane_key)]
    y = alt.Y("lane:N", sort=lanes, title=None)
    color = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=list(KINDS), range=list(KIND_COLORS)),
        legend=alt.Legend(orient="top"),
    )
    tips = [
        alt.Tooltip("lane:N"),
        alt.Tooltip("kind:N"),
        alt.Tooltip("label:N"),
        time_tip("ts", "at"),
        time_tip("ts_end", "until"),
        alt.Tooltip("detail:N"),
    ]
    base = alt.Chart()
    periods = (
        base.transform_filter("isValid(datum.ts_end)")
        .mark_bar(height=12, opacity=0.8)
        .encode(x=time_x("ts"), x2="ts_end:T", y=y, color=color, tooltip=tips)
    )
    points = (
        base.transform_filter("!isValid(datum.ts_end)")
        .mark_point(filled=True, size=70, opacity=0.9)
        .encode(
            x=time_x("ts"),
            y=y,
            color=color,
            shape=alt.Shape(
                "kind:N",
                scale=alt.Scale(
                    domain=list(KINDS),
                    range=[
                        "diamond",
                        "diamond",
                        "diamond",
                        "square",
                        "circle",
                        "cross",
                        "triangle-up",
                        "circle",
                        "circle",
                    ],
                ),
                legend=None,
            ),
            tooltip=tips,
        )
    )
    labels = (
        base.transform_filter(alt.datum.kind == "release")
        .mark_text(align="left", dx=5, dy=-9, fontSize=10)
        .encode(x=time_x("ts"), y=y, text="label:N")
    )
    return alt.layer(periods, points, labels, data=inline(df)).properties(
        width=width, height=alt.Step(26), title="Events: releases, scaling, restarts, crashes, down"
    )


def _lane_key(name: str) -> tuple[str, int, str]:
    head, _, tail = name.rpartition(".")
    return (head, int(tail), name) if tail.isdigit() else (name, -1, name)


def _log_end(con: duckdb.DuckDBPyConnection, cond: str, params: dict) -> datetime | None:
    """The last timestamp of the (filtered) log, over the tables that carry time."""
    return run(
        con,
        f"""
        SELECT max(t) AS t FROM (
            SELECT max(ts) AS t FROM events WHERE {cond}
            UNION ALL SELECT max(ts) FROM requests WHERE {cond}
            UNION ALL SELECT max(ts) FROM dyno_metrics WHERE {cond}
            UNION ALL SELECT max(ts) FROM app_logs WHERE {cond})
        """,
        params,
    )["t"][0]


def _restarts(
    lt: pl.DataFrame,
    since: datetime | None,
    until: datetime | None,
    dyno: str | None,
) -> pl.DataFrame:
    """Lifetime starts inside the log, labelled with their cause."""
    lt = lt.filter(~pl.col("started_before_log"))
    if dyno is not None:
        lt = lt.filter((pl.col("dyno") == dyno) | pl.col("dyno").str.starts_with(dyno + "."))
    if since is not None:
        lt = lt.filter(pl.col("start") >= since)
    if until is not None:
        lt = lt.filter(pl.col("start") < until)
    return lt.select(
        pl.col("dyno").alias("lane"),
        pl.lit("restart").alias("kind"),
        pl.col("start").alias("ts"),
        pl.col("start_cause").alias("label"),
        pl.format(
            "{} started ({}), release {}",
            "lifetime_id",
            "start_cause",
            pl.col("release").fill_null("?"),
        ).alias("detail"),
    )
