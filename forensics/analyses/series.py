"""Time series helpers the drawable tables share: filters as bound parameters and epoch-aligned
time buckets sized so a series stays at a bounded number of rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.sql import query
from forensics.errors import ForensicsError

# Bucket widths (seconds) a series may use: whole minutes, hours, days.
NICE_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def where(
    *,
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ts: str = "ts",
    dyno_col: str = "dyno",
    route_col: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A SQL condition (never empty) and its parameters for the usual filters.

    `dyno` matches a dyno (`web.1`) or a process type (`web`), like `Cut.dyno`; `route` is a
    route template or a list of them (ignored when `route_col` is None: the table has none).
    """
    conds, params = ["TRUE"], {}
    if dyno is not None:
        conds.append(f"({dyno_col} = $f_dyno OR {dyno_col} LIKE $f_dyno || '.%')")
        params["f_dyno"] = dyno
    if route is not None and route_col is not None:
        routes = [route] if isinstance(route, str) else list(route)
        conds.append(f"list_contains($f_routes, {route_col})")
        params["f_routes"] = routes
    if since is not None:
        conds.append(f"{ts} >= $f_since")
        params["f_since"] = since
    if until is not None:
        conds.append(f"{ts} < $f_until")
        params["f_until"] = until
    return " AND ".join(conds), params


def nice_bucket(span_seconds: float, max_buckets: int, minimum: int = 60) -> int:
    """The smallest nice bucket width that cuts `span_seconds` into at most `max_buckets`."""
    need = max(minimum, math.ceil(max(span_seconds, 0) / max(max_buckets, 1)))
    for width in NICE_BUCKETS:
        if width >= need:
            return width
    return math.ceil(need / 86400) * 86400


def span_seconds(con: duckdb.DuckDBPyConnection, table: str, cond: str, params: dict) -> float:
    """Seconds between the first and last row of `table` matching `cond` (0 when none)."""
    sql = f"SELECT epoch(max(ts)) - epoch(min(ts)) AS s FROM {table} WHERE {cond}"
    row = query(con, sql, params)
    value = row["s"][0]
    return float(value) if value is not None else 0.0


def bucket_width(bucket_seconds: float) -> int:
    """`bucket_seconds` as the whole-second bucket width the SQL uses; a ForensicsError when it
    is not positive."""
    w = int(bucket_seconds)
    if w <= 0:
        raise ForensicsError("bucket_seconds must be positive")
    return w


def bucket_sql(width: int, ts: str = "ts") -> str:
    """SQL for the start of the epoch-aligned `width`-second bucket holding `ts`."""
    return f"to_timestamp(floor(epoch({ts}) / {int(width)}) * {int(width)})"


def dyno_key(name: str) -> tuple[str, int, str]:
    """Sort key for dyno names: `web.2` before `web.10`."""
    head, _, tail = name.rpartition(".")
    return (head, int(tail), name) if tail.isdigit() else (name, -1, name)


def conform(df: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """`df` with exactly the columns of `schema`, cast, missing ones as nulls, so the parts of a
    long-form table concatenate."""
    return df.select(
        pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    )


# A named time window to cut a series to: (key, start, end); the whole log is one of them.
Window = tuple[str, datetime, datetime]


def table_window(
    con: duckdb.DuckDBPyConnection, table: str = "requests", key: str = "all"
) -> list[Window]:
    """The window from the first to the last row of `table` (none when it has no row)."""
    row = query(con, f"SELECT min(ts) AS lo, max(ts) AS hi FROM {table}")
    lo, hi = row["lo"][0], row["hi"][0]
    return [] if lo is None else [(key, lo, hi)]


def window_buckets(windows: Sequence[Window], *, max_buckets: int) -> pl.DataFrame:
    """One row per window: `window` (its key), `lo`/`hi` (its start and end widened to whole
    buckets) and `width` (seconds: the nice bucket that cuts it into at most `max_buckets`), so
    one GROUP BY can bucket several windows (the whole log and each incident) at their own
    resolution. A ForensicsError when a window ends before it starts."""
    rows = []
    for key, start, end in windows:
        span = (end - start).total_seconds()
        if span < 0:
            raise ForensicsError(f"window {key!r} ends ({end}) before it starts ({start})")
        width = nice_bucket(span, max_buckets)
        lo = math.floor(start.timestamp() / width) * width
        hi = (math.floor(end.timestamp() / width) + 1) * width
        rows.append({"window": key, "lo": lo, "hi": hi, "width": width})
    schema = {"window": pl.String, "lo": pl.Float64, "hi": pl.Float64, "width": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.with_columns(
        pl.from_epoch((pl.col("lo") * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("lo"),
        pl.from_epoch((pl.col("hi") * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("hi"),
    )


def bucket_grid(windows: pl.DataFrame) -> pl.DataFrame:
    """Every bucket of every window of `window_buckets`: window, bucket (start), bucket_end,
    bucket_seconds; the frame a sparse series is joined onto so empty buckets read as zero."""
    step = pl.col("width") * 1_000_000
    return (
        windows.with_columns(
            pl.int_ranges(pl.col("lo").dt.epoch("us"), pl.col("hi").dt.epoch("us"), step).alias(
                "us"
            )
        )
        .explode("us")
        .select(
            "window",
            pl.from_epoch("us", time_unit="us").dt.replace_time_zone("UTC").alias("bucket"),
            pl.from_epoch(pl.col("us") + step, time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("bucket_end"),
            pl.col("width").alias("bucket_seconds"),
        )
    )
