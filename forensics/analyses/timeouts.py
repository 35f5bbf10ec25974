"""Router timeouts and slow requests: where H12s (and H13, H18, H27) cluster, how slow each route
is, which requests come close to the 30 s router limit, and what was going on around each timeout.

The router logs one line per request when it ends (or gives up): `ts` is the *end* of the
request and `service_ms` how long the dyno had it, so a request is in flight on its dyno from
`ts - service_ms` to `ts`. Routes are the normalized templates of the `requests` view
(`/users/:id`).

Tables (one function each, over a connection from `forensics.store.views.open_dataset`):

- `error_counts`       router errors by code x route x time bucket x dyno, with the share of the
                       route's requests on that dyno in that bucket;
- `service_percentiles` p50/p95/p99/max service time per route;
- `near_limit_requests` requests that took `threshold_ms` (20 s) or more yet got no router error;
- `offload_candidates` the same, per route: candidates for a background job;
- `timeout_details`    every H12 (or other code) with the app lines carrying its request id and
                       how many requests were in flight on its dyno at that moment;
- `hotspots`           clusters of timeouts on one route (gap-based), with dynos and shares.

`forensics.findings.timeouts` turns hotspots into `timeout_hotspot` and offload candidates into
`offload_candidate` findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import polars as pl

from forensics.analyses.series import bucket_sql, bucket_width, nice_bucket, span_seconds, where
from forensics.analyses.sql import query, sql_list
from forensics.heroku import process_type_sql

DEFAULT_CODES: tuple[str, ...] = ("H12",)

# ----- tables --------------------------------------------------------------------------------


def error_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = DEFAULT_CODES,
    bucket_seconds: int = 300,
) -> pl.DataFrame:
    """Router errors by code x route x time bucket x dyno.

    Answers: when, where and on which dyno did the timeouts happen? Buckets are `bucket_seconds`
    wide and aligned to the Unix epoch (bucket of a request = bucket of its router line `ts`).
    Only buckets with at least one error appear.

    Columns: app, code, route, dyno, bucket_start, bucket_end (UTC), count (errors of that
    code), route_requests (all router lines of that route on that dyno in that bucket, errors
    included), share (count / route_requests).
    """
    w = bucket_width(bucket_seconds)
    return query(
        con,
        f"""
        WITH g AS (
            SELECT app, route, dyno, code,
                   {bucket_sql(w)} AS bucket_start,
                   count(*) AS n
            FROM requests
            GROUP BY ALL
        ), t AS (
            SELECT *, sum(n) OVER (PARTITION BY app, route, dyno, bucket_start) AS route_requests
            FROM g
        )
        SELECT app, code, route, dyno, bucket_start,
               bucket_start + INTERVAL {w} SECOND AS bucket_end,
               n AS count, CAST(route_requests AS BIGINT) AS route_requests,
               n / route_requests AS share
        FROM t WHERE code IN {sql_list(codes)}
        ORDER BY bucket_start, app NULLS FIRST, route, dyno, code
        """,
    )


def service_percentiles(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Service time percentiles per route.

    Answers: which routes are slow, typically and in the tail? Percentiles are linear
    interpolations (`quantile_cont`) over router lines with a service time; WebSocket upgrades
    (status 101, whose "service" is the connection lifetime) are left out.

    Columns: app, route, requests, p50_ms, p95_ms, p99_ms, max_ms, timeouts (H12 lines),
    over_20s (lines with service_ms >= 20000).
    """
    return query(
        con,
        """
        SELECT app, route, count(*) AS requests,
               quantile_cont(service_ms, 0.5) AS p50_ms,
               quantile_cont(service_ms, 0.95) AS p95_ms,
               quantile_cont(service_ms, 0.99) AS p99_ms,
               max(service_ms) AS max_ms,
               count(*) FILTER (WHERE code = 'H12') AS timeouts,
               count(*) FILTER (WHERE service_ms >= 20000) AS over_20s
        FROM requests
        WHERE service_ms IS NOT NULL AND coalesce(status, 0) <> 101
        GROUP BY ALL
        ORDER BY p95_ms DESC, app NULLS FIRST, route
        """,
    )


