"""Release comparison: memory growth, p95 service time, error rates and R14/R15 per release,
each release next to the one before it (the period it replaced)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import altair as alt
import duckdb
import polars as pl

from forensics.analyses.common import releases
from forensics.analyses.sql import registered
from forensics.charts.encode import inline, release_sort, time_tip
from forensics.charts.growth import growth_by_release_data, lifetime_slopes
from forensics.charts.sql import run, where

# metric key -> label, in display order; for every one of them higher is worse.
METRICS = {
    "memory_mb_per_hour": "memory growth (MB/h, median lifetime)",
    "p95_ms": "p95 service time (ms)",
    "router_error_pct": "router errors (% of requests)",
    "http_5xx_pct": "HTTP 5xx (% of requests)",
    "r14_per_hour": "R14/R15 per hour",
}
# A change counts only above 10 % and above this absolute amount (noise floor per metric).
FLOORS = {
    "memory_mb_per_hour": 2.0,
    "p95_ms": 50.0,
    "router_error_pct": 0.5,
    "http_5xx_pct": 0.5,
    "r14_per_hour": 1.0,
}
CHANGES = ("worse", "better", "similar", "first")
CHANGE_COLORS = ("#d62728", "#2ca02c", "#9ecae1", "#bdbdbd")

TS = pl.Datetime("us", "UTC")


def release_periods(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    max_releases: int = 16,
) -> pl.DataFrame:
    """When each release was in effect, clipped to the log (and `since`/`until`): app, akey,
    release, version, start, end. The time before the first release seen is the previous
    version's period (v(N-1), releases are numbered one by one). Keeps the last
    `max_releases` periods."""
    cond, params = where(since=since, until=until)
    bounds = run(
        con,
        f"""
        SELECT min(lo) AS lo, max(hi) AS hi FROM (
            SELECT min(ts) AS lo, max(ts) AS hi FROM requests WHERE {cond}
            UNION ALL SELECT min(ts), max(ts) FROM dyno_metrics WHERE {cond}
            UNION ALL SELECT min(ts), max(ts) FROM events WHERE {cond})
        """,
        params,
    )
    lo, hi = bounds["lo"][0], bounds["hi"][0]
    rel = releases(con)
    empty = pl.DataFrame(
        schema={
            "app": pl.String,
            "akey": pl.String,
            "release": pl.String,
            "version": pl.Int64,
            "start": TS,
            "end": TS,
        }
    )
    if rel.is_empty() or lo is None:
        return empty
    rel = rel.with_columns(pl.col("version").cast(pl.Int64))
    first = rel.sort("start").group_by("app", maintain_order=True).first()
    before = first.filter(pl.col("version") > 1).select(
        "app",
        pl.format("v{}", pl.col("version") - 1).alias("release"),
        (pl.col("version") - 1).alias("version"),
        pl.lit(lo).cast(TS).alias("start"),
        pl.col("start").alias("end"),
    )
    periods = pl.concat([before, rel.select("app", "release", "version", "start", "end")])
    periods = periods.with_columns(
        pl.max_horizontal("start", pl.lit(lo).cast(TS)).alias("start"),
        pl.min_horizontal(pl.col("end").fill_null(pl.lit(hi).cast(TS)), pl.lit(hi).cast(TS)).alias(
            "end"
        ),
        pl.col("app").fill_null("").alias("akey"),
    ).filter(pl.col("end") > pl.col("start"))
    periods = periods.sort("start").tail(max_releases)
    return periods.select(empty.columns).cast(empty.schema)


def release_comparison_data(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    slopes: pl.DataFrame | None = None,
    max_releases: int = 16,
) -> pl.DataFrame:
    """One row per release period and metric (see METRICS), with the previous period's value.

    Requests (p95, error rates) and R14/R15 are counted where they happened (the period that
    holds their time); memory growth is the median slope of the lifetimes that ran the release
    (`slopes`: a growth frame as `forensics.charts.growth` documents; default
    `lifetime_slopes`). Columns: app, release, version, start, end, hours, requests, metric,
    label, value, previous, change_pct, change (worse / better / similar / first: more than
    10 % and more than the metric's FLOORS amount up / down, or the first period).
    """
    periods = release_periods(con, since=since, until=until, max_releases=max_releases)
    if periods.is_empty():
        return _empty()
    cond, params = where(dyno=dyno, route=route, since=since, until=until, route_col="route")
    ev_cond, ev_params = where(dyno=dyno, since=since, until=until)
    with registered(con, periods) as p:
        req = run(
            con,
            f"""
            SELECT p.akey, p.release, count(*) AS requests,
                   quantile_cont(r.service_ms, 0.95)
                       FILTER (WHERE coalesce(r.status, 0) <> 101) AS p95_ms,
                   100.0 * count(r.code) / count(*) AS router_error_pct,
                   100.0 * count(*) FILTER (WHERE r.status >= 500) / count(*) AS http_5xx_pct
            FROM (SELECT *, coalesce(app, '') AS akey FROM requests WHERE {cond}) r
            ASOF JOIN {p} p ON r.akey = p.akey AND r.ts >= p.start
            WHERE r.ts <= p."end"
            GROUP BY ALL
            """,
            params,
        )
        mem = run(
            con,
            f"""
            SELECT p.akey, p.release, count(*) AS r14
            FROM (SELECT *, coalesce(app, '') AS akey FROM events
                  WHERE {ev_cond} AND kind = 'error' AND code IN ('R14', 'R15')) e
            ASOF JOIN {p} p ON e.akey = p.akey AND e.ts >= p.start
            WHERE e.ts <= p."end"
            GROUP BY ALL
            """,
            ev_params,
        )
    if slopes is None:
        slopes = lifetime_slopes(con, dyno=dyno, since=since, until=until)
    growth = _median_slopes(slopes, dyno=dyno)
    wide = (
        periods.with_columns(
            ((pl.col("end") - pl.col("start")).dt.total_seconds() / 3600).alias("hours")
        )
        .join(req, on=["akey", "release"], how="left")
        .join(mem, on=["akey", "release"], how="left")
        .join(growth, on=["akey", "release"], how="left")
        .with_columns(
            (pl.col("r14").fill_null(0) / pl.col("hours")).alias("r14_per_hour"),
            pl.col("requests").fill_null(0),
        )
    )
    long = wide.unpivot(
        on=list(METRICS),
        index=["app", "akey", "release", "version", "start", "end", "hours", "requests"],
        variable_name="metric",
    ).with_columns(
        pl.col("metric").replace_strict(METRICS).alias("label"),
        pl.col("value").cast(pl.Float64).round(3),
    )
    long = long.sort("start").with_columns(
        pl.col("value").shift(1).over("akey", "metric").alias("previous")
    )
    change_pct = (pl.col("value") - pl.col("previous")) / pl.col("previous").abs() * 100
    long = long.with_columns(
        pl.when(pl.col("previous").is_not_null() & (pl.col("previous") != 0))
        .then(change_pct.round(1))
        .alias("change_pct"),
        (pl.col("value") - pl.col("previous")).alias("_diff"),
        pl.col("metric").replace_strict(FLOORS, return_dtype=pl.Float64).alias("_floor"),
    ).with_columns(
        pl.when(pl.col("previous").is_null() | pl.col("value").is_null())
        .then(pl.lit("first"))
        .when(pl.col("_diff").abs() <= pl.col("_floor"))
        .then(pl.lit("similar"))
        .when((pl.col("previous") == 0) | (pl.col("change_pct") > 10))
        .then(pl.when(pl.col("_diff") > 0).then(pl.lit("worse")).otherwise(pl.lit("better")))
        .when(pl.col("change_pct") < -10)
        .then(pl.lit("better"))
        .otherwise(pl.lit("similar"))
        .alias("change"),
        pl.col("hours").round(2),
    )
    return long.select(_empty().columns).sort("start", "metric")


def release_comparison(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    slopes: pl.DataFrame | None = None,
    max_releases: int = 16,
) -> alt.FacetChart:
    """Small multiples, one per metric: a bar per release, coloured by its change."""
    df = release_comparison_data(
        con,
        dyno=dyno,
        route=route,
        since=since,
        until=until,
        slopes=slopes,
        max_releases=max_releases,
    )
    return release_comparison_chart(df)


def release_comparison_chart(df: pl.DataFrame) -> alt.FacetChart:
    """The release comparison drawn from `release_comparison_data` rows."""
    order = release_sort(df["release"].to_list())
    step = max(10, min(36, 180 // max(len(order), 1)))
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("release:N", sort=order, title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color(
                "change:N",
                title="vs previous release",
                scale=alt.Scale(domain=list(CHANGES), range=list(CHANGE_COLORS)),
            ),
            tooltip=[
                alt.Tooltip("release:N"),
                alt.Tooltip("label:N", title="metric"),
                alt.Tooltip("value:Q", format=",.2f"),
                alt.Tooltip("previous:Q", title="previous release", format=",.2f"),
                alt.Tooltip("change_pct:Q", title="change %", format="+.1f"),
                time_tip("start", "from"),
                time_tip("end", "to"),
                alt.Tooltip("hours:Q", format=".1f"),
                alt.Tooltip("requests:Q"),
            ],
        )
        .properties(width=alt.Step(step), height=130)
    )
    return (
        bars.facet(
            facet=alt.Facet("label:N", title=None, sort=list(METRICS.values())),
            columns=len(METRICS),
            data=inline(df),
        )
        .resolve_scale(y="independent")
        .properties(title="Releases compared (each bar vs the release before it)")
    )


def _median_slopes(slopes: pl.DataFrame, *, dyno: str | None) -> pl.DataFrame:
    """Median memory slope per (app key, release) from a growth frame; lifetimes the memory
    analysis calls `insufficient` (too short to measure) are left out."""
    g = growth_by_release_data(slopes, dyno=dyno)
    g = g.filter(pl.col("classification").is_null() | (pl.col("classification") != "insufficient"))
    return g.group_by(pl.col("app").cast(pl.String).fill_null("").alias("akey"), "release").agg(
        pl.col("slope_mb_per_hour").median().alias("memory_mb_per_hour")
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "app": pl.String,
            "release": pl.String,
            "version": pl.Int64,
            "start": TS,
            "end": TS,
            "hours": pl.Float64,
            "requests": pl.Int64,
            "metric": pl.String,
            "label": pl.String,
            "value": pl.Float64,
            "previous": pl.Float64,
            "change_pct": pl.Float64,
            "change": pl.String,
        }
    )
