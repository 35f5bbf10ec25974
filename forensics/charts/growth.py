"""Memory growth by release: the slope of memory per process instance, grouped by release.

The chart takes a frame (from `forensics.analyses.memory` once it lands, or `lifetime_slopes`
here) with one row per lifetime and these columns (aliases accepted, see GROWTH_COLUMNS):

- `release` (str, "v42"): release the lifetime ran;
- `slope_mb_per_hour` (float): memory growth of that lifetime, MB per hour;
- optional `lifetime_id`, `app`, `dyno`, `process_type`, `samples`, `start` (its first sample),
  `classification` (leak / growing / plateau / spike / healthy / insufficient).

`forensics.analyses.memory.memory_growth` gives all of them (its slope is `slope_mb_h`).
"""

from __future__ import annotations

from datetime import datetime

import altair as alt
import duckdb
import polars as pl

from forensics.analyses.common import with_release
from forensics.charts.columns import pick
from forensics.charts.encode import inline, release_sort, version_of
from forensics.charts.sql import run, where
from forensics.heroku import process_type_sql

CLASSES = ("leak", "growing", "plateau", "spike", "healthy", "insufficient")
CLASS_COLORS = ("#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#2ca02c", "#bdbdbd")

GROWTH_COLUMNS: dict[str, list[str | tuple[str, float]]] = {
    "release": ["release"],
    "slope_mb_per_hour": [
        "slope_mb_per_hour",
        "slope_mb_per_h",
        "mb_per_hour",
        "growth_mb_per_hour",
        "slope_mb_h",
        ("slope_mb_per_min", 60.0),
        "slope",
    ],
    "classification": ["classification", "class"],
    "lifetime_id": ["lifetime_id", "dyno_id", "lifetime"],
    "app": ["app"],
    "dyno": ["dyno"],
    "process_type": ["process_type"],
    "samples": ["samples", "n_samples", "n"],
    "start": ["start", "first_sample", "first"],
}


def lifetime_slopes(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    warmup_minutes: float = 60,
    min_samples: int = 20,
    min_minutes: float = 60,
) -> pl.DataFrame:
    """Least-squares slope of memory_total (MB/h) per process instance (`dyno_id`) after its
    first `warmup_minutes` (boot and cache warm-up would pass for a leak), with the release in
    effect at its first sample. Instances with fewer than `min_samples` samples or less than
    `min_minutes` after warm-up are left out: too short to tell growth from noise.

    Columns: app, dyno, process_type, lifetime_id (`web.1 05-20 12:00`), release, start (first
    sample), end, samples (after warm-up), start_mb, end_mb, peak_mb, slope_mb_per_hour.
    """
    cond, params = where(dyno=dyno, since=since, until=until)
    df = run(
        con,
        f"""
        WITH m AS (
            SELECT app, dyno, dyno_id, ts, memory_total_mb AS mb,
                   min(ts) OVER (PARTITION BY app, dyno, dyno_id) AS first_ts
            FROM dyno_metrics
            WHERE {cond} AND dyno IS NOT NULL AND dyno_id IS NOT NULL
              AND memory_total_mb IS NOT NULL
        )
        SELECT app, dyno, {process_type_sql("dyno")} AS process_type, min(first_ts) AS start,
               max(ts) AS "end", count(*) AS samples,
               arg_min(mb, ts) AS start_mb, arg_max(mb, ts) AS end_mb, max(mb) AS peak_mb,
               regr_slope(mb, epoch(ts) / 3600.0) AS slope_mb_per_hour
        FROM m
        WHERE ts >= first_ts + to_seconds({float(warmup_minutes) * 60})
        GROUP BY app, dyno, dyno_id
        HAVING count(*) >= {int(min_samples)}
           AND epoch(max(ts)) - epoch(min(ts)) >= {float(min_minutes) * 60}
        ORDER BY dyno, start
        """,
        params,
    )
    df = with_release(con, df, "start")
    return df.select(
        "app",
        "dyno",
        "process_type",
        pl.format("{} {}", "dyno", pl.col("start").dt.strftime("%m-%d %H:%M")).alias("lifetime_id"),
        "release",
        "start",
        "end",
        "samples",
        "start_mb",
        "end_mb",
        "peak_mb",
        pl.col("slope_mb_per_hour").round(2),
    )


