"""The report's key tables: slowest routes, R14/R15 per dyno, crashes (with the app's last line)."""

from __future__ import annotations

import duckdb

from forensics.analyses.common import with_release
from forensics.charts.sql import run
from forensics.charts.timeline import crash_rows
from forensics.report.page import Table


def top_routes(con: duckdb.DuckDBPyConnection, *, limit: int = 15, min_requests: int = 20) -> Table:
    """Routes by p95 service time (routes with `min_requests` or more; 101 upgrades left out)."""
    df = run(
        con,
        f"""
        SELECT route, count(*) AS requests,
               quantile_cont(service_ms, 0.5) AS p50, quantile_cont(service_ms, 0.95) AS p95,
               quantile_cont(service_ms, 0.99) AS p99, max(service_ms) AS max_ms,
               count(*) FILTER (WHERE code = 'H12') AS h12,
               100.0 * count(*) FILTER (WHERE status >= 500) / count(*) AS pct_5xx
        FROM requests
        WHERE route IS NOT NULL AND service_ms IS NOT NULL AND coalesce(status, 0) <> 101
        GROUP BY route HAVING count(*) >= {int(min_requests)}
        ORDER BY p95 DESC, route LIMIT {int(limit)}
        """,
    )
    return Table(
        key="table-routes",
        title="Slowest routes by p95 service time",
        columns=["route", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "H12", "5xx %"],
        rows=[list(r) for r in df.iter_rows()],
        note=f"Routes with at least {min_requests} requests; top {limit}.",
        numeric={1, 2, 3, 4, 5, 6, 7},
    )


def memory_errors(con: duckdb.DuckDBPyConnection) -> Table:
    """R14 (memory quota exceeded) and R15 (quota vastly exceeded, killed) per dyno."""
    df = run(
        con,
        """
        WITH e AS (
            SELECT dyno, count(*) FILTER (WHERE code = 'R14') AS r14,
                   count(*) FILTER (WHERE code = 'R15') AS r15, min(ts) AS first,
                   max(ts) AS last
            FROM events WHERE kind = 'error' AND code IN ('R14', 'R15') GROUP BY dyno
        ), m AS (
            SELECT dyno, max(memory_total_mb) AS peak, max(memory_quota_mb) AS quota
            FROM dyno_metrics GROUP BY dyno
        )
        SELECT e.dyno, e.r14, e.r15, e.first, e.last, m.peak, m.quota
        FROM e LEFT JOIN m USING (dyno)
        ORDER BY e.r15 DESC, e.r14 DESC, e.dyno
        """,
    )
    return Table(
        key="table-r14",
        title="R14 / R15 memory errors per dyno",
        columns=["dyno", "R14", "R15", "first", "last", "peak MB", "quota MB"],
        rows=[list(r) for r in df.iter_rows()],
        note="" if df.height else "No R14 or R15 in the selected data.",
        numeric={1, 2, 5, 6},
    )


def crashes(con: duckdb.DuckDBPyConnection, *, limit: int = 50) -> Table:
    """Crashes (`State changed ... to crashed`) with exit status, release and last app line."""
    df = crash_rows(con)
    df = with_release(con, df, "ts")
    more = df.height - limit
    rows = [
        [r["ts"], r["dyno"], r["release"], r["from_state"], r["exit_status"],
         r["last_app_line"], f"{r['source_file']}:{r['line_no']}"]
        for r in df.head(limit).iter_rows(named=True)
    ]  # fmt: skip
    return Table(
        key="table-crashes",
        title="Crashes",
        columns=["time", "dyno", "release", "from state", "exit", "last app line", "source"],
        rows=rows,
        note=(f"First {limit} of {df.height}." if more > 0 else "")
        or ("" if rows else "No crashes in the selected data."),
        numeric={4},
    )
