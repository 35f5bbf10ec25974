"""Traffic by status class over time: requests per minute per time bucket, each request counted
once, under its router error code when the router logged one (H12, H10, H27, ...) and under its
status class (2xx, 3xx, 4xx, 5xx) otherwise; and the share of them that failed on the app's side.

The router logs a request when it ends, so a request falls in the bucket of its router line.
Several windows (the whole log, each incident's) are bucketed in one GROUP BY, each at its own
resolution (`forensics.analyses.series.window_buckets`); empty buckets are rows with 0, so a
drop to no traffic shows as one.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from forensics.analyses.series import Window, bucket_grid, table_window, window_buckets
from forensics.analyses.sql import query, registered
from forensics.heroku import CLIENT_CODES

MAX_BUCKETS = 240
OTHER = "other"  # a router line with neither an error code nor a status

SCHEMA: dict[str, pl.DataType] = {
    "window": pl.String,
    "bucket": pl.Datetime("us", "UTC"),
    "bucket_end": pl.Datetime("us", "UTC"),
    "bucket_seconds": pl.Int64,
    "status_class": pl.String,
    "requests": pl.Int64,
    "per_minute": pl.Float64,
}

_CLASS_SQL = """
    CASE WHEN r.code LIKE 'H%' THEN r.code
         WHEN r.status BETWEEN 100 AND 599 THEN CAST(r.status // 100 AS VARCHAR) || 'xx'
         ELSE 'other' END
"""


def status_series(
    con: duckdb.DuckDBPyConnection,
    *,
    windows: Sequence[Window] | None = None,
    max_buckets: int = MAX_BUCKETS,
) -> pl.DataFrame:
    """Requests per status class and time bucket, for each window (None: the whole log, as
    window "all").

    Answers: how much traffic was there, and how much of it failed, minute by minute? Columns:
    window, bucket, bucket_end, bucket_seconds, status_class (an H-code, `2xx`..`5xx`, or
    `other`), requests, per_minute (requests / bucket minutes). Every bucket of a window has a
    row for each class seen in that window (0 where none).
    """
    wins = table_window(con) if windows is None else list(windows)
    grid_w = window_buckets(wins, max_buckets=max_buckets)
    if grid_w.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    with registered(con, grid_w) as w:
        counts = query(
            con,
            f"""
            SELECT w."window", to_timestamp(floor(epoch(r.ts) / w.width) * w.width) AS bucket,
                   {_CLASS_SQL} AS status_class, count(*) AS requests
            FROM requests r JOIN {w} w ON r.ts >= w.lo AND r.ts < w.hi
            GROUP BY ALL
            """,
        )
    grid = bucket_grid(grid_w)
    classes = counts.select("window", "status_class").unique()
    full = grid.join(classes, on="window", how="inner")
    out = full.join(counts, on=["window", "bucket", "status_class"], how="left").with_columns(
        pl.col("requests").fill_null(0).cast(pl.Int64)
    )
    out = out.with_columns(
        (pl.col("requests") / (pl.col("bucket_seconds") / 60)).alias("per_minute")
    )
    return out.select(list(SCHEMA)).sort("window", "bucket", "status_class")


def failed_class(status_class: pl.Expr) -> pl.Expr:
    """Whether requests of a class failed on the app's side: 5xx, or an H-code other than the
    client's own (H27, H28, H31: `forensics.heroku.CLIENT_CODES`), as the request-error
    findings count them."""
    return (status_class == "5xx") | (
        status_class.str.starts_with("H") & ~status_class.is_in(list(CLIENT_CODES))
    )


def error_share(status: pl.DataFrame) -> pl.DataFrame:
    """Per window and bucket of a `status_series` table: requests, failed (see `failed_class`),
    per_minute and error_share (failed / requests; null when there was no request)."""
    return (
        status.group_by("window", "bucket", "bucket_end", "bucket_seconds")
        .agg(
            pl.col("requests").sum(),
            pl.col("requests").filter(failed_class(pl.col("status_class"))).sum().alias("failed"),
            pl.col("per_minute").sum(),
        )
        .with_columns(
            pl.when(pl.col("requests") > 0)
            .then(pl.col("failed") / pl.col("requests"))
            .alias("error_share")
        )
        .sort("window", "bucket")
    )