def _near_where(threshold_ms: int) -> str:
    return (
        f"service_ms >= {int(threshold_ms)} AND code IS NULL AND coalesce(status, 0) <> 101 "
        "AND coalesce(\"at\", 'info') = 'info'"
    )


def near_limit_requests(
    con: duckdb.DuckDBPyConnection, *, threshold_ms: int = 20_000
) -> pl.DataFrame:
    """Requests that took `threshold_ms` or more but got no router error (not an H12).

    Answers: which requests came close to (or, streaming, past) the 30 s router limit? These are
    the ones to move to a background worker before they start timing out. WebSocket upgrades
    (status 101) are left out.

    Columns: ts (end of request), start (ts - service_ms), app, dyno, method, route, path,
    request_id, service_ms, status, source_file, line_no.
    """
    return query(
        con,
        f"""
        SELECT ts, ts - to_milliseconds(service_ms) AS start, app, dyno, method, route, path,
               request_id, service_ms, status, source_file, line_no
        FROM requests WHERE {_near_where(threshold_ms)}
        ORDER BY ts, line_no
        """,
    )


def offload_candidates(
    con: duckdb.DuckDBPyConnection, *, threshold_ms: int = 20_000
) -> pl.DataFrame:
    """Routes with requests that took `threshold_ms` or more without a router error.

    Answers: which routes should do their work in a background job? Per route: how many such
    requests, out of how many, how slow, and whether the route also has timeouts (H12).

    Columns: app, route, methods (list), near_limit, requests (all router lines of the route),
    share (near_limit / requests), timeouts (H12 on the route), p50_ms and max_ms (of the
    near-limit requests), first, last (their router line times).
    """
    return query(
        con,
        f"""
        WITH n AS (
            SELECT app, route, list(DISTINCT method ORDER BY method) AS methods,
                   count(*) AS near_limit,
                   quantile_cont(service_ms, 0.5) AS p50_ms, max(service_ms) AS max_ms,
                   min(ts) AS first, max(ts) AS last
            FROM requests WHERE {_near_where(threshold_ms)}
            GROUP BY ALL
        ), t AS (
            SELECT app, route, count(*) AS requests,
                   count(*) FILTER (WHERE code = 'H12') AS timeouts
            FROM requests WHERE route IN (SELECT route FROM n)
            GROUP BY ALL
        )
        SELECT n.app, n.route, n.methods, n.near_limit, t.requests,
               n.near_limit / t.requests AS share, t.timeouts, n.p50_ms, n.max_ms,
               n.first, n.last
        FROM n JOIN t ON n.app IS NOT DISTINCT FROM t.app AND n.route IS NOT DISTINCT FROM t.route
        ORDER BY n.near_limit DESC, n.app NULLS FIRST, n.route
        """,
    )


