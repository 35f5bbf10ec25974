"""The database during a window against the hour before: slow statements Heroku Postgres logged,
and its own load metrics. Was the thing every slow route shares the database?

Heroku Postgres (Standard and higher) logs each statement of 2 s or more from the backend
that ran it, as app output named by its pid, e.g.

    2024-05-20T12:00:03+00:00 app[postgres.4242]: [DATABASE] [9-1] sql_error_code = 00000
    ... LOG:  duration: 28012.113 ms  statement: SELECT "orders".* FROM "orders" WHERE ...

(older plans: `[CRIMSON] [1-1] LOG:  duration: 2463.560 ms  statement: ...`), and every minute
or so its metrics (`app[heroku-postgres]: source=DATABASE sample#load-avg-1m=7.9
sample#active-connections=38 sample#waiting-connections=6 sample#read-iops=1200 ...`).
Statements are templated (literals, numbers and IN lists replaced) so one query with other
arguments counts as one.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.sql import app_key_expr, app_key_sql, query, registered
from forensics.heroku import PG_METRICS_DYNO, process_type_sql

BEFORE_MINUTES = 60
# The database was busy in a window when it logged this many slow statements at this many
# times the hour before's rate, or its load average reached LOAD_MIN at this many times before.
BUSY_MIN_STATEMENTS = 5
BUSY_RATIO = 3.0
BUSY_LOAD_MIN = 1.0
_DURATION_RE = r"duration: ([0-9.]+) ms\s+(?:statement|execute [^:]*|parse [^:]*|bind [^:]*): (.*)$"
# Metrics compared, as logged (sample#<name>).
METRICS = ("load-avg-1m", "active-connections", "waiting-connections", "read-iops")
_OUT: dict[str, pl.DataType] = {
    "slow_statements": pl.Int64,
    "slowest_ms": pl.Float64,
    "top_statement": pl.String,
    "top_statement_count": pl.Int64,
    "before_slow_statements": pl.Int64,
    "statement_sources": pl.List(
        pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64})
    ),
    **{f"{m.replace('-', '_')}{s}": pl.Float64 for m in METRICS for s in ("", "_before")},
}


def template_sql(col: str) -> str:
    """A statement with its literals replaced by `?` (strings, numbers, IN lists), as DuckDB
    SQL over column `col`: the same query with other arguments is one template."""
    s = f"regexp_replace({col}, '''(?:[^'']|'''')*''', '?', 'g')"
    s = f"regexp_replace({s}, '\\$[0-9]+', '?', 'g')"
    s = f"regexp_replace({s}, '\\b[0-9]+(?:\\.[0-9]+)?\\b', '?', 'g')"
    s = f"regexp_replace({s}, '\\(\\s*\\?(?:\\s*,\\s*\\?)*\\s*\\)', '(?)', 'g')"
    return f"trim(regexp_replace({s}, '\\s+', ' ', 'g'))"


def database_load(
    con: duckdb.DuckDBPyConnection,
    windows: pl.DataFrame,
    *,
    before_minutes: float = BEFORE_MINUTES,
) -> pl.DataFrame:
    """Per row of `windows` (app, start, end), in its order: `slow_statements` (logged by
        Heroku Postgres inside [start, end]), `slowest_ms`, `top_statement` (the most frequent
        template, cut at 200 characters), `top_statement_count` and `statement_sources` (the
    input lines of its 3 slowest runs), `before_slow_statements` (in
        the `before_minutes` before start), and for each of METRICS its median inside the window
        and before it (`load_avg_1m`, `load_avg_1m_before`, ...; null without metrics).

        Answers: did the database slow down when the requests did?
    """
    if windows.is_empty():
        return windows.with_columns(*(pl.lit(None, t).alias(c) for c, t in _OUT.items()))
    w = windows.with_row_index("_w").select("_w", app_key_expr("app"), "start", "end")
    before = int(before_minutes * 60)
    near = f"""ON {app_key_sql("x.app")} = w.akey
               AND x.ts >= w.start - INTERVAL {before} SECOND AND x.ts <= w."end" """
    with registered(con, w) as name:
        slow = query(
            con,
            f"""
            WITH s AS (
                SELECT app, ts, source_file, line_no,
                       CAST(regexp_extract(message, '{_DURATION_RE}', 1) AS DOUBLE)
                       AS ms, {template_sql(f"regexp_extract(message, '{_DURATION_RE}', 2)")}
                       AS tpl
                FROM app_logs
                WHERE {process_type_sql("dyno")} = 'postgres'
                  AND regexp_matches(message, '{_DURATION_RE}')
            ),
            j AS (SELECT w._w, x.ts >= w.start AS inside, x.ms, x.tpl, x.ts, x.source_file,
                         x.line_no
                  FROM {name} w JOIN s x {near}),
            top AS (
                SELECT _w, arg_max(tpl, n) AS top_statement, max(n) AS top_statement_count
                FROM (SELECT _w, tpl, count(*) AS n FROM j WHERE inside GROUP BY ALL)
                GROUP BY _w
            ),
            srcs AS (
                SELECT j._w, list({{'file': j.source_file, 'first_line': j.line_no,
                                    'last_line': j.line_no}} ORDER BY j.ms DESC)[1:3]
                       AS statement_sources
                FROM j JOIN top t ON t._w = j._w AND j.tpl = t.top_statement
                WHERE j.inside GROUP BY j._w
            )
            SELECT _w, count(*) FILTER (WHERE inside) AS slow_statements,
                   max(ms) FILTER (WHERE inside) AS slowest_ms,
                   count(*) FILTER (WHERE NOT inside) AS before_slow_statements,
                   any_value(t.top_statement) AS top_statement,
                   any_value(t.top_statement_count) AS top_statement_count,
                   any_value(c.statement_sources) AS statement_sources
            FROM j LEFT JOIN top t USING (_w) LEFT JOIN srcs c USING (_w) GROUP BY _w
            """,
        )
        metrics = query(
            con,
            f"""
            SELECT w._w, x.metric, x.ts >= w.start AS inside, median(x.value) AS v
            FROM {name} w JOIN addon_metrics x {near}
            WHERE x.dyno = '{PG_METRICS_DYNO}' AND x.metric IN
                  ({", ".join(f"'{m}'" for m in METRICS)})
            GROUP BY ALL
            """,
        )
    wide = w.select("_w")
    for m in METRICS:
        col = m.replace("-", "_")
        for inside, suffix in ((True, ""), (False, "_before")):
            part = metrics.filter((pl.col("metric") == m) & (pl.col("inside") == inside))
            wide = wide.join(
                part.select("_w", pl.col("v").alias(col + suffix)), on="_w", how="left"
            )
    out = (
        wide.join(slow, on="_w", how="left")
        .with_columns(
            pl.col("slow_statements", "before_slow_statements").fill_null(0),
            pl.col("top_statement").str.slice(0, 200),
        )
        .sort("_w")
        .select(*(pl.col(c).cast(t) for c, t in _OUT.items()))
    )
    return pl.concat([windows, out], how="horizontal")


def busy(row: dict) -> bool:
    """Whether a `database_load` row (with the window's `start`, `end`) shows the database
    busier than in the hour before: many more slow statements, or a load average that rose."""
    minutes = max((row["end"] - row["start"]).total_seconds() / 60, 1.0)
    rate = row["slow_statements"] / minutes
    before = row["before_slow_statements"] / BEFORE_MINUTES
    if row["slow_statements"] >= BUSY_MIN_STATEMENTS and rate >= BUSY_RATIO * before:
        return True
    load, was = row["load_avg_1m"], row["load_avg_1m_before"]
    return load is not None and load >= BUSY_LOAD_MIN and (was is None or load >= BUSY_RATIO * was)
