"""Worker timeouts: the app server killing one of its own workers for taking too long, the
app's side of a route that runs into the router's 30 s limit (H12).

What the servers print (`app[web.N]` lines):

    [2026-06-10 14:00:31 +0000] [4] [CRITICAL] WORKER TIMEOUT (pid:17)        gunicorn
    worker=2 PID:19 timeout (31s > 30s), killing                             unicorn
    ! Terminating timed out worker (worker failed to check in within 60 seconds): 23   puma
    Rack::Timeout::RequestTimeoutException (Request ran for longer than 15000ms)   rack-timeout
    [error] ... Ranch listener ... had its request process exit with reason timeout  (not
    counted: too varied)

Puma and gunicorn kill a worker (and every request it was serving) when it stops answering
their heartbeat; unicorn when a request runs past its `timeout`; rack-timeout raises inside
the request. Each is a request the router is still waiting for: an H12 comes next, or the
next request on that dyno queues behind it.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.sql import query

# (server, regex on the message); first match wins.
SERVERS: tuple[tuple[str, str], ...] = (
    ("gunicorn", r"\[CRITICAL\] WORKER TIMEOUT"),
    ("unicorn", r"worker=\d+ PID:\d+ timeout \(\d+s > \d+s\), killing"),
    ("puma", r"Terminating timed out worker"),
    ("rack-timeout", r"Rack::Timeout::Request(?:Timeout|Expiry)(?:Exception|Error)"),
)

_SCHEMA = {
    "app": pl.String,
    "dyno": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "server": pl.String,
    "source_file": pl.String,
    "line_no": pl.Int64,
    "line_count": pl.Int64,
}


def worker_timeouts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per app-server worker timeout (see the module doc), in time order.

    Answers: which dynos killed workers (or requests) for running too long, and when?

    Columns: app, dyno, ts, server (gunicorn, unicorn, puma, rack-timeout), source_file,
    line_no, line_count.
    """
    server = " ".join(f"WHEN regexp_matches(message, '{rx}') THEN '{name}'" for name, rx in SERVERS)
    df = query(
        con,
        f"""
        SELECT app, dyno, ts, CASE {server} END AS server, source_file, line_no,
               line_count
        FROM app_logs
        WHERE dyno IS NOT NULL
          AND (message LIKE '%imeout%' OR message LIKE '%TIMEOUT%'
               OR message LIKE '%timed out worker%')
        """,
    ).filter(pl.col("server").is_not_null())
    if df.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    return df.cast(_SCHEMA).sort("ts", "dyno")  # type: ignore[arg-type]
