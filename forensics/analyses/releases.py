"""Releases compared: each `Release vN` against the one before it, with regressions flagged.

Requests count for the release of the dyno lifetime that served them (a request during a
rolling restart goes to the code that really answered it); requests no dyno answered (H10,
H14...) count for the release in effect at their time; the router's own pages (H80
maintenance, H81, H82: `heroku.ROUTER_PAGE_CODES`) count for none, no release served them.
R14/R15 errors and crashes count for the release of the lifetime they happened in. Memory
slopes come from `memory.memory_growth`: per release the median slope over its lifetimes with
enough data, per process type (a web leak is not hidden by a worker cache that plateaus, or the
other way round).

The period before the first `Release vN` of the log counts as release v(N-1) (inferred,
`inferred` = true): Heroku numbers releases one by one, so that is the code that ran then.

A metric regresses against the previous release when (options of `release_regressions`):

- service time, per route (method + path template, so a change in the traffic mix is not
  taken for a slowdown): both releases served >= `min_route_requests` requests of the route,
  and its p50 is >= `latency_ratio` (1.25) x the old one and 20 ms higher, or its p95 is >=
  `tail_ratio` (1.5) x and 50 ms higher (with 200 requests the p95 of a log-normal latency
  has a relative standard error of ~10 %, so 1.5x is well outside the noise). The release-wide
  p50/p95/p99 are reported, not tested: they move with the route mix;
- 5xx error rate and H12 rate: two-proportion z >= `z_min`, new rate >= `rate_ratio` x old
  and higher by >= `min_rate_diff` (0.2 percentage points);
- memory slope: the new median slope is >= `min_slope` MB/h and exceeds the old one by at least
  as much, at least half of the release's lifetimes are classified `leak` (judged against the
  earlier releases at the same age since boot, `trend.judge_by_age`), and the previous
  release did not leak already (or the slope at least doubled). Only measured slopes are
  compared: when the previous release has no lifetime of that process type with a verdict
  (all too short, `insufficient` / `inconclusive`), there is no regression but a
  `memory_not_comparable` row ("not comparable: v41 gave no lifetime longer than 6 h");
- R14, R15, crashes (per hour of the release): at least `min_events` (1 for R15), more than
  `rate_ratio` x the previous hourly rate, and a one-sided binomial test of the split of events
  between the two releases (by their hours) gives p < 0.01.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.memo import per_dataset
from forensics.analyses.memory import DEFAULTS as MEMORY_DEFAULTS
from forensics.analyses.memory import NO_VERDICT, lifetimes_and_growth
from forensics.analyses.sql import (
    app_key_expr,
    app_key_sql,
    assign_sql,
    has_rows,
    query,
    registered,
    sql_list,
)
from forensics.analyses.stats import betainc
from forensics.heroku import ROUTER_PAGE_CODES

DEFAULTS: dict[str, float] = {
    "min_requests": 200.0,
    "min_route_requests": 200.0,
    "latency_ratio": 1.25,
    "tail_ratio": 1.5,
    "rate_ratio": 1.5,
    "z_min": 3.0,
    "min_rate_diff": 0.002,
    "min_slope": 2.0,
    "min_events": 3.0,
    "min_leak_share": 0.5,
}

LATENCY_MIN_MS = {"p50_ms": 20.0, "p95_ms": 50.0, "p99_ms": 100.0}


@per_dataset
def release_stats(
    con: duckdb.DuckDBPyConnection,
    *,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per (app, release) in time order, the inferred predecessor included.

    Columns: app, release, version, inferred, start, end (next release, else end of log),
    hours, requests, p50_ms, p95_ms, p99_ms (service time), errors_5xx, error_rate, h12,
    h12_rate, r14, r15, crashes (lifetimes ended by a crash), lifetimes (started in it),
    memory_slope_mb_h (median slope of its lifetimes), memory_process_type,
    memory_unjudged (per process type: lifetimes with memory data but no verdict, the longest
    sampled hours, and whether any was `inconclusive`),
    memory_lifetimes (with enough data), leak_lifetimes (classified leak), leak_share (of the
    process type that leaks most, else with the highest median slope), memory (per process
    type: lifetimes, leak_lifetimes, slope_mb_h, same_age_mb_h: earlier releases' slope at the
    same age as its leaking lifetimes), routes (per method and route with >= 20
    requests: requests, p50_ms, p95_ms, p99_ms),
    source_file / line_no (the `Release vN` line; null for inferred), request_sources (list of
    {file, first_line, last_line} of the requests counted for it).
    """
    if not has_rows(con, "events", "kind = 'release' AND release IS NOT NULL"):
        return _empty()
    lt, gr = lifetimes_and_growth(con, lifetimes, growth)
    rel = _release_table(con)
    if rel.height == 0:
        return _empty()
    ltr = lt.drop("sources") if lt.height else lt
    with registered(con, rel) as rname, registered(con, _lt_or_dummy(ltr)) as lname:
        # Three queries, not one: DuckDB runs a CTE read by three aggregates as one fan-out,
        # ~10x slower and ~4x the memory of the three alone on 17 M requests (135 s, 4 GiB).
        on = ["akey", "release"]
        stats = (
            query(con, _stats_sql(rname, lname, part="releases"))
            .join(query(con, _stats_sql(rname, lname, part="routes")), on=on, how="left")
            .join(query(con, _stats_sql(rname, lname, part="sources")), on=on, how="left")
        )
    mem = _memory_by_release(gr)
    out = (
        rel.join(stats, on=["akey", "release"], how="left")
        .join(mem, on=["akey", "release"], how="left")
        .join(_unjudged_by_release(gr), on=["akey", "release"], how="left")
    )
    ints = [
        "requests",
        "errors_5xx",
        "h12",
        "r14",
        "r15",
        "crashes",
        "lifetimes",
        "memory_lifetimes",
        "leak_lifetimes",
    ]
    out = out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in ints).with_columns(
        (pl.col("errors_5xx") / pl.col("requests")).alias("error_rate"),
        (pl.col("h12") / pl.col("requests")).alias("h12_rate"),
        (pl.col("leak_lifetimes") / pl.col("memory_lifetimes")).alias("leak_share"),
    )
    return out.select(RELEASE_COLUMNS).sort("app", "start", nulls_last=False)