def growth_by_release_data(
    frame: pl.DataFrame,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """`frame` (one row per lifetime, see the module doc) normalized for the chart: release
    (null -> "unknown"), version, slope_mb_per_hour, lifetime_id, app, dyno, process_type,
    samples, start, classification; filtered by dyno or process type and by lifetime start; rows
    without a slope dropped."""
    df = pick(
        frame,
        GROWTH_COLUMNS,
        required=("release", "slope_mb_per_hour"),
        what="memory growth frame",
    )
    df = df.with_columns(
        pl.col("release").cast(pl.String).fill_null("unknown"),
        pl.col("slope_mb_per_hour").cast(pl.Float64),
        pl.col("lifetime_id").cast(pl.String),
        pl.col("app").cast(pl.String),
        pl.col("dyno").cast(pl.String),
        pl.col("process_type").cast(pl.String),
        pl.col("samples").cast(pl.Int64),
        pl.col("classification").cast(pl.String),
    ).filter(pl.col("slope_mb_per_hour").is_not_nan() & pl.col("slope_mb_per_hour").is_not_null())
    if df.schema["start"] == pl.Null:
        df = df.with_columns(pl.col("start").cast(pl.Datetime("us", "UTC")))
    if dyno is not None:
        df = df.filter((pl.col("dyno") == dyno) | pl.col("dyno").str.starts_with(dyno + "."))
    if since is not None:
        df = df.filter(pl.col("start") >= since)
    if until is not None:
        df = df.filter(pl.col("start") < until)
    return df.with_columns(version_of(pl.col("release")).alias("version")).sort(
        "version", "release", "start", nulls_last=True
    )


def growth_by_release(
    frame: pl.DataFrame,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str = "",
    width: int | None = None,
    height: int = 260,
) -> alt.LayerChart:
    """Memory slope per lifetime (points) and its median (tick) for each release; `width`
    defaults to 520 px or 26 px per release, whichever is wider."""
    df = growth_by_release_data(frame, dyno=dyno, since=since, until=until)
    order = release_sort(df["release"].to_list())
    x = alt.X("release:N", sort=order, title="release", axis=alt.Axis(labelAngle=0))
    base = alt.Chart(inline(df))
    if df["classification"].is_not_null().any():
        color = alt.Color(
            "classification:N",
            scale=alt.Scale(domain=list(CLASSES), range=list(CLASS_COLORS)),
        )
    else:
        color = alt.Color("process_type:N", title="process type")
    points = (
        base.mark_circle(size=45, opacity=0.65)
        .encode(
            x=x,
            xOffset=alt.XOffset("jitter:Q", scale=alt.Scale(domain=[-1, 1])),
            y=alt.Y("slope_mb_per_hour:Q", title="memory growth (MB/h per lifetime)"),
            color=color,
            shape=alt.Shape("process_type:N", title="process type"),
            tooltip=[
                alt.Tooltip("release:N"),
                alt.Tooltip("lifetime_id:N", title="lifetime"),
                alt.Tooltip("dyno:N"),
                alt.Tooltip("slope_mb_per_hour:Q", title="MB/h", format=".2f"),
                alt.Tooltip("samples:Q"),
            ],
        )
        .transform_calculate(jitter="(((datum.samples || 7) * 7919) % 100) / 60 - 0.8")
    )
    median = base.mark_tick(thickness=3, size=36, color="black").encode(
        x=x,
        y=alt.Y("median(slope_mb_per_hour):Q"),
        tooltip=[
            alt.Tooltip("release:N"),
            alt.Tooltip("median(slope_mb_per_hour):Q", title="median MB/h", format=".2f"),
            alt.Tooltip("count():Q", title="lifetimes"),
        ],
    )
    zero = alt.Chart(inline(pl.DataFrame({"y": [0.0]}))).mark_rule(color="#999").encode(y="y:Q")
    title = "Memory growth per lifetime, by release (tick: median)"
    return alt.layer(zero, points, median).properties(
        width=width or max(520, 26 * len(order)),
        height=height,
        title=alt.Title(title, subtitle=[source] if source else []),
    )
