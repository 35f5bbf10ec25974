"""Timeout hotspots: router errors (H12 by default) per route and time bucket as a heatmap,
with each route's service-time percentiles beside it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import altair as alt
import duckdb
import polars as pl

from forensics.analyses.sql import sql_list
from forensics.charts.encode import inline, time_tip, time_x
from forensics.charts.sql import bucket_sql, nice_bucket, run, where


def timeout_heatmap_data(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = ("H12",),
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_buckets: int = 150,
    max_routes: int = 20,
) -> pl.DataFrame:
    """Errors of `codes` per route and time bucket, for the `max_routes` routes with the most.

    Buckets are epoch-aligned, `bucket_seconds` wide (default: sized so the span from the first
    to the last such error fits in `max_buckets`); only buckets with an error appear.
    Columns: route, bucket (start), bucket_end, errors, requests (all router lines of the
    route in the bucket), share (errors / requests), route_errors (route total), bucket_seconds.
    """
    cond, params = where(dyno=dyno, route=route, since=since, until=until, route_col="route")
    codes_sql = sql_list(codes)
    if bucket_seconds is None:
        span = run(
            con,
            f"SELECT epoch(max(ts)) - epoch(min(ts)) AS s FROM requests "
            f"WHERE {cond} AND code IN {codes_sql}",
            params,
        )["s"][0]
        bucket_seconds = nice_bucket(float(span or 0), max_buckets)
    w = int(bucket_seconds)
    return run(
        con,
        f"""
        WITH r AS (
            SELECT route, {bucket_sql(w)} AS bucket, count(*) AS requests,
                   count(*) FILTER (WHERE code IN {codes_sql}) AS errors
            FROM requests WHERE {cond} AND route IS NOT NULL GROUP BY ALL
        ), top AS (
            SELECT route, sum(errors) AS route_errors FROM r GROUP BY route
            HAVING sum(errors) > 0 ORDER BY route_errors DESC, route LIMIT {int(max_routes)}
        )
        SELECT r.route, r.bucket, r.bucket + to_seconds({w}) AS bucket_end, r.errors,
               r.requests, round(r.errors / r.requests, 3) AS share,
               CAST(top.route_errors AS BIGINT) AS route_errors, {w} AS bucket_seconds
        FROM r JOIN top USING (route)
        WHERE r.errors > 0
        ORDER BY top.route_errors DESC, r.route, r.bucket
        """,
        params,
    )


def service_percentiles_data(
    con: duckdb.DuckDBPyConnection,
    *,
    routes: Sequence[str] | None = None,
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    top: int = 20,
) -> pl.DataFrame:
    """Service time p50/p95/p99/max (ms) per route, for `routes` (or the `top` routes by p95
    among those with 20+ requests). WebSocket upgrades (status 101) are left out.
    Columns: route, requests, p50_ms, p95_ms, p99_ms, max_ms, errors (router error lines)."""
    cond, params = where(dyno=dyno, route=route, since=since, until=until, route_col="route")
    having = "count(*) >= 20"
    if routes is not None:
        params = {**params, "only": list(routes)}
        cond += " AND list_contains($only, route)"
        having = "TRUE"
    return run(
        con,
        f"""
        SELECT route, count(*) AS requests,
               quantile_cont(service_ms, 0.5) AS p50_ms,
               quantile_cont(service_ms, 0.95) AS p95_ms,
               quantile_cont(service_ms, 0.99) AS p99_ms,
               max(service_ms) AS max_ms,
               count(code) AS errors
        FROM requests
        WHERE {cond} AND route IS NOT NULL AND service_ms IS NOT NULL
          AND coalesce(status, 0) <> 101
        GROUP BY route HAVING {having}
        ORDER BY p95_ms DESC, route LIMIT {int(top) if routes is None else len(routes)}
        """,
        params,
    )


def timeout_hotspots(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = ("H12",),
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_buckets: int = 150,
    max_routes: int = 20,
    width: int = 620,
) -> alt.HConcatChart:
    """Heatmap route x time of `codes` counts, with p50/p95/p99 service time per route beside."""
    heat = timeout_heatmap_data(
        con,
        codes=codes,
        dyno=dyno,
        route=route,
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        max_buckets=max_buckets,
        max_routes=max_routes,
    )
    order = heat["route"].unique(maintain_order=True).to_list()
    pct = service_percentiles_data(
        con, routes=order, dyno=dyno, route=route, since=since, until=until
    )
    return timeout_hotspots_chart(heat, pct, codes=codes, width=width)


def timeout_hotspots_chart(
    heat: pl.DataFrame, pct: pl.DataFrame, *, codes: Sequence[str] = ("H12",), width: int = 620
) -> alt.HConcatChart:
    """The hotspot heatmap and percentile panel drawn from their data frames."""
    order = heat["route"].unique(maintain_order=True).to_list()
    label = "/".join(codes)
    minutes = int(heat["bucket_seconds"][0]) // 60 if heat.height else 0
    y = alt.Y("route:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    heatmap = (
        alt.Chart(inline(heat))
        .mark_rect()
        .encode(
            x=time_x("bucket"),
            x2="bucket_end:T",
            y=y,
            color=alt.Color(
                "errors:Q", title=f"{label} per {minutes} min", scale=alt.Scale(scheme="orangered")
            ),
            tooltip=[
                alt.Tooltip("route:N"),
                time_tip("bucket", "from"),
                alt.Tooltip("errors:Q", title=label),
                alt.Tooltip("requests:Q", title="requests in bucket"),
                alt.Tooltip("share:Q", title="share", format=".0%"),
                alt.Tooltip("route_errors:Q", title=f"{label} on route"),
            ],
        )
        .properties(
            width=width, height=alt.Step(18), title=f"{label} per route, {minutes}-min buckets"
        )
    )
    fold = ["p50_ms", "p95_ms", "p99_ms"]
    percentiles = (
        alt.Chart(inline(pct))
        .transform_fold(fold, as_=["percentile", "ms"])
        .transform_calculate(at_ms="max(datum.ms, 1)")  # a log scale has no 0
        .mark_point(filled=True, size=50)
        .encode(
            y=alt.Y("route:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
            x=alt.X("at_ms:Q", title="service time (ms, log)", scale=alt.Scale(type="log")),
            color=alt.Color(
                "percentile:N",
                scale=alt.Scale(domain=fold, range=["#9ecae1", "#3182bd", "#08519c"]),
                title="percentile",
            ),
            shape=alt.Shape("percentile:N", scale=alt.Scale(domain=fold)),
            tooltip=[
                alt.Tooltip("route:N"),
                alt.Tooltip("percentile:N"),
                alt.Tooltip("ms:Q", title="ms", format=",.0f"),
                alt.Tooltip("requests:Q"),
                alt.Tooltip("max_ms:Q", title="max ms", format=",.0f"),
            ],
        )
        .properties(width=220, height=alt.Step(18), title="service time by route")
    )
    return alt.hconcat(heatmap, percentiles, spacing=8).resolve_scale(
        color="independent", shape="independent"
    )