RELEASE_COLUMNS = [
    "app",
    "release",
    "version",
    "inferred",
    "start",
    "end",
    "hours",
    "requests",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors_5xx",
    "error_rate",
    "h12",
    "h12_rate",
    "r14",
    "r15",
    "crashes",
    "lifetimes",
    "memory_slope_mb_h",
    "memory_process_type",
    "memory_lifetimes",
    "leak_lifetimes",
    "leak_share",
    "memory",
    "memory_unjudged",
    "routes",
    "source_file",
    "line_no",
    "request_sources",
]


def _empty() -> pl.DataFrame:
    ts = pl.Datetime("us", "UTC")
    f, i, s, b = pl.Float64, pl.Int64, pl.String, pl.Boolean
    schema = {
        "app": s,
        "release": s,
        "version": i,
        "inferred": b,
        "start": ts,
        "end": ts,
        "hours": f,
        "requests": i,
        "p50_ms": f,
        "p95_ms": f,
        "p99_ms": f,
        "errors_5xx": i,
        "error_rate": f,
        "h12": i,
        "h12_rate": f,
        "r14": i,
        "r15": i,
        "crashes": i,
        "lifetimes": i,
        "memory_slope_mb_h": f,
        "memory_process_type": s,
        "memory_lifetimes": i,
        "leak_lifetimes": i,
        "leak_share": f,
        "memory": pl.List(
            pl.Struct(
                {
                    "process_type": s,
                    "lifetimes": i,
                    "leak_lifetimes": i,
                    "slope_mb_h": f,
                    "same_age_mb_h": f,
                }
            )
        ),
        "memory_unjudged": _UNJUDGED_T,
        "routes": pl.List(
            pl.Struct(
                {"method": s, "route": s, "requests": i, "p50_ms": f, "p95_ms": f, "p99_ms": f}
            )
        ),
        "source_file": s,
        "line_no": i,
        "request_sources": pl.List(pl.Struct({"file": s, "first_line": i, "last_line": i})),
    }
    return pl.DataFrame(schema=schema)


def _lt_or_dummy(lt: pl.DataFrame) -> pl.DataFrame:
    """A lifetimes frame to register even when empty (DuckDB needs the columns)."""
    if lt.height:
        return lt
    return pl.DataFrame(
        schema={
            "app": pl.String,
            "dyno": pl.String,
            "lifetime": pl.Int64,
            "start": pl.Datetime("us", "UTC"),
            "release": pl.String,
            "end_cause": pl.String,
        }
    )


