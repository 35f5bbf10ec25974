"""Service time of one dyno during a window against the same dyno just before it: what the
users of a dyno saw while it was over its memory quota (swapping), compared with its own normal.

Requests count by the dyno that served them (`requests.dyno`), their router `service` time,
H12s at the 30 s the router waited. A window's `before` is the `before_minutes` ending where
it starts.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import app_key_expr, app_key_sql, query, registered

BEFORE_MINUTES = 60
_OUT = {
    "_w": pl.UInt32,
    "requests": pl.Int64,
    "p50_ms": pl.Float64,
    "p95_ms": pl.Float64,
    "before_requests": pl.Int64,
    "before_p50_ms": pl.Float64,
    "before_p95_ms": pl.Float64,
}


def dyno_service(
    con: duckdb.DuckDBPyConnection,
    windows: pl.DataFrame,
    *,
    before_minutes: float = BEFORE_MINUTES,
) -> pl.DataFrame:
    """Per row of `windows` (app, dyno, start, end), in its order: requests, p50_ms, p95_ms of
    the dyno inside [start, end], and before_requests, before_p50_ms, before_p95_ms in the
    `before_minutes` before start (nulls with no request).

    Answers: did this dyno answer slower while it was over quota than it did before?
    """
    if windows.is_empty():
        return windows.with_columns(
            *(pl.lit(None, t).alias(c) for c, t in _OUT.items() if c != "_w")
        )
    w = windows.with_row_index("_w").select("_w", app_key_expr("app"), "dyno", "start", "end")
    with registered(con, w) as name:
        got = query(
            con,
            f"""
            SELECT w._w,
                   count(*) FILTER (WHERE r.ts >= w.start) AS requests,
                   quantile_cont(r.service_ms, 0.5) FILTER (WHERE r.ts >= w.start) AS p50_ms,
                   quantile_cont(r.service_ms, 0.95) FILTER (WHERE r.ts >= w.start) AS p95_ms,
                   count(*) FILTER (WHERE r.ts < w.start) AS before_requests,
                   quantile_cont(r.service_ms, 0.5) FILTER (WHERE r.ts < w.start)
                       AS before_p50_ms,
                   quantile_cont(r.service_ms, 0.95) FILTER (WHERE r.ts < w.start)
                       AS before_p95_ms
            FROM {name} w JOIN requests r
              ON r.dyno = w.dyno AND {app_key_sql("r.app")} = w.akey
             AND r.ts >= w.start - INTERVAL {int(before_minutes * 60)} SECOND
             AND r.ts <= w."end"
            WHERE r.service_ms IS NOT NULL
            GROUP BY w._w
            """,
        )
    got = got.cast({c: t for c, t in _OUT.items()})
    return (
        windows.with_row_index("_w")
        .join(got, on="_w", how="left")
        .with_columns(pl.col("requests", "before_requests").fill_null(0))
        .drop("_w")
    )


@per_dataset
def quota_service(con: duckdb.DuckDBPyConnection, episodes: pl.DataFrame) -> pl.DataFrame:
    """`dyno_service` of the R14 episodes of web dynos in `episodes` (a `quota_episodes`
    table), in their order: what the memory_quota findings compare, shared (and cached) with
    the episodes it comes from."""
    web = episodes.filter((pl.col("code") == "R14") & (pl.col("process_type") == "web"))
    return dyno_service(con, web.select("app", "dyno", "start", "end"))
