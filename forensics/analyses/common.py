"""Releases every analysis shares: the releases seen in the log and which one was in effect
when."""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import app_key_expr, has_view, query


def _releases_sql(table: str) -> str:
    return f"""
        WITH r AS (
            SELECT app, release, min(ts) AS start
            FROM {table} WHERE kind = 'release' AND release IS NOT NULL
            GROUP BY app, release
        )
        SELECT app, release, CAST(substr(release, 2) AS INTEGER) AS version, start,
               lead(start) OVER (PARTITION BY app ORDER BY start) AS "end"
        FROM r ORDER BY app NULLS FIRST, start
        """


def releases(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per release seen in the log (`Release vN created`), per app, in time order:
    app, release, version (int), start, end (start of the next release, or null).
    A release logged twice (overlapping exports) counts once, at its first time.
    """
    return query(con, _releases_sql("events"))


@per_dataset
def _all_releases(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """`releases`, but over the uncut events (`_raw_events`) when the connection has them:
    the release in effect at a time inside a cut (`--since`, `--dyno web`) was usually created
    outside it. Rows are matched by app afterwards, so the app cut still holds."""
    if not has_view(con, "_raw_events"):
        return releases(con)
    return query(con, _releases_sql("_raw_events"))


def with_release(
    con: duckdb.DuckDBPyConnection, df: pl.DataFrame, ts_col: str, out: str = "release"
) -> pl.DataFrame:
    """`df` plus column `out`: the release in effect at `ts_col` (per `app`), i.e. the last
    `Release vN created` at or before it, cut or not (see `_all_releases`). Before the first
    release seen (vN), the release in effect was v(N-1) (releases are numbered one by one), so
    that is used; null when no release is logged at all or the first one is v1."""
    if df.is_empty():
        return df.with_columns(pl.lit(None, pl.String).alias(out))
    rel = _all_releases(con)
    if rel.is_empty():
        return df.with_columns(pl.lit(None, pl.String).alias(out))
    key = "__app_key"  # not APP_KEY: `df` may have an `akey` column of its own
    right = rel.select(
        app_key_expr(alias=key),
        pl.col("start").alias("__rel_start"),
        pl.col("release").alias("__rel"),
    ).sort("__rel_start")
    first = (
        rel.sort("start")
        .group_by(app_key_expr(alias=key))
        .agg(pl.col("version").first().alias("__first"))
    )
    app = pl.col("app") if "app" in df.columns else pl.lit(None, pl.String)
    left = (
        df.with_row_index("__row")
        .with_columns(app_key_expr(app, alias=key))
        .with_columns(pl.col(ts_col).alias("__ts"))
    )
    has_ts = left.filter(pl.col("__ts").is_not_null()).sort("__ts")
    no_ts = left.filter(pl.col("__ts").is_null())
    joined = has_ts.join_asof(
        right,
        left_on="__ts",
        right_on="__rel_start",
        by=key,
        strategy="backward",
        check_sortedness=False,
    )
    joined = pl.concat(
        [joined, no_ts.with_columns(pl.lit(None, pl.String).alias("__rel"))], how="diagonal"
    )
    joined = joined.join(first, on=key, how="left")
    before = pl.when(pl.col("__ts").is_not_null() & (pl.col("__first") > 1)).then(
        pl.concat_str(pl.lit("v"), (pl.col("__first") - 1).cast(pl.String))
    )
    return (
        joined.with_columns(pl.coalesce("__rel", before).alias(out))
        .sort("__row")
        .drop("__row", key, "__ts", "__rel", "__rel_start", "__first", strict=False)
    )