def _release_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Releases of the log plus the inferred one running before the first, with ends."""
    return query(
        con,
        f"""
        WITH r AS (
            SELECT {app_key_sql()} AS akey, any_value(app) AS app, release,
                   TRY_CAST(substr(release, 2) AS BIGINT) AS version, min(ts) AS start,
                   arg_min(source_file, ts) AS source_file, arg_min(line_no, ts) AS line_no
            FROM events WHERE kind = 'release' AND release IS NOT NULL GROUP BY akey, release
        ),
        span AS (
            SELECT {app_key_sql()} AS akey, min(ts) AS lo, max(ts) AS hi FROM (
                SELECT app, ts FROM events UNION ALL SELECT app, ts FROM requests
                UNION ALL SELECT app, ts FROM dyno_metrics
            ) GROUP BY ALL
        ),
        first AS (SELECT akey, arg_min(version, start) AS v, min(start) AS t,
                         any_value(app) AS app FROM r GROUP BY akey),
        allr AS (
            SELECT akey, app, release, version, false AS inferred, start, source_file, line_no
            FROM r
            UNION ALL
            SELECT f.akey, f.app, 'v' || (f.v - 1), f.v - 1, true, s.lo, NULL, NULL
            FROM first f JOIN span s USING (akey)
            WHERE f.v > 1 AND s.lo < f.t
        )
        SELECT a.*, coalesce(lead(a.start) OVER w, s.hi) AS "end",
               epoch(coalesce(lead(a.start) OVER w, s.hi) - a.start) / 3600 AS hours
        FROM allr a LEFT JOIN span s USING (akey)
        WINDOW w AS (PARTITION BY a.akey ORDER BY a.start)
        ORDER BY a.akey, a.start
        """,
    )


def _stats_sql(rel: str, lt: str, *, part: str, min_route: int = 20) -> str:
    """Per (akey, release): `releases` the request, error and lifetime counts and service-time
    quantiles, `routes` the per-route list, `sources` the request sources' line ranges."""
    # which lifetime served each (dyno, minute): requests are looked up in that small map
    minute_map = assign_sql(
        f"""SELECT DISTINCT {app_key_sql()} AS akey, coalesce(dyno, '') AS dyno,
                  epoch_us(ts) // 60000000 AS m,
                  make_timestamp((epoch_us(ts) // 60000000) * 60000000 + 30000000) AS key_ts
           FROM requests""",
        lt,
    )
    errs = assign_sql(
        f"""SELECT {app_key_sql()} AS akey, coalesce(dyno, '') AS dyno, ts AS key_ts, ts,
                  code FROM events WHERE kind = 'error' AND code IN ('R14', 'R15')""",
        lt,
    )
    return f"""
    WITH L AS (SELECT {app_key_sql()} AS akey, dyno, lifetime, release, end_cause FROM {lt}),
    R AS (SELECT akey, release, start FROM {rel}),
    mm AS (
        SELECT x.akey, x.dyno, x.m, coalesce(l.release, r.release) AS rel
        FROM ({minute_map}) x
        LEFT JOIN L l ON x.akey = l.akey AND x.dyno = l.dyno AND x.lifetime = l.lifetime
        ASOF LEFT JOIN R r ON x.akey = r.akey AND x.key_ts >= r.start
    ),
    rq AS (
        SELECT {app_key_sql()} AS akey, coalesce(dyno, '') AS dyno,
               epoch_us(ts) // 60000000 AS m, service_ms, status, code,
               coalesce(method, '') AS method, coalesce(route, '') AS route,
               source_file, line_no
        FROM requests WHERE coalesce(code, '') NOT IN {sql_list(ROUTER_PAGE_CODES)}
    ),
    j AS MATERIALIZED (
        SELECT mm.akey, mm.rel AS release, rq.method, rq.route, rq.source_file, rq.line_no,
               rq.service_ms, rq.status, rq.code
        FROM rq JOIN mm ON rq.akey = mm.akey AND rq.dyno = mm.dyno AND rq.m = mm.m
        WHERE mm.rel IS NOT NULL
    ),
    per_route AS (
        SELECT akey, release,
               list({{'method': method, 'route': route, 'requests': n, 'p50_ms': p50,
                     'p95_ms': p95, 'p99_ms': p99}} ORDER BY n DESC, method, route) AS routes
        FROM (SELECT akey, release, method, route, n, q[1] AS p50, q[2] AS p95, q[3] AS p99
              FROM (SELECT akey, release, method, route, count(*) AS n,
                           quantile_cont(service_ms, [0.5, 0.95, 0.99]) AS q
                    FROM j GROUP BY ALL HAVING count(*) >= {min_route}))
        GROUP BY ALL
    ),
    per_file AS (
        SELECT akey, release,
               list({{'file': source_file, 'first_line': fl, 'last_line': ll}}
                    ORDER BY source_file) AS request_sources
        FROM (SELECT akey, release, source_file, min(line_no) AS fl, max(line_no) AS ll
              FROM j GROUP BY ALL)
        GROUP BY ALL
    ),
    req AS (
        SELECT akey, release, requests, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms,
               errors_5xx, h12
        FROM (SELECT akey, release, count(*) AS requests,
                     quantile_cont(service_ms, [0.5, 0.95, 0.99]) AS q,
                     count(*) FILTER (WHERE status >= 500) AS errors_5xx,
                     count(*) FILTER (WHERE code = 'H12') AS h12
              FROM j GROUP BY ALL)
    ),
    er AS (
        SELECT e.*, coalesce(l.release, r.release) AS rel
        FROM ({errs}) e
        LEFT JOIN L l ON e.akey = l.akey AND e.dyno = l.dyno AND e.lifetime = l.lifetime
        ASOF LEFT JOIN R r ON e.akey = r.akey AND e.ts >= r.start
    ),
    err AS (
        SELECT akey, rel AS release, count(*) FILTER (WHERE code = 'R14') AS r14,
               count(*) FILTER (WHERE code = 'R15') AS r15
        FROM er WHERE rel IS NOT NULL GROUP BY ALL
    ),
    lts AS (
        SELECT akey, release, count(*) AS lifetimes,
               count(*) FILTER (WHERE end_cause = 'crash') AS crashes
        FROM L WHERE release IS NOT NULL GROUP BY ALL
    ),
    keys AS (SELECT DISTINCT akey, release FROM R)
    {_PARTS[part]}
    """


