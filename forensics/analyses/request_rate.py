"""Request rate of a whole app during a window against the hour before it: was there a surge?

Many routes timing out at once with no release before it is either something they share going
slow (the database, a dependency) or more requests than the dynos can serve. The router logs
every request, so its lines per minute are the arrival rate (to a minute: a request is logged
when it ends). A window's `before` is the `before_minutes` ending where it starts; a window
that opens less than that after the log's first request compares with what the log has.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.sql import app_key_expr, app_key_sql, query, registered

BEFORE_MINUTES = 60
# A window with at least this many times the requests per minute of the hour before is a surge.
SURGE_RATIO = 2.0
# Shorter than this, a window's rate is a few requests' noise.
MIN_WINDOW_SECONDS = 60
_OUT = {
    "requests": pl.Int64,
    "per_minute": pl.Float64,
    "before_requests": pl.Int64,
    "before_per_minute": pl.Float64,
    "ratio": pl.Float64,
}


def request_rate(
    con: duckdb.DuckDBPyConnection,
    windows: pl.DataFrame,
    *,
    before_minutes: float = BEFORE_MINUTES,
) -> pl.DataFrame:
    """Per row of `windows` (app, start, end), in its order: `requests` and `per_minute` of the
    app inside [start, end], `before_requests` and `before_per_minute` in the `before_minutes`
    before start (as much of it as the log covers), and `ratio` = per_minute /
    before_per_minute (null when either side has too little to tell).

    Answers: did traffic rise when the trouble began, and by how much?

    >>> import duckdb, polars as pl
    >>> from datetime import datetime, timezone
    >>> con = duckdb.connect()
    >>> t = [datetime(2024, 5, 20, 9, m, s, tzinfo=timezone.utc) for m in range(60)
    ...      for s in range(0, 60, 30 if m < 50 else 6)]
    >>> _ = con.register("requests", pl.DataFrame({"app": ["a"] * len(t), "ts": t}))
    >>> w = pl.DataFrame({"app": ["a"], "start": [t[0].replace(minute=50)],
    ...                   "end": [t[0].replace(hour=10, minute=0)]})
    >>> request_rate(con, w).select("per_minute", "before_per_minute", "ratio").row(0)
    (10.0, 2.0, 5.0)
    """
    if windows.is_empty():
        return windows.with_columns(*(pl.lit(None, t).alias(c) for c, t in _OUT.items()))
    w = windows.with_row_index("_w").select("_w", app_key_expr("app"), "start", "end")
    with registered(con, w) as name:
        got = query(
            con,
            f"""
            WITH first AS (SELECT {app_key_sql("app")} AS akey, min(ts) AS t0 FROM requests
                           GROUP BY 1)
            SELECT w._w,
                   count(r.ts) FILTER (WHERE r.ts >= w.start) AS requests,
                   count(r.ts) FILTER (WHERE r.ts < w.start) AS before_requests,
                   epoch(w."end" - w.start) AS secs,
                   epoch(w.start - greatest(f.t0, w.start - INTERVAL
                         {int(before_minutes * 60)} SECOND)) AS before_secs
            FROM {name} w JOIN first f ON f.akey = w.akey
            LEFT JOIN requests r
              ON {app_key_sql("r.app")} = w.akey
             AND r.ts >= w.start - INTERVAL {int(before_minutes * 60)} SECOND
             AND r.ts <= w."end"
            GROUP BY w._w, w.start, w."end", f.t0
            """,
        )
    per = pl.col("requests") / pl.col("secs") * 60
    before = pl.col("before_requests") / pl.col("before_secs") * 60
    got = got.with_columns(
        pl.when(pl.col("secs") >= MIN_WINDOW_SECONDS).then(per).alias("per_minute"),
        pl.when(pl.col("before_secs") >= MIN_WINDOW_SECONDS)
        .then(before)
        .alias("before_per_minute"),
    ).with_columns(
        pl.when(pl.col("before_per_minute") > 0)
        .then(pl.col("per_minute") / pl.col("before_per_minute"))
        .alias("ratio")
    )
    out = (
        w.select("_w")
        .join(got, on="_w", how="left")
        .sort("_w")
        .select(*(pl.col(c).cast(t) for c, t in _OUT.items()))
    )
    return pl.concat([windows, out], how="horizontal")
