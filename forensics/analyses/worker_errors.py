"""Errors a background process logged while it kept running: bursts of one exception in the
output of a non-web formation dyno (worker, sidekiq, celery, clock...), against its rate in the
hour before.

A worker that fails every job does not crash: Sidekiq, Celery, RQ, Resque and good_job catch
the exception, log it and move to the next job, so the only trace is in its output, e.g.

    2024-05-20T10:02:11.000000+00:00 app[worker.1]: 2024-05-20T10:02:11.003Z pid=4 tid=gq8
    WARN: Redis::CommandError: OOM command not allowed when used memory > 'maxmemory'.
    2024-05-20T10:02:12.000000+00:00 app[worker.1]: [2024-05-20 10:02:12,118: ERROR/
    ForkPoolWorker-2] Task billing.tasks.charge[9c1e...] raised unexpected: StripeError(...)

Lines are keyed by the exception class they name (`request_errors.EXCEPTION_RE`, or FATAL);
the lines of one stack trace (a `Caused by:`, a re-raise) count once per dyno and second, and
errors within `EXIT_SECONDS` before that dyno exited (or crashed) are its crash reason, not
counted here. A
burst is a run of one exception on one process type with gaps under `gap_minutes`; it counts
when it holds at least `min_count` such errors at `min_ratio` times or more the rate of the
same exception on that process type in the `before_minutes` before it (so an error the worker
logs all day long at the same pace is its normal, not an incident). One-off dynos (run,
scheduler, release) are `job_runs`', web's errors are `request_errors'`, and the add-ons'
server logs (`app[postgres.4242]`) are not the app's processes.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.lifetimes import DYNO_RE
from forensics.analyses.request_errors import EXCEPTION_RE, FATAL_RE
from forensics.analyses.sql import names_sql, query
from forensics.heroku import ADDON_LOG_TYPES, ONE_OFF_TYPES, process_type_sql

GAP_MINUTES = 10.0
MIN_COUNT = 10
MIN_RATIO = 5.0
BEFORE_MINUTES = 60.0
# Errors this close before an exit of the same dyno are why it exited (`crash_reasons`), not
# errors it lived with.
EXIT_SECONDS = 120

_SOURCES = pl.List(pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64}))
SCHEMA: dict[str, pl.DataType] = {
    "app": pl.String,
    "process_type": pl.String,
    "exception": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "count": pl.Int64,
    "dynos": pl.List(pl.String),
    "before_count": pl.Int64,
    "before_minutes": pl.Float64,
    "started_at_log_start": pl.Boolean,
    "ongoing": pl.Boolean,
    "example": pl.String,
    "examples": pl.List(pl.String),
    "sources": _SOURCES,
}


def worker_errors(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_minutes: float = GAP_MINUTES,
    min_count: int = MIN_COUNT,
    min_ratio: float = MIN_RATIO,
    before_minutes: float = BEFORE_MINUTES,
) -> pl.DataFrame:
    """One row per burst of one exception in a background process type's output (see the
    module doc).

    Answers: which worker kept failing, with what error, from when to when, how often, and
    was that new?

    Columns: app, process_type, exception, start, end, minutes, count (errors, one per dyno
    and second), dynos, before_count (the same exception on that process type in the
    `before_minutes` before start), before_minutes (as much of that hour as the log covers),
    started_at_log_start (no hour before to compare: its app's log opens on it), ongoing (its
    last error is within `gap_minutes` of its app's last line), example (its first line as
    logged), examples (up to 3 distinct lines), sources ({file, first_line, last_line} per
    file).
    """
    ptype = process_type_sql("dyno")
    exc = (
        f"coalesce(nullif(regexp_extract(message, '{EXCEPTION_RE}', 1), ''), "
        f"nullif(regexp_extract(message, '{EXCEPTION_RE}', 2), ''), 'FATAL')"
    )
    gap, before = int(gap_minutes * 60), int(before_minutes * 60)
    exit_s = int(EXIT_SECONDS)
    got = query(
        con,
        f"""
        WITH bounds AS (SELECT coalesce(app, '') AS bapp, min(ts) AS t0, max(ts) AS t1
                        FROM app_logs GROUP BY 1),
        exits AS (
            SELECT DISTINCT app, dyno, ts FROM events
            WHERE dyno IS NOT NULL AND (kind = 'exit' OR (kind = 'state_change'
                                                          AND to_state = 'crashed'))
        ),
        e AS (
            SELECT coalesce(app, '') AS app, {ptype} AS process_type, dyno, ts, source_file,
                   line_no, message,
                   {exc} AS exception
            FROM app_logs
            WHERE dyno IS NOT NULL AND regexp_full_match(dyno, '{DYNO_RE}')
              AND {ptype} NOT IN {names_sql(("web", *ONE_OFF_TYPES, *ADDON_LOG_TYPES))}
              AND regexp_matches(message, '{EXCEPTION_RE}|{FATAL_RE}')
              AND NOT EXISTS (
                  SELECT 1 FROM exits x WHERE x.dyno = app_logs.dyno
                   AND x.app IS NOT DISTINCT FROM app_logs.app
                   AND x.ts >= app_logs.ts AND x.ts <= app_logs.ts + INTERVAL {exit_s} SECOND)
        ),
        -- one error per dyno, second and exception: a stack trace names its class many times
        one AS (
            SELECT app, process_type, exception, dyno, date_trunc('second', ts) AS sec,
                   min(ts) AS ts, min(message) AS message
            FROM e GROUP BY ALL
        ),
        runs AS (
            SELECT *, sum(brk) OVER (PARTITION BY app, process_type, exception ORDER BY ts
                                     ROWS UNBOUNDED PRECEDING) AS burst
            FROM (SELECT *, CASE WHEN ts - lag(ts) OVER w > INTERVAL {gap} SECOND
                                 THEN 1 ELSE 0 END AS brk
                  FROM one WINDOW w AS (PARTITION BY app, process_type, exception ORDER BY ts))
        ),
        b AS (
            SELECT app, process_type, exception, burst, min(ts) AS start, max(ts) AS "end",
                   count(*) AS count, list(DISTINCT dyno ORDER BY dyno) AS dynos,
                   arg_min(message, ts) AS example,
                   list(DISTINCT message)[1:3] AS examples
            FROM runs GROUP BY ALL HAVING count(*) >= {int(min_count)}
        ),
        prior AS (
            SELECT b.app, b.process_type, b.exception, b.burst, count(o.ts) AS before_count
            FROM b LEFT JOIN one o
              ON o.app = b.app AND o.process_type = b.process_type
             AND o.exception = b.exception
             AND o.ts >= b.start - INTERVAL {before} SECOND AND o.ts < b.start
            GROUP BY ALL
        ),
        src AS (
            SELECT app, process_type, exception, burst,
                   list({{'file': source_file, 'first_line': fl, 'last_line': ll}}
                        ORDER BY source_file) AS sources
            FROM (SELECT r.app, r.process_type, r.exception, r.burst, e.source_file,
                         min(e.line_no) AS fl, max(e.line_no) AS ll
                  FROM e JOIN b r ON e.app = r.app
                   AND e.process_type = r.process_type AND e.exception = r.exception
                   AND e.ts BETWEEN r.start AND r."end"
                  GROUP BY ALL)
            GROUP BY ALL
        )
        SELECT b.* REPLACE (nullif(b.app, '') AS app), p.before_count, s.sources,
               epoch(b.start - greatest(x.t0, b.start - INTERVAL {before} SECOND)) / 60
                   AS before_minutes,
               b.start - x.t0 < INTERVAL {gap} SECOND AS started_at_log_start,
               x.t1 - b."end" < INTERVAL {gap} SECOND AS ongoing
        FROM b JOIN bounds x ON x.bapp = b.app
        JOIN prior p USING (app, process_type, exception, burst)
        JOIN src s USING (app, process_type, exception, burst)
        ORDER BY b.start
        """,
    )
    if got.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    minutes = (pl.col("end") - pl.col("start")).dt.total_seconds() / 60
    got = got.with_columns(minutes.alias("minutes"))
    # the burst's rate against the hour before's (per minute; a burst shorter than a minute
    # counts as one minute, an hour before with no error as one error less than one)
    rate = pl.col("count") / pl.max_horizontal(pl.col("minutes"), pl.lit(1.0))
    prior = pl.col("before_count") / pl.max_horizontal(pl.col("before_minutes"), pl.lit(1.0))
    new = pl.col("started_at_log_start") | (pl.col("before_count") == 0)
    got = got.filter(new | (rate >= min_ratio * prior))
    return got.select(*(pl.col(c).cast(t) for c, t in SCHEMA.items()))
