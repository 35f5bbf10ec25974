"""Leak trend: memory per dyno over time with its quota, R14/R15, restarts and releases.

One row of small multiples per dyno, on a shared time axis: which dyno grew, since when
(release lines), and what reset it (restart rules, crash marks).
"""

from __future__ import annotations

from datetime import datetime

import altair as alt
import duckdb
import polars as pl

from forensics.analyses.lifetimes import lifetimes
from forensics.charts.encode import conform, inline, time_tip, time_x
from forensics.charts.sql import bucket_sql, nice_bucket, run, span_seconds, where

SERIES = ("memory_total", "memory_rss", "quota", "R14", "R15", "restart", "crash", "release")
COLORS = ("#1f77b4", "#9ecae1", "#d62728", "#ff7f0e", "#8c0000", "#7f7f7f", "#9467bd", "#2ca02c")

TS = pl.Datetime("us", "UTC")
SCHEMA = {
    "dyno": pl.String,
    "layer": pl.String,
    "series": pl.String,
    "ts": TS,
    "ts_end": TS,
    "segment": pl.Int64,
    "mb": pl.Float64,
    "mb_mean": pl.Float64,
    "count": pl.Int64,
    "label": pl.String,
    "detail": pl.String,
}


def leak_trend_data(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_points: int = 4000,
    max_dynos: int = 8,
    lifetimes_df: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The leak trend's rows, one frame in long form (`layer` says which mark draws the row).

    Layers: `memory` (per dyno, process instance `segment` and bucket: max `mb` and mean
    `mb_mean` of memory_total and memory_rss, `count` samples), `quota` (rule from `ts` to
    `ts_end` at `mb`), `error` (R14/R15 per bucket: `count`, placed at the bucket's memory),
    `restart` (lifetime starts, `label` = cause) and `crash` (lifetime ends by crash or R15),
    `release` (`label` = v42, repeated for each dyno shown). Buckets are sized so the memory
    rows stay near `max_points`; the `max_dynos` dynos with the highest memory are kept.
    Dynos without runtime metrics use `Process running mem=` events as memory_total.
    `lifetimes_df` is `forensics.analyses.lifetimes.lifetimes(con)` when the caller has it.
    """
    cond, params = where(dyno=dyno, since=since, until=until)
    dynos = _top_dynos(con, cond, params, max_dynos)
    if not dynos:
        return pl.DataFrame(schema=SCHEMA)
    params = {**params, "dynos": dynos}
    cond = f"{cond} AND list_contains($dynos, dyno)"
    if bucket_seconds is None:
        span = max(span_seconds(con, "dyno_metrics", cond, params), 0.0)
        bucket_seconds = nice_bucket(span, max(max_points // (2 * len(dynos)), 1))
    memory = _memory(con, cond, params, bucket_seconds)
    parts = [
        memory,
        _quota(con, cond, params),
        _errors(con, cond, params, bucket_seconds, memory),
        _lifetime_marks(
            lifetimes_df if lifetimes_df is not None else lifetimes(con), dynos, since, until
        ),
        _releases(con, since, until, dynos),
    ]
    return pl.concat([conform(p, SCHEMA) for p in parts]).sort("dyno", "layer", "series", "ts")


def leak_trend(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_points: int = 4000,
    max_dynos: int = 8,
    lifetimes_df: pl.DataFrame | None = None,
    width: int = 860,
    row_height: int = 130,
) -> alt.FacetChart:
    """Memory per dyno (one row each) with quota, R14/R15, restarts and release lines."""
    df = leak_trend_data(
        con,
        dyno=dyno,
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        max_points=max_points,
        max_dynos=max_dynos,
        lifetimes_df=lifetimes_df,
    )
    return leak_trend_chart(df, width=width, row_height=row_height)


def leak_trend_chart(
    df: pl.DataFrame, *, width: int = 860, row_height: int = 130
) -> alt.FacetChart:
    """The leak trend drawn from `leak_trend_data` rows."""
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=list(SERIES), range=list(COLORS)),
        legend=alt.Legend(orient="top"),
    )
    x = time_x("ts")
    base = alt.Chart()
    mem = (
        base.transform_filter(alt.datum.layer == "memory")
        .mark_line(strokeWidth=1.3, interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("mb:Q", title="MB"),
            color=color,
            detail="segment:N",
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N"),
                time_tip("ts", "bucket start"),
                alt.Tooltip("mb:Q", title="max MB", format=".1f"),
                alt.Tooltip("mb_mean:Q", title="mean MB", format=".1f"),
                alt.Tooltip("count:Q", title="samples"),
            ],
        )
    )
    quota = (
        base.transform_filter(alt.datum.layer == "quota")
        .mark_rule(strokeDash=[6, 3], strokeWidth=1.5)
        .encode(
            x=x,
            x2="ts_end:T",
            y="mb:Q",
            color=color,
            tooltip=[alt.Tooltip("dyno:N"), alt.Tooltip("mb:Q", title="quota MB")],
        )
    )
    errors = (
        base.transform_filter(alt.datum.layer == "error")
        .mark_point(shape="triangle-up", filled=True, size=40)
        .encode(
            x=x,
            y="mb:Q",
            color=color,
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N", title="error"),
                alt.Tooltip("count:Q", title="count in bucket"),
                time_tip("ts", "bucket start"),
            ],
        )
    )
    marks = (
        base.transform_filter((alt.datum.layer == "restart") | (alt.datum.layer == "crash"))
        .mark_rule(strokeWidth=1.2, opacity=0.8)
        .encode(
            x=x,
            color=color,
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N", title="what"),
                alt.Tooltip("label:N", title="cause"),
                time_tip("ts", "at"),
                alt.Tooltip("detail:N"),
            ],
        )
    )
    rel = base.transform_filter(alt.datum.layer == "release")
    rel_rule = rel.mark_rule(strokeDash=[2, 2], strokeWidth=1.2).encode(
        x=x,
        color=color,
        tooltip=[alt.Tooltip("label:N", title="release"), time_tip("ts", "at"), "detail:N"],
    )
    rel_text = rel.mark_text(align="left", baseline="top", dx=3, dy=2, fontSize=10).encode(
        x=x, y=alt.value(0), text="label:N", color=color
    )
    layered = alt.layer(mem, quota, errors, marks, rel_rule, rel_text).properties(
        width=width, height=row_height
    )
    return layered.facet(
        row=alt.Row("dyno:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        data=inline(df),
    ).properties(title="Memory per dyno: quota, R14/R15, restarts, releases")


def _top_dynos(con: duckdb.DuckDBPyConnection, cond: str, params: dict, limit: int) -> list[str]:
    """Dynos with memory data, highest peak first, at most `limit`, returned in name order."""
    df = run(
        con,
        f"""
        SELECT dyno, max(mb) AS peak FROM (
            SELECT dyno, memory_total_mb AS mb FROM dyno_metrics
            WHERE {cond} AND dyno IS NOT NULL AND memory_total_mb IS NOT NULL
            UNION ALL
            SELECT dyno, mem_mb FROM events
            WHERE {cond} AND kind = 'memory' AND dyno IS NOT NULL AND mem_mb IS NOT NULL
        ) GROUP BY dyno ORDER BY peak DESC, dyno LIMIT {int(limit)}
        """,
        params,
    )
    return sorted(df["dyno"].to_list(), key=_dyno_key)


def _dyno_key(name: str) -> tuple[str, int, str]:
    head, _, tail = name.rpartition(".")
    return (head, int(tail), name) if tail.isdigit() else (name, -1, name)


def _memory(con: duckdb.DuckDBPyConnection, cond: str, params: dict, width: int) -> pl.DataFrame:
    """Max and mean memory_total / memory_rss per dyno, process instance and bucket."""
    wide = run(
        con,
        f"""
        WITH m AS (
            SELECT ts, dyno, dyno_id, memory_total_mb AS total, memory_rss_mb AS rss
            FROM dyno_metrics WHERE {cond} AND memory_total_mb IS NOT NULL
            UNION ALL
            SELECT ts, dyno, NULL, mem_mb, NULL FROM events e
            WHERE {cond} AND kind = 'memory' AND mem_mb IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM dyno_metrics d WHERE d.dyno = e.dyno)
        ), ids AS (
            SELECT dyno, dyno_id,
                   row_number() OVER (PARTITION BY dyno ORDER BY min(ts)) AS segment
            FROM m GROUP BY dyno, dyno_id
        )
        SELECT m.dyno, ids.segment, {bucket_sql(width, "m.ts")} AS ts,
               max(total) AS total_max, avg(total) AS total_mean,
               max(rss) AS rss_max, avg(rss) AS rss_mean,
               count(total) AS n_total, count(rss) AS n_rss
        FROM m JOIN ids ON m.dyno = ids.dyno AND m.dyno_id IS NOT DISTINCT FROM ids.dyno_id
        GROUP BY ALL
        """,
        params,
    )
    parts = []
    for series, prefix in (("memory_total", "total"), ("memory_rss", "rss")):
        parts.append(
            wide.filter(pl.col(f"n_{prefix}") > 0).select(
                "dyno",
                pl.lit("memory").alias("layer"),
                pl.lit(series).alias("series"),
                "ts",
                "segment",
                pl.col(f"{prefix}_max").round(1).alias("mb"),
                pl.col(f"{prefix}_mean").round(1).alias("mb_mean"),
                pl.col(f"n_{prefix}").alias("count"),
            )
        )
    return pl.concat(parts, how="diagonal")


def _quota(con: duckdb.DuckDBPyConnection, cond: str, params: dict) -> pl.DataFrame:
    """Quota per dyno: from runtime metrics, else derived from `mem=NNNM(PP.P%)` events."""
    return run(
        con,
        f"""
        WITH q AS (
            SELECT dyno, memory_quota_mb AS mb, min(ts) AS ts, max(ts) AS ts_end
            FROM dyno_metrics WHERE {cond} AND memory_quota_mb IS NOT NULL GROUP BY ALL
        ), e AS (
            SELECT dyno, round(median(mem_mb * 100 / mem_pct)) AS mb, min(ts) AS ts,
                   max(ts) AS ts_end
            FROM events WHERE {cond} AND kind = 'memory' AND mem_pct > 0
              AND dyno NOT IN (SELECT dyno FROM q)
            GROUP BY dyno
        )
        SELECT dyno, 'quota' AS layer, 'quota' AS series, ts, ts_end, mb FROM q
        UNION ALL
        SELECT dyno, 'quota', 'quota', ts, ts_end, mb FROM e
        """,
        params,
    )


def _errors(
    con: duckdb.DuckDBPyConnection, cond: str, params: dict, width: int, memory: pl.DataFrame
) -> pl.DataFrame:
    """R14/R15 counts per dyno and bucket, placed at that bucket's memory (or the quota)."""
    bucket = bucket_sql(width)
    err = run(
        con,
        f"""
        WITH b AS (
            SELECT dyno, code, {bucket} AS ts, count(*) AS count, min(ts) AS first_ts
            FROM events WHERE {cond} AND kind = 'error' AND code IN ('R14', 'R15')
            GROUP BY ALL
        ), mem AS (
            SELECT dyno, {bucket} AS ts, max(mem_mb) AS ev_mb
            FROM events WHERE {cond} AND kind = 'memory' GROUP BY ALL
        ), quota AS (
            SELECT dyno, max(memory_quota_mb) AS q FROM dyno_metrics WHERE {cond} GROUP BY dyno
        )
        SELECT b.dyno, 'error' AS layer, b.code AS series, b.ts, b.count,
               coalesce(mem.ev_mb, quota.q) AS fallback_mb
        FROM b LEFT JOIN mem ON b.dyno = mem.dyno AND b.ts = mem.ts
        LEFT JOIN quota ON b.dyno = quota.dyno
        """,
        params,
    )
    at = (
        memory.filter(pl.col("series") == "memory_total")
        .group_by("dyno", "ts")
        .agg(pl.col("mb").max().alias("mem_mb"))
    )
    return (
        err.join(at, on=["dyno", "ts"], how="left")
        .with_columns(pl.coalesce("mem_mb", "fallback_mb").alias("mb"))
        .drop("mem_mb", "fallback_mb")
    )


def _lifetime_marks(
    lt: pl.DataFrame,
    dynos: list[str],
    since: datetime | None,
    until: datetime | None,
) -> pl.DataFrame:
    """Restarts (lifetime starts inside the log) and crashes (lifetime ends by crash or R15)."""
    lt = lt.filter(pl.col("dyno").is_in(dynos))
    starts = lt.filter(~pl.col("started_before_log")).select(
        "dyno",
        pl.lit("restart").alias("layer"),
        pl.lit("restart").alias("series"),
        pl.col("start").alias("ts"),
        pl.col("start_cause").alias("label"),
        pl.format(
            "{} started ({}), release {}",
            "lifetime_id",
            "start_cause",
            pl.col("release").fill_null("?"),
        ).alias("detail"),
    )
    crashes = lt.filter(pl.col("end_cause").is_in(["crash", "R15"])).select(
        "dyno",
        pl.lit("crash").alias("layer"),
        pl.lit("crash").alias("series"),
        pl.col("end").alias("ts"),
        pl.col("end_cause").alias("label"),
        pl.format(
            "{} ended ({}), exit status {}",
            "lifetime_id",
            "end_cause",
            pl.col("exit_status").cast(pl.String).fill_null("?"),
        ).alias("detail"),
    )
    out = pl.concat([starts, crashes]).drop_nulls("ts")
    if since is not None:
        out = out.filter(pl.col("ts") >= since)
    if until is not None:
        out = out.filter(pl.col("ts") < until)
    return out


def _releases(
    con: duckdb.DuckDBPyConnection,
    since: datetime | None,
    until: datetime | None,
    dynos: list[str],
) -> pl.DataFrame:
    """Each release once (its first line), repeated for every dyno row of the chart."""
    cond, params = where(since=since, until=until)
    rel = run(
        con,
        f"""
        SELECT release AS label, min(ts) AS ts, arg_min(message, ts) AS detail
        FROM events WHERE {cond} AND kind = 'release' AND release IS NOT NULL
        GROUP BY release
        """,
        params,
    )
    return rel.join(pl.DataFrame({"dyno": dynos}), how="cross").with_columns(
        pl.lit("release").alias("layer"), pl.lit("release").alias("series")
    )