_PARTS = {
    "releases": """SELECT k.akey, k.release, req.* EXCLUDE (akey, release),
           err.* EXCLUDE (akey, release), lts.* EXCLUDE (akey, release)
    FROM keys k
    LEFT JOIN req ON k.akey = req.akey AND k.release = req.release
    LEFT JOIN err ON k.akey = err.akey AND k.release = err.release
    LEFT JOIN lts ON k.akey = lts.akey AND k.release = lts.release""",
    "routes": "SELECT akey, release, routes FROM per_route",
    "sources": "SELECT akey, release, request_sources FROM per_file",
}


def _memory_by_release(growth: pl.DataFrame) -> pl.DataFrame:
    """Per (app, release): memory per process type, and the type that leaks most on top."""
    mem_t = pl.List(
        pl.Struct(
            {
                "process_type": pl.String,
                "lifetimes": pl.Int64,
                "leak_lifetimes": pl.Int64,
                "slope_mb_h": pl.Float64,
                "same_age_mb_h": pl.Float64,
            }
        )
    )
    schema = {
        "akey": pl.String,
        "release": pl.String,
        "memory_slope_mb_h": pl.Float64,
        "memory_process_type": pl.String,
        "memory_lifetimes": pl.Int64,
        "leak_lifetimes": pl.Int64,
        "memory": mem_t,
    }
    g = growth.filter(
        ~pl.col("classification").is_in(NO_VERDICT),
        pl.col("release").is_not_null(),
    )
    if g.height == 0:
        return pl.DataFrame(schema=schema)
    per_type = (
        g.with_columns(app_key_expr())
        .group_by("akey", "release", "process_type")
        .agg(
            pl.col("slope_mb_h").median().alias("slope_mb_h"),
            # earlier releases' slope at the same age as its leaking lifetimes (trend rule 3)
            pl.col("ref_slope_mb_h")
            .filter(pl.col("classification") == "leak")
            .median()
            .alias("same_age_mb_h"),
            pl.len().cast(pl.Int64).alias("lifetimes"),
            (pl.col("classification") == "leak").sum().cast(pl.Int64).alias("leak_lifetimes"),
        )
        .with_columns((pl.col("leak_lifetimes") / pl.col("lifetimes")).alias("_share"))
        .sort(
            ["_share", "slope_mb_h", "process_type"],
            descending=[True, True, False],
            nulls_last=True,
        )
    )
    return (
        per_type.group_by("akey", "release", maintain_order=True)
        .agg(
            pl.col("slope_mb_h").first().alias("memory_slope_mb_h"),
            pl.col("process_type").first().alias("memory_process_type"),
            pl.col("lifetimes").first().alias("memory_lifetimes"),
            pl.col("leak_lifetimes").first().alias("leak_lifetimes"),
            pl.struct(
                "process_type", "lifetimes", "leak_lifetimes", "slope_mb_h", "same_age_mb_h"
            ).alias("memory"),
        )
        .select(list(schema))
        .cast(schema)
    )  # type: ignore[arg-type]