def timeout_details(
    con: duckdb.DuckDBPyConnection, *, codes: Sequence[str] = DEFAULT_CODES
) -> pl.DataFrame:
    """Every router error of `codes` (default H12) with its context.

    Answers: what was the app doing for this request, and how busy was the dyno? `app_lines` are
    the app's own lines carrying the request id (`app_logs.request_id`), in time order.
    `in_flight` counts the requests on the same dyno in flight at the error's `ts` (a request is
    in flight from `ts - service_ms` to its `ts`, both ends included), the timed-out request
    itself included; requests without a service time and WebSocket upgrades (status 101) are
    not counted.

    Columns: ts, start, app, dyno, process_type, code, method, route, path, request_id,
    service_ms, in_flight, app_line_count, app_lines (list of str), app_line_nos (list of int),
    source_file, line_no.
    """
    code_sql = sql_list(codes)
    # The app lines of these requests, found first without reading `message` (cheap), so the
    # main query can read messages only in their time range (Parquet row groups are skipped).
    lo, hi = query(
        con,
        f"""
        SELECT min(ts) AS lo, max(ts) AS hi FROM app_logs
        WHERE request_id IN (SELECT request_id FROM requests WHERE code IN {code_sql})
        """,
    ).row(0)
    lines_in = (
        f"ts BETWEEN TIMESTAMPTZ '{lo.isoformat()}' AND TIMESTAMPTZ '{hi.isoformat()}'"
        if lo is not None
        else "false"
    )
    return query(
        con,
        f"""
        WITH e AS MATERIALIZED (
            SELECT row_number() OVER (ORDER BY ts, source_file, line_no) AS eid, ts, app, dyno,
                   code, method, route, path, request_id, service_ms, source_file, line_no
            FROM requests WHERE code IN {code_sql}
        ), r AS (
            SELECT app, dyno, ts AS t_end, ts - to_milliseconds(service_ms) AS t_start
            FROM requests
            WHERE service_ms IS NOT NULL AND coalesce(status, 0) <> 101
              AND dyno IN (SELECT dyno FROM e)
              AND ts >= (SELECT min(ts) FROM e)
              AND ts - to_milliseconds(service_ms) <= (SELECT max(ts) FROM e)
        ), f AS (
            SELECT e.eid, count(r.t_end) AS in_flight
            FROM e LEFT JOIN r
              ON r.dyno = e.dyno AND r.app IS NOT DISTINCT FROM e.app
             AND r.t_start <= e.ts AND r.t_end >= e.ts
            GROUP BY e.eid
        ), a AS (
            SELECT request_id, count(*) AS app_line_count,
                   list(message ORDER BY ts, line_no) AS app_lines,
                   list(line_no ORDER BY ts, line_no) AS app_line_nos
            FROM app_logs
            WHERE {lines_in}
              AND request_id IN (SELECT request_id FROM e WHERE request_id IS NOT NULL)
            GROUP BY request_id
        )
        SELECT e.ts,
               CASE WHEN e.service_ms IS NOT NULL
                    THEN e.ts - to_milliseconds(e.service_ms) END AS start,
               e.app, e.dyno, {process_type_sql("e.dyno")} AS process_type, e.code, e.method,
               e.route, e.path, e.request_id, e.service_ms, f.in_flight,
               coalesce(a.app_line_count, 0) AS app_line_count,
               coalesce(a.app_lines, []) AS app_lines,
               coalesce(a.app_line_nos, []) AS app_line_nos,
               e.source_file, e.line_no
        FROM e JOIN f USING (eid) LEFT JOIN a ON a.request_id = e.request_id
        ORDER BY e.eid
        """,
    )


def hotspots(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = DEFAULT_CODES,
    gap_seconds: int = 300,
    min_count: int = 3,
) -> pl.DataFrame:
    """Clusters of router errors on one route.

    Answers: on which route, in which time window and on which dynos did timeouts pile up? Per
    app and route, errors (of `codes`) closer than `gap_seconds` to the previous one belong to the
    same cluster; clusters with at least `min_count` errors are kept. The window runs from the
    first to the last error line of the cluster.

    Columns: app, route, start, end, count, codes (list), dynos (list, most errors first),
    dyno_counts (list of counts, same order), window_requests (router lines of the route in the
    window, errors included), share (count / window_requests), route_requests (whole log),
    route_errors (errors of `codes` on the route, whole log), methods (list).
    """
    gap = int(gap_seconds)
    return query(
        con,
        f"""
        WITH e AS MATERIALIZED (
            SELECT app, route, dyno, code, method, ts FROM requests
            WHERE code IN {sql_list(codes)}
        ), s AS (
            SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                            OR ts - lag(ts) OVER w > INTERVAL {gap} SECOND THEN 1 ELSE 0 END AS new
            FROM e WINDOW w AS (PARTITION BY app, route ORDER BY ts)
        ), c AS (
            SELECT *, sum(new) OVER (PARTITION BY app, route ORDER BY ts
                                     ROWS UNBOUNDED PRECEDING) AS cid
            FROM s
        ), k AS (
            SELECT app, route, cid, min(ts) AS start, max(ts) AS "end", count(*) AS count,
                   list(DISTINCT code ORDER BY code) AS codes,
                   list(DISTINCT method ORDER BY method) AS methods
            FROM c GROUP BY ALL HAVING count(*) >= {int(min_count)}
        ), d AS (
            SELECT app, route, cid, dyno, count(*) AS n FROM c GROUP BY ALL
        ), dl AS (
            SELECT app, route, cid,
                   list(dyno ORDER BY n DESC, dyno) AS dynos,
                   list(n ORDER BY n DESC, dyno) AS dyno_counts
            FROM d GROUP BY ALL
        ), w AS (
            SELECT k.app, k.route, k.cid, count(r.ts) AS window_requests
            FROM k LEFT JOIN requests r
              ON r.route = k.route AND r.app IS NOT DISTINCT FROM k.app
             AND r.ts >= k.start AND r.ts <= k."end"
            GROUP BY ALL
        ), t AS (
            SELECT app, route, count(*) AS route_requests,
                   count(*) FILTER (WHERE code IN {sql_list(codes)}) AS route_errors
            FROM requests WHERE route IN (SELECT route FROM k)
            GROUP BY ALL
        )
        SELECT k.app, k.route, k.start, k."end", k.count, k.codes, dl.dynos, dl.dyno_counts,
               w.window_requests, k.count / w.window_requests AS share,
               t.route_requests, t.route_errors, k.methods
        FROM k
        JOIN dl ON dl.app IS NOT DISTINCT FROM k.app AND dl.route = k.route AND dl.cid = k.cid
        JOIN w ON w.app IS NOT DISTINCT FROM k.app AND w.route = k.route AND w.cid = k.cid
        JOIN t ON t.app IS NOT DISTINCT FROM k.app AND t.route = k.route
        ORDER BY k.count DESC, k.start
        """,
    )


