"""Service time over time: p50/p95/p99 and max of the router's `service` per time bucket, for the
whole log or each incident's window, in one GROUP BY (`forensics.analyses.series.window_buckets`
gives each window its resolution). Requests the router gave up on count with the time it
waited (H12: 30 s), which is what their users waited too; the H-codes to mark on the same time
axis are the H-code rows of `forensics.analyses.traffic.status_series`.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from forensics.analyses.series import Window, table_window, window_buckets
from forensics.analyses.sql import query, registered

MAX_BUCKETS = 240

SCHEMA: dict[str, pl.DataType] = {
    "window": pl.String,
    "bucket": pl.Datetime("us", "UTC"),
    "bucket_end": pl.Datetime("us", "UTC"),
    "bucket_seconds": pl.Int64,
    "requests": pl.Int64,
    "p50_ms": pl.Float64,
    "p95_ms": pl.Float64,
    "p99_ms": pl.Float64,
    "max_ms": pl.Float64,
}


def service_percentiles(
    con: duckdb.DuckDBPyConnection,
    *,
    windows: Sequence[Window] | None = None,
    max_buckets: int = MAX_BUCKETS,
) -> pl.DataFrame:
    """p50/p95/p99/max service time (ms) per time bucket of each window (None: the whole log
    of router lines, as window "all"). Only buckets with a request that has a service time.

    Answers: when did requests get slow, and for how many of them? Columns: window, bucket,
    bucket_end, bucket_seconds, requests (with a service time), p50_ms, p95_ms, p99_ms, max_ms.
    Windows with the same key as `traffic.status_series` get the same buckets.
    """
    wins = table_window(con) if windows is None else list(windows)
    grid_w = window_buckets(wins, max_buckets=max_buckets)
    if grid_w.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    with registered(con, grid_w) as w:
        df = query(
            con,
            f"""
            SELECT w."window", to_timestamp(floor(epoch(r.ts) / w.width) * w.width) AS bucket,
                   any_value(w.width) AS bucket_seconds, count(*) AS requests,
                   quantile_cont(r.service_ms, [0.5, 0.95, 0.99]) AS q,
                   max(r.service_ms) AS max_ms
            FROM requests r JOIN {w} w ON r.ts >= w.lo AND r.ts < w.hi
            WHERE r.service_ms IS NOT NULL
            GROUP BY ALL
            """,
        )
    return (
        df.with_columns(
            (pl.col("bucket") + pl.duration(seconds=pl.col("bucket_seconds"))).alias("bucket_end"),
            pl.col("q").list.get(0).alias("p50_ms"),
            pl.col("q").list.get(1).alias("p95_ms"),
            pl.col("q").list.get(2).alias("p99_ms"),
        )
        .with_columns(pl.col(c).cast(t) for c, t in SCHEMA.items())
        .select(list(SCHEMA))
        .sort("window", "bucket")
    )