_UNJUDGED_T = pl.List(
    pl.Struct(
        {
            "process_type": pl.String,
            "lifetimes": pl.Int64,
            "longest_hours": pl.Float64,
            "inconclusive": pl.Boolean,
        }
    )
)


def _unjudged_by_release(growth: pl.DataFrame) -> pl.DataFrame:
    """Per (app, release): the process types whose lifetimes with memory data all lack a
    verdict (too short to measure a slope, or to tell a leak from a warm-up)."""
    schema = {"akey": pl.String, "release": pl.String, "memory_unjudged": _UNJUDGED_T}
    g = growth.filter(pl.col("release").is_not_null(), pl.col("samples") > 0)
    if g.height == 0:
        return pl.DataFrame(schema=schema)
    per_type = (
        g.with_columns(app_key_expr("app"))
        .group_by("akey", "release", "process_type")
        .agg(
            pl.col("classification").is_in(NO_VERDICT).all().alias("_none"),
            pl.len().cast(pl.Int64).alias("lifetimes"),
            pl.col("hours").max().alias("longest_hours"),
            (pl.col("classification") == "inconclusive").any().alias("inconclusive"),
        )
        .filter("_none")
        .sort("process_type")
    )
    return (
        per_type.group_by("akey", "release", maintain_order=True)
        .agg(
            pl.struct("process_type", "lifetimes", "longest_hours", "inconclusive").alias(
                "memory_unjudged"
            )
        )
        .select(list(schema))
        .cast(schema)
    )  # type: ignore[arg-type]


def memory_not_comparable(
    stats: pl.DataFrame, *, min_hours: float | None = None, min_shape_hours: float | None = None
) -> pl.DataFrame:
    """Release pairs whose memory growth cannot be compared: the release has a slope for a
    process type but the previous one gave none (no lifetime long enough).

    Columns: app, release, previous, process_type, longest_hours (of the previous release's
    lifetimes), needed_hours (what would have given a verdict), reason ("not comparable: v41
    gave no lifetime longer than 6 h").
    """
    h1 = (MEMORY_DEFAULTS["min_hours"] if min_hours is None else min_hours) + MEMORY_DEFAULTS[
        "warmup_minutes"
    ] / 60  # samples after the warm-up that is skipped
    h6 = MEMORY_DEFAULTS["min_shape_hours"] if min_shape_hours is None else min_shape_hours
    schema = {
        "app": pl.String,
        "release": pl.String,
        "previous": pl.String,
        "process_type": pl.String,
        "longest_hours": pl.Float64,
        "needed_hours": pl.Float64,
        "reason": pl.String,
    }
    rows: list[dict[str, Any]] = []
    if stats.height >= 2:
        st = stats.with_columns(app_key_expr("app")).sort("akey", "start")
        prev = st.select(pl.all().shift(1).over("akey").name.prefix("prev_"))
        pairs = pl.concat([st, prev], how="horizontal").filter(pl.col("prev_release").is_not_null())
        for c in pairs.iter_rows(named=True):
            old = {m["process_type"] for m in (c["prev_memory"] or [])}
            short = {m["process_type"]: m for m in (c["prev_memory_unjudged"] or [])}
            for m in c["memory"] or []:
                pt = m["process_type"]
                if pt in old:
                    continue
                u = short.get(pt)
                need = h6 if u and u["inconclusive"] else h1
                longest = u["longest_hours"] if u else None
                reason = f"not comparable: {c['prev_release']} gave no lifetime longer than "
                reason += f"{need:g} h"
                if longest is not None:
                    reason += f" (longest {longest:.1f} h)"
                elif u is None:
                    reason = f"not comparable: {c['prev_release']} gave no memory samples"
                rows.append(
                    {
                        "app": c["app"],
                        "release": c["release"],
                        "previous": c["prev_release"],
                        "process_type": pt,
                        "longest_hours": longest,
                        "needed_hours": need,
                        "reason": reason,
                    }
                )
    return pl.DataFrame(rows, schema=schema)