# ----- drawable series (the timeout hotspot chart) -------------------------------------------


def error_heatmap(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = DEFAULT_CODES,
    dyno: str | None = None,
    route: str | Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_buckets: int = 150,
    max_routes: int = 20,
) -> pl.DataFrame:
    """Router errors of `codes` per route and time bucket (all dynos), for the `max_routes`
    routes with the most: `error_counts` summed over dynos, with bounded rows.

    Buckets are epoch-aligned, `bucket_seconds` wide (default: sized so the span from the first
    to the last such error fits in `max_buckets`); only buckets with an error appear.
    Columns: route, bucket (start), bucket_end, errors, requests (all router lines of the
    route in the bucket), share (errors / requests), route_errors (route total), bucket_seconds.
    """
    cond, params = where(dyno=dyno, route=route, since=since, until=until, route_col="route")
    codes_sql = sql_list(codes)
    if bucket_seconds is None:
        span = span_seconds(con, "requests", f"{cond} AND code IN {codes_sql}", params)
        bucket_seconds = nice_bucket(span, max_buckets)
    w = bucket_width(bucket_seconds)
    return query(
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


def route_percentiles(
    con: duckdb.DuckDBPyConnection,
    *,
    route: str | Sequence[str] | None = None,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_requests: int = 1,
    limit: int | None = None,
) -> pl.DataFrame:
    """`service_percentiles` (the same definition: 101 upgrades left out) over routes of all
    apps, for `route` (one or a list; default every route with `min_requests` or more), within
    the filters, the
    slowest p95 first, at most `limit`.

    Columns: route, requests, p50_ms, p95_ms, p99_ms, max_ms, timeouts (H12 lines), over_20s,
    errors_5xx.
    """
    cond, params = where(dyno=dyno, route=route, since=since, until=until, route_col="route")
    lim = f"LIMIT {int(limit)}" if limit is not None else ""
    return query(
        con,
        f"""
        SELECT route, count(*) AS requests,
               quantile_cont(service_ms, 0.5) AS p50_ms,
               quantile_cont(service_ms, 0.95) AS p95_ms,
               quantile_cont(service_ms, 0.99) AS p99_ms,
               max(service_ms) AS max_ms,
               count(*) FILTER (WHERE code = 'H12') AS timeouts,
               count(*) FILTER (WHERE service_ms >= 20000) AS over_20s,
               count(*) FILTER (WHERE status >= 500) AS errors_5xx
        FROM requests
        WHERE {cond} AND route IS NOT NULL AND service_ms IS NOT NULL
          AND coalesce(status, 0) <> 101
        GROUP BY route HAVING count(*) >= {int(min_requests)}
        ORDER BY p95_ms DESC, route {lim}
        """,
        params,
    )


def slowest_routes(
    con: duckdb.DuckDBPyConnection, *, limit: int = 15, min_requests: int = 20
) -> pl.DataFrame:
    """The `limit` routes with the highest p95 among those with `min_requests` or more (fewer
    make a p95 that is one request): `route_percentiles` cut for a summary table."""
    return route_percentiles(con, min_requests=min_requests, limit=limit)