def release_regressions(
    con: duckdb.DuckDBPyConnection,
    *,
    stats: pl.DataFrame | None = None,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
    **options: float,
) -> pl.DataFrame:
    """Metrics that got worse from one release to the next, one row per (release, metric).

    Columns: app, release, previous, metric (p50_ms, p95_ms, error_rate, h12_rate,
    memory_slope_mb_h, r14_per_hour, r15_per_hour, crashes_per_hour), route (for the
    service-time metrics: "GET /search"), previous_value, value,
    ratio (value / previous_value, null when the previous is 0), test (what the numbers were
    checked with), p_value (for the count and rate tests).
    """
    o = {**DEFAULTS, **options}
    st = stats if stats is not None else release_stats(con, lifetimes=lifetimes, growth=growth)
    schema = {
        "app": pl.String,
        "release": pl.String,
        "previous": pl.String,
        "metric": pl.String,
        "route": pl.String,
        "process_type": pl.String,
        "previous_value": pl.Float64,
        "value": pl.Float64,
        "ratio": pl.Float64,
        "test": pl.String,
        "p_value": pl.Float64,
    }
    if st.height < 2:
        return pl.DataFrame(schema=schema)
    st = st.with_columns(app_key_expr()).sort("akey", "start")
    prev = st.select(pl.all().shift(1).over("akey").name.prefix("prev_"))
    pairs = pl.concat([st, prev], how="horizontal").filter(pl.col("prev_release").is_not_null())
    rows: list[dict[str, Any]] = []
    for cur in pairs.iter_rows(named=True):  # one row per release pair (few), not per request
        rows.extend(_compare(cur, o))
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema)


def _compare(c: dict[str, Any], o: dict[str, float]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(
        metric: str,
        old: float,
        new: float,
        test: str,
        p: float | None = None,
        route: str | None = None,
        ptype: str | None = None,
    ) -> None:
        out.append(
            {
                "app": c["app"],
                "release": c["release"],
                "previous": c["prev_release"],
                "metric": metric,
                "route": route,
                "process_type": ptype,
                "previous_value": float(old),
                "value": float(new),
                "ratio": float(new) / float(old) if old else None,
                "test": test,
                "p_value": p,
            }
        )

    n_new, n_old = c["requests"] or 0, c["prev_requests"] or 0
    old_routes = {(r["method"], r["route"]): r for r in (c["prev_routes"] or [])}
    for r in c["routes"] or []:
        before = old_routes.get((r["method"], r["route"]))
        if before is None or min(r["requests"], before["requests"]) < o["min_route_requests"]:
            continue
        for m in ("p50_ms", "p95_ms"):
            new, old = r[m], before[m]
            ratio = o["latency_ratio"] if m == "p50_ms" else o["tail_ratio"]
            if (
                new is not None
                and old is not None
                and new >= ratio * old
                and new - old >= LATENCY_MIN_MS[m]
            ):
                label = f"{r['method']} {r['route']}".strip()
                add(
                    m,
                    old,
                    new,
                    f">= {ratio}x and +{LATENCY_MIN_MS[m]:.0f} ms "
                    f"({before['requests']} -> {r['requests']} requests)",
                    None,
                    label,
                )
    if n_new >= o["min_requests"] and n_old >= o["min_requests"]:
        for m, cnt in (("error_rate", "errors_5xx"), ("h12_rate", "h12")):
            z, p = _two_prop(c[cnt], n_new, c[f"prev_{cnt}"], n_old)
            new, old = c[m] or 0.0, c[f"prev_{m}"] or 0.0
            if z >= o["z_min"] and new >= o["rate_ratio"] * old and new - old >= o["min_rate_diff"]:
                add(m, old, new, f"two-proportion z = {z:.1f}", p)
    old_mem = {m["process_type"]: m for m in (c["prev_memory"] or [])}
    for m in c["memory"] or []:
        before = old_mem.get(m["process_type"])
        if before is None or before["slope_mb_h"] is None:
            continue  # nothing measured to compare with (`memory_not_comparable` says so)
        new_s, old_s = m["slope_mb_h"], before["slope_mb_h"]
        share = m["leak_lifetimes"] / m["lifetimes"] if m["lifetimes"] else 0.0
        was = (
            (before.get("leak_lifetimes") or 0) / before["lifetimes"]
            if before.get("lifetimes")
            else 0.0
        )
        if (
            new_s is not None
            and new_s >= o["min_slope"]
            and new_s - old_s >= o["min_slope"]
            and share >= o["min_leak_share"]
            and (was < o["min_leak_share"] or new_s >= 2 * old_s)
        ):
            add(
                "memory_slope_mb_h",
                old_s,
                new_s,
                f"median slope of {m['process_type']} >= {o['min_slope']} MB/h above the "
                f"previous; {m['leak_lifetimes']}/{m['lifetimes']} lifetimes leak"
                + (
                    f" (earlier releases {m['same_age_mb_h']:.1f} MB/h at the same age)"
                    if m.get("same_age_mb_h") is not None
                    else ""
                ),
                None,
                None,
                m["process_type"],
            )
    h_new, h_old = c["hours"] or 0.0, c["prev_hours"] or 0.0
    for m, cnt, least in (
        ("r14_per_hour", "r14", o["min_events"]),
        ("r15_per_hour", "r15", 1.0),
        ("crashes_per_hour", "crashes", o["min_events"]),
    ):
        k_new, k_old = c[cnt] or 0, c[f"prev_{cnt}"] or 0
        if k_new < least or h_new <= 0 or h_old <= 0:
            continue
        r_new, r_old = k_new / h_new, k_old / h_old
        if r_new <= o["rate_ratio"] * r_old:
            continue
        share = h_new / (h_new + h_old)
        p = _binom_greater(k_new, k_new + k_old, share)
        if p < 0.01:
            add(m, r_old, r_new, f"binomial p = {p:.2g} ({k_old} -> {k_new} events)", p)
    return out


def _binom_greater(k: int, n: int, p: float) -> float:
    """One-sided binomial test p-value, P(X >= k) for X ~ Bin(n, p), k >= 1: the regularized
    incomplete beta I_p(k, n - k + 1), the same value `scipy.stats.binomtest(k, n, p,
    alternative="greater")` gives."""
    return betainc(k, n - k + 1, p)


def _two_prop(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float]:
    """One-sided two-proportion z test that rate 1 > rate 0: (z, p)."""
    if n1 <= 0 or n0 <= 0:
        return 0.0, 1.0
    p = (k1 + k0) / (n1 + n0)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k0 / n0) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))


# ----- per-release metrics with the verdict (what the release comparison draws) -------------

# The metrics `release_regressions` tests, in display order; for every one of them higher is
# worse. p50_ms / p95_ms are tested per route: the release-wide value is shown, and the
# release counts as worse when any route regressed.
METRICS = (
    "memory_slope_mb_h",
    "p50_ms",
    "p95_ms",
    "error_rate",
    "h12_rate",
    "r14_per_hour",
    "r15_per_hour",
    "crashes_per_hour",
)


def release_metrics(
    con: duckdb.DuckDBPyConnection,
    *,
    stats: pl.DataFrame | None = None,
    regressions: pl.DataFrame | None = None,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per (app, release, metric of METRICS) (memory: per process type, as it is
    compared): its value, the previous release's, and this analysis' verdict
    (`release_regressions`), so a chart shows what the findings say.

    Columns: app, release, version, inferred, start, end, hours, requests, metric,
    process_type (memory_slope_mb_h only), value, previous (the release before),
    previous_value, change_pct, verdict (worse: a regression row for it; first: the first
    release of the app; else not worse), routes (for p50_ms / p95_ms: the routes that
    regressed, "GET /search"), test (what the regression passed).
    """
    st = stats if stats is not None else release_stats(con, lifetimes=lifetimes, growth=growth)
    reg = regressions if regressions is not None else release_regressions(con, stats=st)
    schema = {
        "app": pl.String,
        "release": pl.String,
        "version": pl.Int64,
        "inferred": pl.Boolean,
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "hours": pl.Float64,
        "requests": pl.Int64,
        "metric": pl.String,
        "process_type": pl.String,
        "value": pl.Float64,
        "previous": pl.String,
        "previous_value": pl.Float64,
        "change_pct": pl.Float64,
        "verdict": pl.String,
        "routes": pl.List(pl.String),
        "test": pl.String,
    }
    if st.height == 0:
        return pl.DataFrame(schema=schema)
    hours = pl.col("hours")
    wide = (
        st.with_columns(
            app_key_expr("app"),
            (pl.col("r14") / hours).alias("r14_per_hour"),
            (pl.col("r15") / hours).alias("r15_per_hour"),
            (pl.col("crashes") / hours).alias("crashes_per_hour"),
        )
        .sort("akey", "start")
        .with_columns(pl.col("release").shift(1).over("akey").alias("previous"))
    )
    index = ["akey", "app", "release", "previous", "version", "inferred", "start", "end",
             "hours", "requests"]  # fmt: skip
    others = wide.unpivot(
        on=[m for m in METRICS if m != "memory_slope_mb_h"], index=index, variable_name="metric"
    ).with_columns(pl.lit(None, pl.String).alias("process_type"))
    memory = (
        wide.select(*index, "memory")
        .explode("memory")
        .drop_nulls("memory")
        .with_columns(
            pl.lit("memory_slope_mb_h").alias("metric"),
            pl.col("memory").struct.field("process_type").alias("process_type"),
            pl.col("memory").struct.field("slope_mb_h").alias("value"),
        )
        .drop("memory")
    )
    long = pl.concat(
        [others.with_columns(pl.col("value").cast(pl.Float64)), memory], how="diagonal_relaxed"
    )
    key = ["akey", "metric", "process_type"]
    before = long.select(
        *key, pl.col("release").alias("previous"), pl.col("value").alias("previous_value")
    )
    long = long.join(before, on=[*key, "previous"], how="left", nulls_equal=True)
    verdicts = (
        reg.with_columns(app_key_expr("app"))
        .group_by("akey", "release", "metric", "process_type")
        .agg(
            pl.col("route").drop_nulls().alias("routes"),
            pl.col("test").str.join("; ").alias("test"),
        )
    )
    prev = pl.col("previous_value")
    out = long.join(
        verdicts, on=["akey", "release", *key[1:]], how="left", nulls_equal=True
    ).with_columns(
        pl.when(prev.is_not_null() & (prev != 0))
        .then((pl.col("value") - prev) / prev.abs() * 100)
        .alias("change_pct"),
        pl.when(pl.col("test").is_not_null())
        .then(pl.lit("worse"))
        .when(pl.col("previous").is_null())
        .then(pl.lit("first"))
        .otherwise(pl.lit("not worse"))
        .alias("verdict"),
        pl.col("routes").fill_null([]),
    )
    order = {m: i for i, m in enumerate(METRICS)}
    rank = pl.col("metric").replace_strict(order, return_dtype=pl.Int64)
    return (
        out.sort("akey", "start", rank, "process_type", nulls_last=False)
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
    )


def memory_by_release(growth: pl.DataFrame) -> pl.DataFrame:
    """The median memory slope per (app, release, process type) this analysis compares
    releases on (lifetimes `insufficient` or only `growing` left out).

    Columns: app, release, process_type, lifetimes, leak_lifetimes, slope_mb_h.
    """
    per = _memory_by_release(growth)
    schema = {
        "app": pl.String,
        "release": pl.String,
        "process_type": pl.String,
        "lifetimes": pl.Int64,
        "leak_lifetimes": pl.Int64,
        "slope_mb_h": pl.Float64,
    }
    if per.height == 0:
        return pl.DataFrame(schema=schema)
    apps = growth.select(app_key_expr("app"), "app").unique("akey")
    return (
        per.select("akey", "release", "memory")
        .explode("memory")
        .unnest("memory")
        .join(apps, on="akey", how="left")
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
        .sort("app", "release", "process_type", nulls_last=False)
    )
